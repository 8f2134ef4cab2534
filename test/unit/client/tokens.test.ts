/** Which token a command uses, for which gateway, from which profile. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ClientCredentialsProvider } from '../../../src/client/login/client-credentials.js'
import { StoredLoginProvider } from '../../../src/client/login/stored-login.js'
import { resolveClient, resolveGateway } from '../../../src/client/profile-client.js'
import { configDir, ProfileStore, profileName, type LoginRecord } from '../../../src/client/profiles.js'
import { chooseTokenProvider, StaticTokenProvider } from '../../../src/client/tokens.js'

const dirs: string[] = []
function profilesIn(): ProfileStore {
  const d = mkdtempSync(join(tmpdir(), 'agw-tokens-'))
  dirs.push(d)
  return new ProfileStore(d)
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

const RECORD: LoginRecord = {
  issuer: 'https://idp.example.com',
  clientId: 'agw-cli',
  resource: 'urn:agw:audience:agw',
  subject: 'alice',
  groups: ['sre'],
  kind: 'human',
  expiresAt: 2_000_000_000,
  refreshable: true,
  store: 'file+machine-key',
  loggedInAt: '2025-01-01T00:00:00.000Z',
}
const GW = new URL('https://agw.example.com')

describe('chooseTokenProvider', () => {
  it('AGW_TOKEN first, then AGW_CLIENT_ID/SECRET, then the stored login', () => {
    const profiles = profilesIn()
    profiles.update('default', () => ({ gateway: GW.origin, login: RECORD }))
    const base = { gateway: GW, profile: 'default', profiles }
    const all = { AGW_TOKEN: 'tok', AGW_CLIENT_ID: 'ci', AGW_CLIENT_SECRET: 's' }
    expect(chooseTokenProvider({ ...base, env: all })).toBeInstanceOf(StaticTokenProvider)
    expect(chooseTokenProvider({ ...base, env: { ...all, AGW_TOKEN: ' ' } })).toBeInstanceOf(ClientCredentialsProvider)
    const stored = chooseTokenProvider({ ...base, env: {} })
    expect(stored).toBeInstanceOf(StoredLoginProvider)
    expect(stored.source).toBe('login (profile default)')
  })

  it('needs both halves of a client credential', () => {
    const base = { gateway: GW, profile: 'default', profiles: profilesIn() }
    expect(() => chooseTokenProvider({ ...base, env: { AGW_CLIENT_ID: 'ci' } })).toThrow(/AGW_CLIENT_ID is set but AGW_CLIENT_SECRET is not/)
    expect(() => chooseTokenProvider({ ...base, env: { AGW_CLIENT_SECRET: 's' } })).toThrow(/AGW_CLIENT_SECRET is set but AGW_CLIENT_ID is not/)
  })

  it('without any token: says how to log in to this gateway', async () => {
    const p = chooseTokenProvider({ gateway: GW, profile: 'default', profiles: profilesIn(), env: {} })
    await expect(p.getToken()).rejects.toMatchObject({
      code: 'unauthenticated',
      message: 'not logged in: run `agw login --gateway https://agw.example.com`, or set AGW_TOKEN or AGW_CLIENT_ID/AGW_CLIENT_SECRET',
    })
    const work = chooseTokenProvider({ gateway: GW, profile: 'work', profiles: profilesIn(), env: {} })
    await expect(work.getToken()).rejects.toMatchObject({ message: expect.stringContaining('not logged in (profile work): run `agw login --profile work --gateway https://agw.example.com`') })
  })

  it('never sends a stored token to a gateway other than the one it was obtained for', async () => {
    const profiles = profilesIn()
    profiles.update('default', () => ({ gateway: 'https://agw.example.com', login: RECORD }))
    const p = chooseTokenProvider({ gateway: new URL('https://evil.example.com'), profile: 'default', profiles, env: {} })
    expect(p).not.toBeInstanceOf(StoredLoginProvider)
    await expect(p.getToken()).rejects.toMatchObject({ code: 'unauthenticated', message: expect.stringContaining('profile default is logged in to https://agw.example.com, not https://evil.example.com') })
  })
})

describe('resolveGateway / resolveClient', () => {
  it('takes --gateway, else AGW_GATEWAY, else the gateway the profile remembers', () => {
    const profiles = profilesIn()
    profiles.update('default', () => ({ gateway: 'https://remembered.example.com' }))
    expect(resolveGateway({ gateway: 'https://flag.example.com' }, profiles, 'default', { AGW_GATEWAY: 'https://env.example.com' }).origin).toBe('https://flag.example.com')
    expect(resolveGateway({}, profiles, 'default', { AGW_GATEWAY: 'https://env.example.com' }).origin).toBe('https://env.example.com')
    expect(resolveGateway({}, profiles, 'default', {}).origin).toBe('https://remembered.example.com')
    expect(() => resolveGateway({}, profiles, 'work', {})).toThrow(/no gateway: run `agw login --gateway URL --profile work` once, or set AGW_GATEWAY/)
    expect(() => resolveGateway({ gateway: 'http://agw.example.com' }, profiles, 'default', {})).toThrow(/refusing plain http/)
  })

  it('reads the profile from --profile, else AGW_PROFILE, and the config dir from the environment', () => {
    const profiles = profilesIn()
    profiles.update('work', () => ({ gateway: 'https://work.example.com', login: RECORD }))
    const env = { AGW_CONFIG_DIR: profiles.dir, AGW_PROFILE: 'work' }
    const client = resolveClient({}, env)
    expect(client.url.origin).toBe('https://work.example.com')
    expect(client.tokens.source).toBe('login (profile work)')
    expect(() => resolveClient({ profile: '../x' }, env)).toThrow(/profile name "\.\.\/x" is not allowed/)
    expect(profileName(undefined, {})).toBe('default')
  })

  it('config dir: AGW_CONFIG_DIR, else XDG_CONFIG_HOME/agw, else ~/.config/agw', () => {
    expect(configDir({ AGW_CONFIG_DIR: '/a', XDG_CONFIG_HOME: '/b' })).toBe('/a')
    expect(configDir({ XDG_CONFIG_HOME: '/b' })).toBe('/b/agw')
    expect(configDir({})).toMatch(/\/\.config\/agw$/)
  })
})
