/**
 * The gateway-side attack table end to end (RFC 8725 section 2, RFC 9068 section 4): each hostile
 * or broken token, presented by the built CLI as AGW_TOKEN, makes `agw connections` exit 77 with a
 * reason and leaves an `auth.failed` event in the gateway's store. Forged tokens come from a
 * hand-written issuer the gateway trusts (test/unit/identity/fake-issuer.ts: discovery + JWKS on
 * loopback, tokens signed with jose); the rest from the real oidc-provider.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { inject } from 'vitest'
import type { AuditEvent } from '../../src/recording/events.js'
import { runAgw, startTestGateway, type RunResult, type TestGateway } from '../support/gateway.js'
import { cliEnv } from '../support/login.js'
import { connectTestIssuer } from '../support/oidc.js'
import { handMadeJws, makeKey, now, publicKeyPem, startFakeIssuer, type FakeIssuer } from '../unit/identity/fake-issuer.js'

const idp = connectTestIssuer(inject('issuerUrl'))
let fake: FakeIssuer // trusted by the gateway
let stranger: FakeIssuer // not trusted
let gw: TestGateway

beforeAll(async () => {
  ;[fake, stranger] = await Promise.all([startFakeIssuer(), startFakeIssuer()])
  gw = await startTestGateway(`
identity:
  issuers:
    - { issuer: ${fake.url}, audience: agw }
    - { issuer: ${idp.issuer}, audience: agw }
connections:
  - name: pg
    type: postgres
    target: { host: 127.0.0.1, port: 5432, database: test, user: postgres }
    allow: [agents, sre]
`)
})
afterAll(async () => {
  await gw?.stop()
  await Promise.all([fake?.close(), stranger?.close()])
})

function said(r: RunResult): string {
  return r.stderr.replace(/\s+/g, ' ')
}

async function failures(): Promise<AuditEvent[]> {
  await gw.gateway.events.flush()
  return (await gw.gateway.store.listEvents()).filter((e) => e.type === 'auth.failed')
}

function claims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { iss: fake.url, aud: 'agw', sub: 'alice', groups: ['agents'], iat: now(), exp: now() + 300, ...extra }
}

type Row = [name: string, token: () => Promise<string>, reason: RegExp]

const TABLE: Row[] = [
  ['an expired token', () => fake.sign({ iat: now() - 900, exp: now() - 600 }), /token expired at .*Z; run `agw login` or obtain a new AGW_TOKEN/],
  ['a token not yet valid', () => fake.sign({ nbf: now() + 600 }), /token is not valid before .*Z/],
  ['a token naming an issuer the gateway does not trust (signed with a trusted key)', () => fake.sign({ iss: 'https://idp.evil.example' }), /issuer https:\/\/idp\.evil\.example is not trusted by this gateway/],
  ['a token for another audience', () => idp.userToken('alice', { audience: 'billing-api' }), /token audience "billing-api" is not accepted: this gateway expects "agw"/],
  ['an unsigned token (alg none)', async () => handMadeJws({ alg: 'none', typ: 'at+jwt', kid: fake.key.kid }, claims()), /unsigned token \(alg "none"\) refused/],
  [
    "an HS256 token keyed with the issuer's RSA public key",
    async () => handMadeJws({ alg: 'HS256', typ: 'at+jwt', kid: fake.key.kid }, claims(), await publicKeyPem(fake.key)),
    /shared-secret algorithm HS256, which the gateway never accepts/,
  ],
  ['a token signed with an unknown key id', async () => fake.sign({}, { key: await makeKey('kid-nobody-published') }), /no signing key of issuer .* matches the token \(kid "kid-nobody-published"/],
  [
    'a token whose payload was changed after signing',
    async () => {
      const [header, , signature] = (await fake.sign({ groups: ['agents'] })).split('.')
      const forged = Buffer.from(JSON.stringify(claims({ groups: ['agents', 'dba'] }))).toString('base64url')
      return `${header}.${forged}.${signature}`
    },
    /token signature does not verify with issuer .*'s key "key-1": it was altered after signing or signed by someone else/,
  ],
  [
    'a token from an untrusted issuer that reuses a trusted kid',
    async () => stranger.sign({ iss: stranger.url }, { key: await makeKey(fake.key.kid) }),
    /issuer http:\/\/127\.0\.0\.1:\d+ is not trusted by this gateway/,
  ],
  ['an ID token where an access token is required', async () => (await idp.userTokenSet('alice')).idToken ?? '', /token audience "agw-cli" is not accepted.*An ID token or a token for another service was presented/],
]

describe('tokens the gateway refuses: `agw connections` exits 77 and auth.failed is recorded', () => {
  it.each(TABLE)('%s', async (_name, makeToken, reason) => {
    const token = await makeToken()
    expect(token.split('.')).toHaveLength(3)
    const before = (await failures()).length
    const r = await runAgw(['connections'], cliEnv('/nonexistent/agw-config', { AGW_GATEWAY: gw.url, AGW_TOKEN: token }))
    expect(r.code).toBe(77)
    expect(r.stdout).toBe('')
    expect(said(r)).toMatch(reason)
    const recorded = (await failures()).slice(before)
    expect(recorded).toHaveLength(1)
    expect(recorded[0]?.data).toMatchObject({ code: 'unauthenticated', path: '/v1/connections', reason: expect.stringMatching(reason) })
    expect(JSON.stringify(recorded[0])).not.toContain(token.split('.')[2] || token)
  })

  it('a token without a groups claim: no access, not a crash', async () => {
    const token = await fake.sign({ groups: undefined })
    const env = cliEnv('/nonexistent/agw-config', { AGW_GATEWAY: gw.url, AGW_TOKEN: token })
    const list = await runAgw(['connections'], env)
    expect(list.stderr).toBe('')
    expect(list.stdout).toBe('no connections are open to you on this gateway\n')
    expect(list.code).toBe(0)
    const exec = await runAgw(['exec', '-c', 'pg', '--', 'psql', '-At', '-c', 'select 1'], env)
    expect(exec.code).toBe(77)
    expect(exec.stdout).toBe('')
    expect(said(exec)).toContain('connection "pg" does not exist or is not open to alice')
    // The gateway is fine: the same call with a sound token works.
    const sound = await runAgw(['connections'], { ...env, AGW_TOKEN: await fake.sign({ groups: ['agents'] }) })
    expect(sound.code).toBe(0)
    expect(sound.stdout).toMatch(/^pg +postgres +test/m)
  })
})
