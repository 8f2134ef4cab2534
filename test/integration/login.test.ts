/**
 * `agw login` end to end: the built CLI against a gateway and the real OIDC provider (oidc-provider
 * with the device flow), with the user's part done on the provider's own pages by the scripted
 * browser while the CLI polls. No keychain here (no D-Bus session): tokens go to the encrypted
 * file; the keychain path is login-keychain.test.ts.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { KeychainUnavailable } from '../../src/client/login/keychain.js'
import { TokenVault, type StoredTokens } from '../../src/client/login/token-store.js'
import { ProfileStore } from '../../src/client/profiles.js'
import { endpointsOf, tokenRequest } from '../../src/demo/issuer-browser.js'
import type { AuditEvent } from '../../src/recording/events.js'
import { runAgw, startTestGateway, type RunResult, type TestGateway } from '../support/gateway.js'
import { approveDeviceCode, cliEnv, loginAs, startLogin } from '../support/login.js'
import { connectTestIssuer, DEVICE_CLIENT_ID } from '../support/oidc.js'

const idp = connectTestIssuer(inject('issuerUrl'))
const GATEWAY_YAML = `
identity:
  issuers: [{ issuer: ${idp.issuer}, audience: agw }]
  deviceClient: ${DEVICE_CLIENT_ID}
connections:
  - name: pg
    type: postgres
    target: { host: 127.0.0.1, port: 5432, database: test, user: postgres }
    allow: [agents, sre]
`

let gw: TestGateway
let gw2: TestGateway
const dirs: string[] = []

function configDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'agw-cli-'))
  dirs.push(dir)
  return dir
}

beforeAll(async () => {
  ;[gw, gw2] = await Promise.all([startTestGateway(GATEWAY_YAML), startTestGateway(GATEWAY_YAML)])
})
afterAll(async () => {
  await Promise.all([gw?.stop(), gw2?.stop()])
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

async function events(g: TestGateway, type: AuditEvent['type']): Promise<AuditEvent[]> {
  await g.gateway.events.flush()
  return (await g.gateway.store.listEvents()).filter((e) => e.type === type)
}

/** What the CLI stored for a profile, read back the way the CLI reads it (file store). */
async function storedTokens(dir: string, profile = 'default'): Promise<StoredTokens | undefined> {
  const record = new ProfileStore(dir).get(profile)?.login
  if (!record) return undefined
  return new TokenVault({ dir, keychain: new KeychainUnavailable('no keychain in this test') }).load(profile, record.store)
}

/** stderr as one line: oclif wraps long error messages at the terminal width. */
function said(r: RunResult): string {
  return r.stderr.replace(/\s+/g, ' ')
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
}

/** Files (and outputs) that contain `secret`, or its signature-sized tail. */
function leaks(secret: string, places: { files: string[]; outputs: RunResult[] }): string[] {
  const needles = [secret, secret.slice(-24)]
  const found: string[] = []
  for (const f of places.files) {
    const content = readFileSync(f)
    if (needles.some((n) => content.includes(n))) found.push(f)
  }
  places.outputs.forEach((r, i) => {
    if (needles.some((n) => r.stdout.includes(n) || r.stderr.includes(n))) found.push(`output of run ${i}`)
  })
  return found
}

describe('agw login (device authorization grant against oidc-provider)', () => {
  it('logs alice in; whoami then shows her subject, email, groups, issuer, expiry and the token store', async () => {
    const dir = configDir()
    const env = cliEnv(dir)
    const loginsBefore = (await events(gw, 'auth.login')).length

    const r = await loginAs('alice', ['--gateway', gw.url], env)
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(new RegExp(`To sign in, open ${idp.issuer}/device and enter the code [A-Z]{4}-[A-Z]{4}`))
    expect(r.stdout).toContain('waiting for you to approve the sign-in in the browser...')
    expect(r.stdout).toContain(`Logged in to ${gw.url} as alice (alice@example.com), groups: sre, agents.`)
    // Not a terminal: no QR code, no spinner.
    expect(r.stdout).not.toMatch(/[█▀▄]/)
    expect(r.stdout).not.toContain('\r')

    // The gateway is remembered: no AGW_GATEWAY, no AGW_TOKEN from here on.
    const who = await runAgw(['whoami'], env)
    expect(who.stderr).toBe('')
    expect(who.code).toBe(0)
    expect(who.stdout).toMatch(/^subject +alice$/m)
    expect(who.stdout).toMatch(/^email +alice@example\.com$/m)
    expect(who.stdout).toMatch(/^groups +sre, agents$/m)
    expect(who.stdout).toMatch(/^kind +human$/m)
    expect(who.stdout).toMatch(new RegExp(`^issuer +${idp.issuer}$`, 'm'))
    expect(who.stdout).toMatch(/^expires +\d{4}-\d\d-\d\dT[\d:.]+Z \(in \d+ (s|min)\)$/m)
    expect(who.stdout).toContain(`encrypted file (AES-256-GCM, key in ${join(dir, 'machine.key')}, as no OS keychain is reachable)`)

    const json = await runAgw(['whoami', '--json'], env)
    expect(json.code).toBe(0)
    const w = JSON.parse(json.stdout) as Record<string, unknown>
    expect(w).toMatchObject({
      subject: 'alice',
      email: 'alice@example.com',
      groups: ['sre', 'agents'],
      issuer: idp.issuer,
      kind: 'human',
      clientId: DEVICE_CLIENT_ID,
      gateway: gw.url,
      profile: 'default',
      tokenSource: 'login (profile default)',
    })
    expect(Date.parse(String(w['expiresAt']))).toBeGreaterThan(Date.now())

    // One token, three calls: one auth.login, with the identity.
    const logins = (await events(gw, 'auth.login')).slice(loginsBefore)
    expect(logins).toHaveLength(1)
    expect(logins[0]?.data).toMatchObject({
      identityKind: 'human',
      subject: 'alice',
      email: 'alice@example.com',
      groups: ['sre', 'agents'],
      issuer: idp.issuer,
      clientId: DEVICE_CLIENT_ID,
    })
  })

  it('keeps no token in clear: not in the config dir, not in any output, not in the gateway files', async () => {
    const dir = configDir()
    const env = cliEnv(dir)
    const outputs: RunResult[] = []
    outputs.push(await loginAs('alice', ['--gateway', gw.url], env))
    outputs.push(await runAgw(['whoami', '--json'], env))
    outputs.push(await runAgw(['connections'], env))
    const exec = await runAgw(['exec', '-c', 'pg', '--', 'psql', '-At', '-c', 'select 1'], env)
    outputs.push(exec)
    expect(exec.stderr).toBe('')
    expect(exec.stdout).toBe('1\n')
    expect(exec.code).toBe(0)

    const tokens = await storedTokens(dir)
    expect(tokens?.accessToken).toMatch(/^ey[\w-]+\.[\w-]+\.[\w-]+$/)
    expect(tokens?.refreshToken).toBeTypeOf('string')
    await gw.gateway.events.flush()
    const files = [...filesUnder(dir), ...filesUnder(gw.dir)]
    expect(files).toContain(join(dir, 'credentials', 'default.enc'))
    expect(files).toContain(join(dir, 'profiles.json'))
    expect(leaks(tokens?.accessToken ?? 'missing', { files, outputs })).toEqual([])
    expect(leaks(tokens?.refreshToken ?? 'missing', { files, outputs })).toEqual([])

    // Private to this user.
    expect(statSync(dir).mode & 0o777).toBe(0o700)
    expect(statSync(join(dir, 'credentials')).mode & 0o777).toBe(0o700)
    for (const f of ['profiles.json', 'machine.key', 'credentials/default.enc']) expect(statSync(join(dir, f)).mode & 0o777).toBe(0o600)
  })

  it('access_denied: aborting on the provider page ends the login with one line and exit 77; nothing is stored', async () => {
    const dir = configDir()
    const run = startLogin(['login', '--gateway', gw.url], cliEnv(dir))
    const { uri, code } = await run.code
    await approveDeviceCode(uri, code, 'alice', { abort: true })
    const r = await run.done
    expect(r.code).toBe(77)
    expect(said(r)).toContain('the sign-in was denied in the browser; nothing was stored')
    expect(new ProfileStore(dir).get('default')?.login).toBeUndefined()
    expect(filesUnder(join(dir, 'credentials'))).toEqual([])
  })

  it('Ctrl-C cancels the poll: exit 130, nothing stored', async () => {
    const dir = configDir()
    const run = startLogin(['login', '--gateway', gw.url], cliEnv(dir))
    await run.code
    run.kill('SIGINT')
    const r = await run.done
    expect(said(r)).toContain('login cancelled; nothing was stored')
    expect(r.code).toBe(130)
    expect(new ProfileStore(dir).get('default')?.login).toBeUndefined()
  })

  it('profiles keep separate logins and gateways, and a stored token never goes to another gateway', async () => {
    const dir = configDir()
    const env = cliEnv(dir)
    expect((await loginAs('alice', ['--gateway', gw.url], env)).code).toBe(0)
    expect((await loginAs('bob', ['--gateway', gw2.url, '--profile', 'other'], env)).code).toBe(0)

    const subjectOf = async (args: string[], extra: Record<string, string> = {}) => {
      const r = await runAgw(['whoami', '--json', ...args], { ...env, ...extra })
      expect(r.stderr).toBe('')
      return JSON.parse(r.stdout) as { subject: string; gateway: string; profile: string }
    }
    expect(await subjectOf([])).toMatchObject({ subject: 'alice', gateway: gw.url, profile: 'default' })
    expect(await subjectOf(['--profile', 'other'])).toMatchObject({ subject: 'bob', gateway: gw2.url, profile: 'other' })
    expect(await subjectOf([], { AGW_PROFILE: 'other' })).toMatchObject({ subject: 'bob', gateway: gw2.url })

    const failedBefore = (await events(gw2, 'auth.failed')).length
    const wrong = await runAgw(['connections', '--gateway', gw2.url], env)
    expect(wrong.code).toBe(77)
    expect(said(wrong)).toContain(`profile default is logged in to ${gw.url}, not ${gw2.url}`)
    // Refused before sending anything: gw2 saw no token at all.
    expect(await events(gw2, 'auth.failed')).toHaveLength(failedBefore)

    const bad = await runAgw(['whoami', '--profile', '../etc'], env)
    expect(bad.code).toBe(65)
    expect(said(bad)).toContain('profile name "../etc" is not allowed')
  })

  it('logout revokes the refresh token at the provider and forgets the tokens; the gateway stays remembered', async () => {
    const dir = configDir()
    const env = cliEnv(dir)
    expect((await loginAs('bob', ['--gateway', gw.url], env)).code).toBe(0)
    const tokens = await storedTokens(dir)
    expect(tokens?.refreshToken).toBeTypeOf('string')

    const out = await runAgw(['logout'], env)
    expect(out.stderr).toBe('')
    expect(out.code).toBe(0)
    expect(out.stdout).toBe('Logged out of profile default: tokens deleted, refresh token revoked at the identity provider.\n')
    expect(existsSync(join(dir, 'credentials', 'default.enc'))).toBe(false)

    const { token_endpoint: tokenEndpoint } = await endpointsOf(idp.issuer)
    await expect(
      tokenRequest(tokenEndpoint, { grant_type: 'refresh_token', refresh_token: tokens?.refreshToken ?? '', client_id: DEVICE_CLIENT_ID }),
    ).rejects.toThrow(/invalid_grant/)

    const after = await runAgw(['connections'], env)
    expect(after.code).toBe(77)
    expect(said(after)).toContain(`not logged in: run \`agw login --gateway ${gw.url}\``)

    const again = await runAgw(['logout'], env)
    expect(again.stdout).toBe('profile default was not logged in; nothing to do\n')

    // `agw login` alone uses the remembered gateway.
    const relogin = startLogin(['login'], env)
    await expect(relogin.code).resolves.toMatchObject({ code: expect.stringMatching(/^[A-Z]{4}-[A-Z]{4}$/) })
    relogin.kill('SIGINT')
    expect((await relogin.done).code).toBe(130)
  })

  it('says how to name a gateway when there is none (exit 65)', async () => {
    const env = cliEnv(configDir())
    const login = await runAgw(['login'], env)
    expect(login.code).toBe(65)
    expect(said(login)).toContain('which gateway? run `agw login --gateway URL`')
    const connections = await runAgw(['connections'], env)
    expect(connections.code).toBe(65)
    expect(said(connections)).toContain('no gateway: run `agw login --gateway URL` once, or set AGW_GATEWAY')
  })
})
