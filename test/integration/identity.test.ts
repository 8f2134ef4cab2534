/**
 * Identity end to end against a real OpenID Provider (oidc-provider, through src/demo/issuer.ts):
 * tokens obtained by real grants over HTTP (device authorization for people, client credentials
 * for agents) and verified by the gateway's TokenVerifier via discovery and JWKS.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { deviceLogin, endpointsOf, tokenRequest } from '../../src/demo/issuer-browser.js'
import { resourceIndicatorFor, startIssuer } from '../../src/demo/issuer.js'
import { AgwError } from '../../src/errors.js'
import { TokenVerifier } from '../../src/identity/verifier.js'
import { AGENT_CLIENT, DEVICE_CLIENT_ID, connectTestIssuer, startTestIssuer } from '../support/oidc.js'
import type { TestIssuer } from '../support/oidc.js'

let idp: TestIssuer
let stranger: TestIssuer // a second issuer instance with the same users, not trusted by the gateway
let verifier: TokenVerifier

beforeAll(async () => {
  ;[idp, stranger] = await Promise.all([startTestIssuer(), startTestIssuer()])
  verifier = new TokenVerifier([idp.issuerConfig()])
})
afterAll(async () => {
  await Promise.all([idp?.close(), stranger?.close()])
})

async function refusal(token: string, v: TokenVerifier = verifier): Promise<AgwError> {
  const err = await v.verify(token).then(() => undefined, (e: unknown) => e)
  expect(err).toBeInstanceOf(AgwError)
  return err as AgwError
}

describe('tokens from the embedded issuer', () => {
  it('alice (device flow) verifies as a human with her groups and email', async () => {
    const principal = await verifier.verify(await idp.userToken('alice'))
    expect(principal).toMatchObject({
      kind: 'human',
      subject: 'alice',
      email: 'alice@example.com',
      name: 'Alice',
      groups: ['sre', 'agents'],
      issuer: idp.issuer,
      clientId: DEVICE_CLIENT_ID,
    })
    expect(principal.expiresAt).toBeGreaterThan(Date.now() / 1000)
  })

  it('bob and mallory get their own groups (mallory: none)', async () => {
    expect((await verifier.verify(await idp.userToken('bob'))).groups).toEqual(['sre'])
    expect((await verifier.verify(await idp.userToken('mallory'))).groups).toEqual([])
  })

  it('ci-agent (client credentials) verifies as an agent', async () => {
    const principal = await verifier.verify(await idp.agentToken())
    expect(principal).toMatchObject({ kind: 'agent', subject: AGENT_CLIENT.id, clientId: AGENT_CLIENT.id, groups: ['agents'], issuer: idp.issuer })
    expect(principal.email).toBeUndefined()
  })

  it('are RFC 9068 access tokens: a verifier that requires typ at+jwt accepts them', async () => {
    const strict = new TokenVerifier([idp.issuerConfig({ requireTyp: 'at+jwt', algorithms: ['RS256'] })])
    await expect(strict.verify(await idp.agentToken())).resolves.toMatchObject({ kind: 'agent' })
  })

  it('are the same when fetched over HTTP only (connectTestIssuer, for a globalSetup-started issuer)', async () => {
    const remote = connectTestIssuer(idp.issuer)
    expect(await verifier.verify(await remote.userToken('bob'))).toMatchObject({ kind: 'human', subject: 'bob', groups: ['sre'] })
    expect(await verifier.verify(await remote.agentToken())).toMatchObject({ kind: 'agent', subject: AGENT_CLIENT.id })
  })

  it('a refresh token from the device login yields a new access token for the same person', async () => {
    const set = await idp.userTokenSet('bob')
    expect(set.refreshToken).toBeTypeOf('string')
    const { token_endpoint: tokenEndpoint } = await endpointsOf(idp.issuer)
    const refreshed = await tokenRequest(tokenEndpoint, { grant_type: 'refresh_token', refresh_token: set.refreshToken ?? '', client_id: DEVICE_CLIENT_ID })
    expect(await verifier.verify(refreshed.accessToken)).toMatchObject({ kind: 'human', subject: 'bob', groups: ['sre'] })
  })

  it('a revoked refresh token can no longer be used', async () => {
    const set = await idp.userTokenSet('alice')
    const config = (await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json()) as Record<string, string>
    const revoke = await fetch(config['revocation_endpoint'] ?? '', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: set.refreshToken ?? '', client_id: DEVICE_CLIENT_ID }),
    })
    expect(revoke.status).toBe(200)
    const err = await tokenRequest(config['token_endpoint'] ?? '', { grant_type: 'refresh_token', refresh_token: set.refreshToken ?? '', client_id: DEVICE_CLIENT_ID }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(AgwError)
    expect((err as AgwError).message).toMatch(/invalid_grant/)
  })
})

describe('tokens the gateway refuses', () => {
  it('a token for another audience (person and agent)', async () => {
    for (const token of [await idp.userToken('alice', { audience: 'billing-api' }), await idp.agentToken({ audience: 'https://billing.example' })]) {
      const err = await refusal(token)
      expect(err.code).toBe('unauthenticated')
      expect(err.message).toMatch(/audience .* is not accepted: this gateway expects "agw"/)
    }
  })

  it('a token from a second, untrusted issuer instance', async () => {
    const err = await refusal(await stranger.userToken('alice'))
    expect(err.code).toBe('unauthenticated')
    expect(err.message).toContain(`issuer ${stranger.issuer} is not trusted by this gateway`)
  })

  it('the ID token of the same login', async () => {
    const { idToken } = await idp.userTokenSet('alice')
    expect(idToken).toBeTypeOf('string')
    const err = await refusal(idToken ?? '')
    expect(err.code).toBe('unauthenticated')
    expect(err.message).toMatch(/audience "agw-cli" is not accepted.*ID token/)
  })

  it('an expired token (ttl 1 s, no clock tolerance)', async () => {
    const strict = new TokenVerifier([idp.issuerConfig()], { clockToleranceSec: 0 })
    const token = await idp.userToken('alice', { ttlSec: 1 })
    // Sound apart from its age: the default 60 s skew still accepts it.
    await expect(verifier.verify(token)).resolves.toMatchObject({ subject: 'alice' })
    await expect
      .poll(async () => (await strict.verify(token).then(() => 'valid', (e: unknown) => (e instanceof AgwError ? e.code : String(e)))), {
        timeout: 5_000,
        interval: 250,
      })
      .toBe('unauthenticated')
    expect((await refusal(token, strict)).message).toMatch(/^token expired at .*Z; run `agw login` or obtain a new AGW_TOKEN$/)
  })

  it('a sign-in with the wrong password never produces a token', async () => {
    const attempt = deviceLogin({
      issuer: idp.issuer,
      clientId: DEVICE_CLIENT_ID,
      scope: 'openid',
      resource: resourceIndicatorFor('agw'),
      userId: 'alice',
      password: 'not-her-password',
    })
    await expect(attempt).rejects.toMatchObject({ code: 'unauthenticated', message: expect.stringMatching(/did not complete \(HTTP 401\)/) })
  })

  it('a client-credentials request with a wrong secret', async () => {
    await expect(idp.running.clientCredentialsToken(AGENT_CLIENT.id, 'wrong')).rejects.toMatchObject({ code: 'unauthenticated', message: expect.stringMatching(/invalid_client/) })
  })
})

describe('the embedded issuer itself', () => {
  it('listens on loopback only and refuses a device client with a secret', async () => {
    const base = { audience: 'agw', users: [], clients: [] }
    await expect(startIssuer({ ...base, host: '0.0.0.0' })).rejects.toMatchObject({ code: 'bad_input', message: expect.stringMatching(/loopback only/) })
    await expect(
      startIssuer({ ...base, clients: [{ clientId: 'cli', clientSecret: 'x', grants: ['device_code'] }] }),
    ).rejects.toMatchObject({ code: 'bad_input', message: expect.stringMatching(/must be public/) })
  })

  it('advertises the device, token and revocation endpoints and RS256 keys', async () => {
    const config = (await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>
    expect(config).toMatchObject({
      issuer: idp.issuer,
      device_authorization_endpoint: `${idp.issuer}/device/auth`,
      token_endpoint: `${idp.issuer}/token`,
      revocation_endpoint: `${idp.issuer}/token/revocation`,
    })
    expect(config['grant_types_supported']).toEqual(expect.arrayContaining(['client_credentials', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code']))
    const jwks = (await (await fetch(String(config['jwks_uri']))).json()) as { keys: { kty: string; alg: string; d?: string }[] }
    expect(jwks.keys).toEqual([expect.objectContaining({ kty: 'RSA', alg: 'RS256' })])
    expect(jwks.keys[0]).not.toHaveProperty('d')
  })
})
