/**
 * Silent refresh: an identity provider of its own with 2-second access tokens, so a command run
 * after a login finds the access token expired and must refresh it (refresh-token rotation, under
 * the profile lock) without a word, or say in one line that the login expired.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { KeychainUnavailable } from '../../src/client/login/keychain.js'
import { TokenVault, type StoredTokens } from '../../src/client/login/token-store.js'
import { ProfileStore } from '../../src/client/profiles.js'
import { endpointsOf, tokenRequest } from '../../src/demo/issuer-browser.js'
import type { AuditEvent } from '../../src/recording/events.js'
import { runAgw, startTestGateway, type RunResult, type TestGateway } from '../support/gateway.js'
import { cliEnv, loginAs } from '../support/login.js'
import { DEVICE_CLIENT_ID, startTestIssuer, type TestIssuer } from '../support/oidc.js'

let idp: TestIssuer
let gw: TestGateway
const dirs: string[] = []

beforeAll(async () => {
  idp = await startTestIssuer({ accessTokenTtlSec: 2 })
  gw = await startTestGateway(`
identity:
  issuers: [{ issuer: ${idp.issuer}, audience: agw }]
  deviceClient: ${DEVICE_CLIENT_ID}
connections:
  - name: pg
    type: postgres
    target: { host: 127.0.0.1, port: 5432, database: test, user: postgres }
    allow: [sre]
`)
})
afterAll(async () => {
  await gw?.stop()
  await idp?.close()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

function said(r: RunResult): string {
  return r.stderr.replace(/\s+/g, ' ')
}

async function loggedIn(user: 'alice' | 'bob', profile = 'default'): Promise<{ dir: string; env: Record<string, string | undefined> }> {
  const dir = mkdtempSync(join(tmpdir(), 'agw-refresh-'))
  dirs.push(dir)
  const env = cliEnv(dir)
  const r = await loginAs(user, ['--gateway', gw.url, ...(profile === 'default' ? [] : ['--profile', profile])], env)
  expect(r.stderr).toBe('')
  expect(r.code).toBe(0)
  return { dir, env }
}

async function stored(dir: string, profile = 'default'): Promise<StoredTokens> {
  const record = new ProfileStore(dir).get(profile)?.login
  if (!record) throw new Error(`profile ${profile} is not logged in`)
  const tokens = await new TokenVault({ dir, keychain: new KeychainUnavailable('no keychain in this test') }).load(profile, record.store)
  if (!tokens) throw new Error('no stored tokens')
  return tokens
}

async function waitUntilExpired(t: StoredTokens): Promise<void> {
  await expect.poll(() => Date.now() / 1000 > t.expiresAt, { timeout: 10_000, interval: 200 }).toBe(true)
}

async function loginEvents(subject: string): Promise<AuditEvent[]> {
  await gw.gateway.events.flush()
  return (await gw.gateway.store.listEvents()).filter((e) => e.type === 'auth.login' && e.data['subject'] === subject)
}

async function refreshGrant(refreshToken: string): Promise<unknown> {
  const { token_endpoint: tokenEndpoint } = await endpointsOf(idp.issuer)
  return tokenRequest(tokenEndpoint, { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: DEVICE_CLIENT_ID })
}

describe('silent refresh', () => {
  it('a later agw exec refreshes the expired access token without a word, rotating the refresh token', async () => {
    const { dir, env } = await loggedIn('alice')
    const before = await stored(dir)
    expect(before.refreshToken).toBeTypeOf('string')
    const loginsBefore = (await loginEvents('alice')).length
    await waitUntilExpired(before)

    const r = await runAgw(['exec', '-c', 'pg', '--', 'psql', '-At', '-c', 'select 1'], env)
    expect(r.stderr).toBe('')
    expect(r.stdout).toBe('1\n')
    expect(r.code).toBe(0)

    const after = await stored(dir)
    expect(after.accessToken).not.toBe(before.accessToken)
    expect(after.expiresAt).toBeGreaterThan(before.expiresAt)
    expect(after.refreshToken).toBeTypeOf('string')
    expect(after.refreshToken).not.toBe(before.refreshToken) // rotated
    expect(new ProfileStore(dir).get('default')?.login).toMatchObject({ expiresAt: after.expiresAt, refreshedAt: expect.any(String) })
    // The gateway saw alice arrive with a new token.
    expect((await loginEvents('alice')).length).toBeGreaterThan(loginsBefore)

    // The old refresh token is spent. (Presenting it revokes the grant: this check comes last.)
    await expect(refreshGrant(before.refreshToken ?? '')).rejects.toThrow(/invalid_grant/)
  })

  it('two commands that refresh at once both succeed: the second uses the tokens the first stored', async () => {
    const { dir, env } = await loggedIn('bob')
    await waitUntilExpired(await stored(dir))
    const [a, b] = await Promise.all([runAgw(['connections'], env), runAgw(['connections'], env)])
    for (const r of [a, b]) {
      expect(r.stderr).toBe('')
      expect(r.code).toBe(0)
      expect(r.stdout).toMatch(/^pg +postgres +test/m)
    }
    // Had both presented the same refresh token, the provider would have revoked the grant.
    await waitUntilExpired(await stored(dir))
    const c = await runAgw(['connections'], env)
    expect(c.stderr).toBe('')
    expect(c.code).toBe(0)
  })

  it('a refused refresh is one line, "your login expired; run `agw login`", and exit 77', async () => {
    const { dir, env } = await loggedIn('alice', 'work')
    const tokens = await stored(dir, 'work')
    const config = (await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json()) as { revocation_endpoint: string }
    const revoked = await fetch(config.revocation_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: tokens.refreshToken ?? '', client_id: DEVICE_CLIENT_ID }),
    })
    expect(revoked.status).toBe(200)
    await waitUntilExpired(tokens)

    const runs = [
      runAgw(['connections', '--profile', 'work'], env),
      runAgw(['exec', '-c', 'pg', '--', 'psql', '-At', '-c', 'select 1'], { ...env, AGW_PROFILE: 'work' }),
    ]
    for (const r of await Promise.all(runs)) {
      expect(r.code).toBe(77)
      expect(r.stdout).toBe('')
      expect(said(r)).toContain('your login expired; run `agw login --profile work`')
      expect(said(r).match(/your login expired/g)).toHaveLength(1)
    }
  })

  it('an identity provider that cannot be reached is not a logout: exit 69, the tokens stay', async () => {
    const { dir, env } = await loggedIn('bob')
    const tokens = await stored(dir)
    new ProfileStore(dir).update('default', (p) => ({ ...p, login: { ...p.login!, issuer: 'http://127.0.0.1:9' } }))
    await waitUntilExpired(tokens)
    const r = await runAgw(['connections'], env)
    expect(r.code).toBe(69)
    expect(said(r)).toContain('cannot refresh your login: cannot use the identity provider http://127.0.0.1:9')
    expect((await stored(dir)).refreshToken).toBe(tokens.refreshToken)
  })
})
