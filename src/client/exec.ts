/**
 * `agw exec`: open the session and a local endpoint per connection, run the command with the
 * environment that points its tools at those endpoints (in a pseudo-terminal when stdin is a TTY,
 * with plain pipes otherwise), show the gateway's notices, and return the command's exit code. When
 * the command failed because agw could not do its part, the exit code says so (77 identity, 69
 * gateway or target unreachable), so a CI log tells the two apart.
 */
import { spawn } from 'node:child_process'
import type { IPty } from 'node-pty'
import { hostname } from 'node:os'
import { basename } from 'node:path'
import { AgwError, EXIT_CODES } from '../errors.js'
import type { ConnectionInfo } from '../gateway/gateway.js'
import type { ReviewSummary, ServerControl } from '../tunnel/protocol.js'
import { environmentFor, localUser, openEndpoints, SUPPORTED_TYPES, type Endpoint } from './endpoints.js'
import type { GatewayClient } from './gateway-client.js'
import { openCacheQuietly } from './cache.js'
import { SessionHandle } from './session.js'
import { startTerminalRecording, type TerminalRecorder, type TextMasker } from './terminal.js'
import { terminalMaskerFor } from './terminal-masker.js'

/** Credentials agw uses to reach the gateway; never passed on to the wrapped command. */
export const WITHHELD_FROM_AGENT = ['AGW_TOKEN', 'AGW_CLIENT_ID', 'AGW_CLIENT_SECRET'] as const

export interface ExecOptions {
  client: GatewayClient
  /** Connection names; empty means every connection this identity may use. */
  connections: string[]
  agent?: string
  command: string
  args: string[]
  /** 'auto': a PTY when stdin is a TTY. */
  terminal: 'auto' | 'pty' | 'pipe'
  /** Where agw's own lines go (stderr). */
  say: (line: string) => void
  /** Record the keystrokes typed into the PTY too (the output is always recorded). */
  recordInput?: boolean
  /** Masks the terminal recording before it leaves the machine (default: the connections' content detectors). */
  masker?: TextMasker
}

/** Collects agw-side failures during the run; decides the exit code when the command failed. */
export class RunErrors {
  private readonly errors: AgwError[] = []

  add(err: AgwError): void {
    this.errors.push(err)
  }

  exitCodeFor(commandExit: number): number {
    if (commandExit === 0 || this.errors.length === 0) return commandExit
    const auth = this.errors.find((e) => e.code === 'unauthenticated' || e.code === 'forbidden')
    if (auth) return EXIT_CODES[auth.code]
    const down = this.errors.find((e) => e.code === 'unreachable')
    if (down) return EXIT_CODES.unreachable
    if (this.errors.some((e) => e.code === 'review_denied')) return EXIT_CODES.review_denied
    return commandExit
  }
}

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT']
const SIGNAL_NUMBERS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 }

function oneLine(text: string, max: number): string {
  const t = text.replace(/\s+/g, ' ').trim()
  return t.length > max ? `${t.slice(0, max - 1)}…` : t
}

/** A review push as one line: the hold (what, which rule, waiting for whom, Ctrl-C cancels), then the decision. */
export function describeReview(r: ReviewSummary): string {
  if (r.state === 'pending') {
    return `held for review ${r.id} by rule ${r.rule}; waiting for ${r.reviewers.join(', ')} — Ctrl-C cancels: ${oneLine(r.statement, 100)}`
  }
  const by = r.decidedBy ? ` by ${r.decidedBy}` : ''
  const why = r.reason ? `: ${oneLine(r.reason, 200)}` : ''
  if (r.state === 'approved') {
    const until = r.until ? ` (and matching statements of this session until ${new Date(r.until).toLocaleTimeString()})` : ''
    return `review ${r.id} approved${by}${why}; running the statement${until}`
  }
  return `review ${r.id} ${r.state}${by}${why}; the statement was not run`
}

export function describeControl(msg: ServerControl): string | undefined {
  switch (msg.t) {
    case 'notice':
      return msg.message
    case 'error':
      return msg.message
    case 'review':
      return describeReview(msg.review)
    default:
      return undefined
  }
}

/**
 * agw's own line while COMMAND owns the terminal: on stderr, from the start of a cleared line and
 * ended with CR LF (the terminal is in raw mode), so it does not run into what the tool drew.
 */
export function ptyLine(line: string, color: boolean): string {
  const label = color ? '\x1b[1;33magw:\x1b[0m' : 'agw:'
  return `\r\x1b[2K${label} ${line.replace(/^agw: /, '')}\r\n`
}

export async function runExec(opts: ExecOptions): Promise<number> {
  const { client, say } = opts
  const [principal, available] = await Promise.all([client.whoami(), client.connections()])
  const names = opts.connections.length > 0 ? opts.connections : available.filter((c) => SUPPORTED_TYPES.has(c.type)).map((c) => c.name)
  const agent = opts.agent ?? basename(opts.command)
  const missing = names.filter((n) => !available.some((a) => a.name === n))
  if (missing.length > 0) {
    // Ask anyway, so the gateway records the refused attempt (auth.failed), then say what is open.
    await SessionHandle.open(client, { agent, host: hostname(), connections: names }).then(
      (s) => s.end(null, 'refused'),
      () => undefined,
    )
    throw new AgwError('forbidden', `connection "${missing[0]}" does not exist or is not open to ${principal.email ?? principal.subject} (available: ${available.map((a) => a.name).join(', ') || 'none'})`)
  }
  const chosen = names.map((n) => available.find((a) => a.name === n) as ConnectionInfo)
  const session = await SessionHandle.open(client, {
    agent,
    host: hostname(),
    command: [opts.command, ...opts.args].join(' ').slice(0, 2000),
    connections: chosen.map((c) => c.name),
  })
  const errors = new RunErrors()
  const usePty = opts.terminal === 'pty' || (opts.terminal === 'auto' && process.stdin.isTTY === true)
  // Held statements of this session, from the gateway's review pushes: Ctrl-C withdraws them.
  const held = new Set<string>()
  session.onControl((msg) => {
    if (msg.t === 'review') {
      if (msg.review.state === 'pending') held.add(msg.review.id)
      else held.delete(msg.review.id)
      // A statement a reviewer refused (or nobody decided in time): exit 75 if the command fails.
      if (msg.review.state === 'denied' || msg.review.state === 'expired') {
        errors.add(new AgwError('review_denied', `review ${msg.review.id} ${msg.review.state}`))
      }
    }
    const line = describeControl(msg)
    if (!line) return
    if (usePty && msg.t === 'review') process.stderr.write(ptyLine(line, process.stderr.isTTY === true))
    else say(`agw: ${line}`)
  })
  const interrupted = () => {
    if (held.size > 0) session.cancelHeld()
  }
  let endpoints: Endpoint[] = []
  try {
    endpoints = await openEndpoints({
      client,
      connections: chosen,
      user: localUser(principal),
      sessionId: session.id,
      agent,
      onError: (err) => errors.add(err),
    })
    const env: NodeJS.ProcessEnv = { ...process.env, ...environmentFor(endpoints, session.id) }
    for (const k of ['PGHOSTADDR', 'PGSERVICE', 'PGSERVICEFILE', 'PGREQUIRESSL', 'PGSSLCERT', 'PGSSLKEY']) delete env[k]
    // The agent gets what SPEC section 2 lists; agw's own credentials stay in agw.
    for (const k of WITHHELD_FROM_AGENT) delete env[k]
    const recording = usePty
      ? await startTerminalRecording(client, session, {
          say,
          openCache: openCacheQuietly,
          masker: opts.masker ?? terminalMaskerFor(chosen),
          ...(opts.recordInput ? { input: true } : {}),
        })
      : undefined
    const { code, signal } = usePty ? await runInPty(opts.command, opts.args, env, recording?.recorder, interrupted) : await runWithPipes(opts.command, opts.args, env, interrupted)
    await recording?.finish()
    await session.end(code, signal)
    const exit = code ?? 128 + (SIGNAL_NUMBERS[signal ?? ''] ?? 0)
    return errors.exitCodeFor(exit)
  } catch (err) {
    await session.end(null, 'agw error')
    throw err
  } finally {
    await Promise.all(endpoints.map((e) => e.listener.close()))
  }
}

interface Exit {
  code: number | null
  signal?: string
}

function runWithPipes(command: string, args: string[], env: NodeJS.ProcessEnv, onInterrupt?: () => void): Promise<Exit> {
  return new Promise<Exit>((resolve, reject) => {
    const child = spawn(command, args, { stdio: 'inherit', env })
    const forward = (sig: NodeJS.Signals) => {
      if (sig === 'SIGINT') onInterrupt?.()
      child.kill(sig)
    }
    for (const s of SIGNALS) process.on(s, forward)
    const cleanup = () => {
      for (const s of SIGNALS) process.off(s, forward)
    }
    child.once('error', (err) => {
      cleanup()
      const code = (err as NodeJS.ErrnoException).code
      reject(new AgwError('bad_input', code === 'ENOENT' ? `command not found: ${command}` : `cannot run ${command}: ${err.message}`))
    })
    child.once('exit', (code, signal) => {
      cleanup()
      resolve(signal ? { code: null, signal } : { code })
    })
  })
}

async function runInPty(command: string, args: string[], env: NodeJS.ProcessEnv, recorder?: TerminalRecorder, onCtrlC?: () => void): Promise<Exit> {
  const pty = await import('node-pty')
  const stdin = process.stdin
  const stdout = process.stdout
  let term: IPty
  try {
    term = pty.spawn(command, args, {
      name: env.TERM ?? 'xterm-256color',
      cols: stdout.columns || 80,
      rows: stdout.rows || 24,
      cwd: process.cwd(),
      env: env as Record<string, string>,
    })
  } catch (err) {
    throw new AgwError('bad_input', `cannot run ${command}: ${(err as Error).message}`)
  }
  const wasRaw = stdin.isTTY ? stdin.isRaw : false
  if (stdin.isTTY) stdin.setRawMode(true)
  stdin.resume()
  recorder?.start(stdout.columns || 80, stdout.rows || 24)
  const onInput = (d: Buffer) => {
    const text = d.toString('utf8')
    // Ctrl-C still goes to COMMAND (psql cancels its query); it also withdraws a held statement.
    if (text.includes('\x03')) onCtrlC?.()
    recorder?.input(text)
    term.write(text)
  }
  const onResize = () => {
    term.resize(stdout.columns || 80, stdout.rows || 24)
    recorder?.resize(stdout.columns || 80, stdout.rows || 24)
  }
  const forward = (sig: NodeJS.Signals) => term.kill(sig)
  stdin.on('data', onInput)
  stdout.on('resize', onResize)
  for (const s of ['SIGTERM', 'SIGHUP'] as const) process.on(s, forward)
  const data = term.onData((d) => {
    stdout.write(d)
    recorder?.output(d)
  })
  return await new Promise<Exit>((resolve) => {
    term.onExit(({ exitCode, signal }) => {
      data.dispose()
      stdin.off('data', onInput)
      stdout.off('resize', onResize)
      for (const s of ['SIGTERM', 'SIGHUP'] as const) process.off(s, forward)
      if (stdin.isTTY) stdin.setRawMode(wasRaw)
      stdin.pause()
      const name = signal ? Object.entries(SIGNAL_NUMBERS).find(([, n]) => n === signal)?.[0] ?? `signal ${signal}` : undefined
      resolve(name ? { code: null, signal: name } : { code: exitCode })
    })
  })
}
