/**
 * The stored login's token: used while fresh, refreshed before it expires, with the rotated
 * refresh token stored under the profile lock so two processes never present the same one.
 * The provider is a fake Refresher that behaves like a rotating one: a spent refresh token is refused.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { KeychainUnavailable } from '../../../src/client/login/keychain.js'
import { StoredLoginProvider, type RefreshedTokens, type Refresher } from '../../../src/client/login/stored-login.js'
import { TokenVault, type StoredTokens } from '../../../src/client/login/token-store.js'
import { AgwError } from '../../../src/errors.js'
import { ProfileStore, type LoginRecord } from '../../../src/client/profiles.js'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

const now = (): number => Math.floor(Date.now() / 1000)

/** A JWT-shaped access token (unsigned: only its exp and iat are read, for scheduling). */
function accessToken(n: number, ttl: number): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
  return `${b64({ alg: 'RS256' })}.${b64({ sub: 'alice', n, iat: now(), exp: now() + ttl })}.sig${n}`
}

/** A provider that rotates refresh tokens and refuses a spent one (as oidc-provider does). */
class RotatingProvider {
  calls = 0
  live = 'rt-0'
  delayMs = 0
  down = false

  readonly refresh: Refresher = async (_record, refreshToken) => {
    this.calls++
    await new Promise((r) => setTimeout(r, this.delayMs))
    if (this.down) throw new AgwError('unreachable', 'cannot reach the identity provider http://idp to refresh your login: connect ECONNREFUSED')
    if (refreshToken !== this.live) throw new Error('invalid_grant (refresh token already used)')
    this.live = `rt-${this.calls}`
    const answer: RefreshedTokens = { access_token: accessToken(this.calls, 900), refresh_token: this.live, expires_in: 900 }
    return answer
  }
}

async function setup(stored: StoredTokens, profile = 'default') {
  const dir = mkdtempSync(join(tmpdir(), 'agw-login-'))
  dirs.push(dir)
  const profiles = new ProfileStore(dir)
  const vault = new TokenVault({ dir, keychain: new KeychainUnavailable('none') })
  const store = await vault.save(profile, stored)
  const record: LoginRecord = {
    issuer: 'http://idp',
    clientId: 'agw-cli',
    resource: 'urn:agw:audience:agw',
    subject: 'alice',
    groups: ['sre'],
    kind: 'human',
    expiresAt: stored.expiresAt,
    refreshable: true,
    store,
    loggedInAt: new Date().toISOString(),
  }
  profiles.update(profile, () => ({ gateway: 'http://127.0.0.1:8443', login: record }))
  const provider = new RotatingProvider()
  const make = () => new StoredLoginProvider({ profiles, vault, profile, record, refresh: provider.refresh })
  return { dir, profiles, vault, provider, make }
}

const expired = (): StoredTokens => ({ accessToken: accessToken(0, -5), refreshToken: 'rt-0', expiresAt: now() - 5, issuedAt: now() - 905 })

describe('StoredLoginProvider', () => {
  it('returns a fresh token as it is, without asking the provider', async () => {
    const fresh: StoredTokens = { accessToken: accessToken(0, 900), refreshToken: 'rt-0', expiresAt: now() + 900, issuedAt: now() }
    const { make, provider } = await setup(fresh)
    expect(await make().getToken()).toBe(fresh.accessToken)
    expect(provider.calls).toBe(0)
  })

  it('refreshes an expired token and stores the rotated refresh token and the new expiry', async () => {
    const { make, provider, vault, profiles } = await setup(expired())
    const token = await make().getToken()
    expect(provider.calls).toBe(1)
    const stored = await vault.load('default', 'file+machine-key')
    expect(stored).toMatchObject({ accessToken: token, refreshToken: 'rt-1' })
    expect(stored?.expiresAt).toBeGreaterThan(now() + 800)
    expect(profiles.get('default')?.login).toMatchObject({ expiresAt: stored?.expiresAt, refreshedAt: expect.any(String) })
  })

  it('refreshes a token that is about to expire (inside the refresh margin), not only an expired one', async () => {
    const soon: StoredTokens = { accessToken: accessToken(0, 30), refreshToken: 'rt-0', expiresAt: now() + 30, issuedAt: now() - 870 }
    const { make, provider } = await setup(soon)
    await make().getToken()
    expect(provider.calls).toBe(1)
  })

  it('two processes refreshing at once: one asks the provider, the other reads what it stored', async () => {
    const { make, provider } = await setup(expired())
    provider.delayMs = 100
    const [a, b] = await Promise.all([make().getToken(), make().getToken()])
    expect(provider.calls).toBe(1)
    expect(a).toBe(b)
  })

  it('a refused refresh: "your login expired; run `agw login`" (with the profile when not the default)', async () => {
    const { make, provider } = await setup(expired())
    provider.live = 'revoked-elsewhere'
    await expect(make().getToken()).rejects.toMatchObject({ code: 'unauthenticated', message: 'your login expired; run `agw login`' })
    const work = await setup(expired(), 'work')
    work.provider.live = 'revoked-elsewhere'
    await expect(work.make().getToken()).rejects.toMatchObject({ message: 'your login expired; run `agw login --profile work`' })
  })

  it('no refresh token stored: the same line once the access token expires', async () => {
    const { make, provider } = await setup({ ...expired(), refreshToken: undefined } as unknown as StoredTokens)
    await expect(make().getToken()).rejects.toMatchObject({ message: 'your login expired; run `agw login`' })
    expect(provider.calls).toBe(0)
  })

  it('a provider that cannot be reached is `unreachable` and the stored tokens stay', async () => {
    const { make, provider, vault } = await setup(expired())
    provider.down = true
    await expect(make().getToken()).rejects.toMatchObject({ code: 'unreachable' })
    expect((await vault.load('default', 'file+machine-key'))?.refreshToken).toBe('rt-0')
  })

  it('logged out meanwhile (profile without a login): says to log in', async () => {
    const { make, profiles } = await setup(expired())
    const provider = make()
    profiles.update('default', (p) => ({ gateway: p.gateway as string }))
    await expect(provider.getToken()).rejects.toMatchObject({ code: 'unauthenticated', message: 'you are logged out of profile default; run `agw login`' })
  })
})
