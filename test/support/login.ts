/**
 * `agw login` driven as a person would: the built CLI runs as a child process and prints a URL and
 * a code; the test opens that URL with the scripted browser (src/demo/issuer-browser.ts), types
 * the code, confirms and signs in on the provider's own pages, while the CLI polls.
 *
 *   const run = startLogin(['login', '--gateway', gw.url], env)
 *   const { uri, code } = await run.code
 *   await approveDeviceCode(uri, code, 'alice')
 *   expect((await run.done).code).toBe(0)
 */
import { spawn } from 'node:child_process'
import { ScriptedBrowser } from '../../src/demo/issuer-browser.js'
import { AGW_BIN, type RunResult } from './gateway.js'
import { TEST_USERS, type TestUserId } from './oidc.js'

/** Environment for a CLI that keeps its state in `dir` and sees no keychain and no outside identity. */
export function cliEnv(dir: string, extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    AGW_CONFIG_DIR: dir,
    // No D-Bus session: the Secret Service is unreachable, as on a headless host or in CI.
    DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/agw-test-bus',
    AGW_TOKEN: undefined,
    AGW_CLIENT_ID: undefined,
    AGW_CLIENT_SECRET: undefined,
    AGW_GATEWAY: undefined,
    AGW_PROFILE: undefined,
    AGW_TOKEN_STORE: undefined,
    ...extra,
  }
}

export interface LoginRun {
  /** Resolves when the CLI has printed the verification URL and the user code. */
  code: Promise<{ uri: string; code: string }>
  /** Resolves when the CLI exits. */
  done: Promise<RunResult>
  kill(signal: NodeJS.Signals): void
  output(): { stdout: string; stderr: string }
}

/** Starts `agw <args>` (a login) as a child process; `command` may wrap it (dbus-run-session). */
export function startLogin(
  args: string[],
  env: Record<string, string | undefined>,
  opts: { timeoutMs?: number; command?: string; commandArgs?: string[] } = {},
): LoginRun {
  const command = opts.command ?? process.execPath
  const child = spawn(command, [...(opts.commandArgs ?? []), ...(opts.command ? [process.execPath] : []), AGW_BIN, ...args], {
    env: { ...process.env, CI: 'true', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  let onCode: ((c: { uri: string; code: string }) => void) | undefined
  const code = new Promise<{ uri: string; code: string }>((resolve) => (onCode = resolve))
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString()
    const m = /open (\S+) and enter the code (\S+)/.exec(stdout)
    if (m && onCode) {
      onCode({ uri: m[1] as string, code: m[2] as string })
      onCode = undefined
    }
  })
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  const done = new Promise<RunResult>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`agw ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`))
    }, opts.timeoutMs ?? 45_000)
    child.on('error', reject)
    child.on('close', (exit) => {
      clearTimeout(timer)
      resolve({ code: exit, stdout, stderr })
    })
  })
  return { code, done, kill: (signal) => child.kill(signal), output: () => ({ stdout, stderr }) }
}

/** Approves (or aborts) a device sign-in on the provider's pages, as `user`. */
export async function approveDeviceCode(uri: string, userCode: string, user: TestUserId, opts: { abort?: boolean } = {}): Promise<void> {
  const browser = new ScriptedBrowser()
  const input = await browser.get(uri)
  const confirm = await browser.submit(input, 'op.deviceInputForm', { user_code: userCode })
  if (opts.abort) {
    const aborted = await browser.submit(confirm, 'op.deviceConfirmForm', { abort: 'yes' })
    if (aborted.status >= 500) throw new Error(`aborting the sign-in failed: HTTP ${aborted.status}`)
    return
  }
  const login = await browser.submit(confirm, 'op.deviceConfirmForm')
  const password = TEST_USERS.find((u) => u.id === user)?.password ?? ''
  const done = await browser.submit(login, 'agw.login', { user, password })
  if (done.status !== 200 || !done.body.includes('id="agw.signed-in"')) throw new Error(`sign-in as ${user} did not complete (HTTP ${done.status})`)
}

/** The whole login: start, approve as `user`, wait for the CLI to exit. */
export async function loginAs(user: TestUserId, args: string[], env: Record<string, string | undefined>): Promise<RunResult> {
  const run = startLogin(['login', ...args], env)
  const { uri, code } = await Promise.race([
    run.code,
    run.done.then((r) => {
      throw new Error(`agw login exited before printing a code (exit ${r.code})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
    }),
  ])
  await approveDeviceCode(uri, code, user)
  return run.done
}
