/**
 * The OS keychain path against a real Secret Service: Debian's gnome-keyring on a private D-Bus
 * session (`dbus-run-session`, `gnome-keyring-daemon --unlock --components=secrets`), its keyring
 * files in a temporary HOME. Each agw command runs in a session of its own, as separate terminal
 * sessions of one user would; the keyring persists on disk between them.
 *
 * Needs the Debian packages gnome-keyring, dbus (dbus-run-session) and libsecret-tools
 * (secret-tool); skipped, saying so, only when those binaries are absent.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { ProfileStore } from '../../src/client/profiles.js'
import { runAgw, startTestGateway, type RunResult, type TestGateway } from '../support/gateway.js'
import { approveDeviceCode, cliEnv, startLogin } from '../support/login.js'
import { connectTestIssuer, DEVICE_CLIENT_ID } from '../support/oidc.js'

const BINARIES = ['dbus-run-session', 'dbus-send', 'gnome-keyring-daemon', 'secret-tool']
const missing = BINARIES.filter((b) => spawnSync('sh', ['-c', `command -v ${b}`]).status !== 0)
const SKIP_REASON = missing.length > 0 ? ` (skipped: ${missing.join(', ')} not installed; apt-get install gnome-keyring dbus libsecret-tools)` : ''

const idp = connectTestIssuer(inject('issuerUrl'))
const KEYRING_PASSWORD = 'agw-test-keyring'
/**
 * Starts a private D-Bus session, unlocks (or creates) the login keyring, waits until that daemon
 * owns org.freedesktop.secrets (otherwise D-Bus would activate a second, locked one that prints
 * its environment on our stdout), then runs the command.
 */
const UNLOCK_THEN_RUN = [
  'printf %s "$AGW_TEST_KEYRING_PASSWORD" | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1',
  'i=0',
  'until dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q "boolean true" || [ $i -ge 100 ]; do i=$((i+1)); sleep 0.05; done',
  'exec "$@"',
].join('; ')
const IN_KEYRING_SESSION = ['--', 'sh', '-c', UNLOCK_THEN_RUN, 'sh']

let gw: TestGateway
let home: string
let dir: string

function said(r: RunResult): string {
  return r.stderr.replace(/\s+/g, ' ')
}

describe.skipIf(missing.length > 0)(`agw login with the OS keychain (Secret Service, gnome-keyring)${SKIP_REASON}`, () => {
  beforeAll(async () => {
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
    home = mkdtempSync(join(tmpdir(), 'agw-keyring-home-'))
    dir = mkdtempSync(join(tmpdir(), 'agw-keyring-cli-'))
  })
  afterAll(async () => {
    await gw?.stop()
    for (const d of [home, dir]) if (d) rmSync(d, { recursive: true, force: true })
  })

  const sessionEnv = () => ({
    ...cliEnv(dir),
    HOME: home,
    XDG_DATA_HOME: join(home, '.local', 'share'),
    XDG_CACHE_HOME: join(home, '.cache'),
    AGW_TEST_KEYRING_PASSWORD: KEYRING_PASSWORD,
  })

  /** `agw ARGS` inside a keyring session. */
  const agw = (args: string[]) => startLogin(args, sessionEnv(), { command: 'dbus-run-session', commandArgs: IN_KEYRING_SESSION }).done

  /** What the Secret Service holds for an agw entry (null when there is none). */
  function keyringEntry(account: string): string | null {
    const r = spawnSync('dbus-run-session', [...IN_KEYRING_SESSION, 'secret-tool', 'lookup', 'service', 'agw', 'username', account], {
      env: { ...process.env, ...sessionEnv() } as NodeJS.ProcessEnv,
      encoding: 'utf8',
    })
    return r.status === 0 ? r.stdout : null
  }

  it('keeps the tokens in the Secret Service, says so, works from there, and logout removes them', async () => {
    const run = startLogin(['login', '--gateway', gw.url], sessionEnv(), { command: 'dbus-run-session', commandArgs: IN_KEYRING_SESSION })
    const { uri, code } = await run.code
    await approveDeviceCode(uri, code, 'bob')
    const login = await run.done
    expect(login.code).toBe(0)
    expect(login.stdout).toContain(`Logged in to ${gw.url} as bob (bob@example.com), groups: sre.`)
    expect(login.stdout).toContain('Tokens are in the OS keychain (Secret Service); agw refreshes them as needed.')

    // In the keyring, and nowhere in the config dir.
    expect(new ProfileStore(dir).get('default')?.login?.store).toBe('keychain')
    const entry = keyringEntry(`tokens:default@${dir}`)
    expect(entry).not.toBeNull()
    const { access_token: accessToken, refresh_token: refreshToken } = JSON.parse(entry ?? '{}') as { access_token: string; refresh_token: string }
    expect(accessToken).toMatch(/^ey/)
    expect(readdirSync(dir).sort()).toEqual(['profiles.json'])
    expect(existsSync(join(dir, 'machine.key'))).toBe(false)
    const profileText = readFileSync(join(dir, 'profiles.json'), 'utf8')
    expect(profileText).not.toContain(accessToken)
    expect(profileText).not.toContain(refreshToken)

    const who = await agw(['whoami'])
    expect(who.code).toBe(0)
    expect(who.stdout).toMatch(/^subject +bob$/m)
    expect(who.stdout).toMatch(/^stored +OS keychain \(Secret Service\)$/m)

    const exec = await agw(['exec', '-c', 'pg', '--', 'psql', '-At', '-c', 'select 1'])
    expect(exec.stdout).toBe('1\n')
    expect(exec.code).toBe(0)

    // Without a D-Bus session the keychain cannot be reached: one clear line, not "not logged in".
    const outside = await runAgw(['whoami'], cliEnv(dir))
    expect(outside.code).toBe(77)
    expect(said(outside)).toContain('your login is kept in the OS keychain, which cannot be used now')

    const logout = await agw(['logout'])
    expect(logout.code).toBe(0)
    expect(logout.stdout).toContain('tokens deleted, refresh token revoked at the identity provider')
    expect(keyringEntry(`tokens:default@${dir}`)).toBeNull()
  })
})
