/**
 * Child processes for the benchmark: every process it starts is tracked here, waited for, and
 * stopped on the way out. This container's PID 1 does not reap orphans, so nothing is left to it:
 * `stop()` sends SIGTERM, waits, and escalates to SIGKILL; `run()` waits for exit even on timeout.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process'

export interface Exited {
  code: number | null
  signal: NodeJS.Signals | null
}

const live = new Set<Proc>()

export interface ProcOptions {
  env?: NodeJS.ProcessEnv
  cwd?: string
  stdio?: StdioOptions
}

/** A started child process whose exit is always observed. */
export class Proc {
  readonly child: ChildProcess
  readonly exited: Promise<Exited>
  private done: Exited | undefined

  constructor(
    readonly name: string,
    command: string,
    args: readonly string[],
    opts: ProcOptions = {},
  ) {
    this.child = spawn(command, args, {
      env: opts.env ?? process.env,
      ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
      stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'],
    })
    live.add(this)
    this.exited = new Promise<Exited>((resolve) => {
      const finish = (e: Exited) => {
        if (this.done) return
        this.done = e
        live.delete(this)
        resolve(e)
      }
      this.child.once('close', (code, signal) => finish({ code, signal }))
      // A spawn failure (ENOENT) may come without 'close'.
      this.child.once('error', () => {
        if (this.child.pid === undefined) finish({ code: null, signal: null })
      })
    })
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.name} did not start`)
    return this.child.pid
  }

  get running(): boolean {
    return this.done === undefined
  }

  signal(sig: NodeJS.Signals): void {
    if (this.done === undefined) this.child.kill(sig)
  }

  /** `signal` (SIGTERM), then SIGKILL after `graceMs`; resolves once the process has exited. */
  async stop(graceMs = 10_000, signal: NodeJS.Signals = 'SIGTERM'): Promise<Exited> {
    if (this.done) return this.done
    this.child.kill(signal)
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs)
    try {
      return await this.exited
    } finally {
      clearTimeout(timer)
    }
  }
}

export interface RunOptions extends ProcOptions {
  /** Kill (SIGTERM, then SIGKILL) after this long. */
  timeoutMs?: number
  /** Written to stdin, which is then closed. */
  input?: string
  /** Keep at most this many characters of stdout (the tail). Default 1 MiB. */
  maxOutput?: number
}

export interface RunResult extends Exited {
  stdout: string
  stderr: string
  timedOut: boolean
  ms: number
}

function appendTail(acc: string, chunk: string, max: number): string {
  const s = acc + chunk
  return s.length > max ? s.slice(s.length - max) : s
}

/** Runs a command to completion and collects its output. Never rejects for a non-zero exit. */
export async function run(command: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const max = opts.maxOutput ?? 1024 * 1024
  const started = process.hrtime.bigint()
  const p = new Proc(command, command, args, { ...opts, stdio: ['pipe', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  p.child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout = appendTail(stdout, d, max)))
  p.child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = appendTail(stderr, d, 64 * 1024)))
  p.child.stdin?.on('error', () => undefined)
  p.child.stdin?.end(opts.input ?? '')
  let spawnError: Error | undefined
  p.child.once('error', (err) => (spawnError = err))
  let timedOut = false
  let timer: NodeJS.Timeout | undefined
  if (opts.timeoutMs !== undefined) {
    timer = setTimeout(() => {
      timedOut = true
      void p.stop(5_000)
    }, opts.timeoutMs)
  }
  const exit = await p.exited
  if (timer) clearTimeout(timer)
  if (spawnError) stderr += `${stderr ? '\n' : ''}${spawnError.message}`
  return { ...exit, stdout, stderr, timedOut, ms: Number(process.hrtime.bigint() - started) / 1e6 }
}

/** Like run(), but throws with the command's stderr when it does not exit 0. */
export async function runOk(command: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await run(command, args, opts)
  if (r.code !== 0) {
    const why = r.timedOut ? 'timed out' : r.signal ? `was killed by ${r.signal}` : `exited ${r.code}`
    throw new Error(`${command} ${why}: ${(r.stderr || r.stdout).trim().slice(-2000)}`)
  }
  return r
}

/** Interrupts every running child (Ctrl-C on the benchmark). */
export function signalAll(sig: NodeJS.Signals): void {
  for (const p of live) p.signal(sig)
}

/** Stops every child still running and waits for all of them. */
export async function stopAll(graceMs = 10_000): Promise<void> {
  await Promise.all([...live].map((p) => p.stop(graceMs)))
}

/** Resolves with the first line of a stream that matches, or rejects when the process exits first. */
export function waitForLine(p: Proc, stream: 'stdout' | 'stderr', match: RegExp, timeoutMs: number, onData?: (chunk: string) => void): Promise<RegExpExecArray> {
  const s = p.child[stream]
  if (!s) return Promise.reject(new Error(`${p.name}: ${stream} is not a pipe`))
  return new Promise((resolve, reject) => {
    let buf = ''
    let seen = '' // the tail of what was read, for the error message
    let found = false
    const timer = setTimeout(() => finish(new Error(`${p.name}: no line matching ${match} within ${timeoutMs / 1000} s; last output: ${seen}${buf.slice(-500)}`)), timeoutMs)
    const finish = (result: Error | RegExpExecArray) => {
      if (found) return
      found = true
      clearTimeout(timer)
      if (result instanceof Error) reject(result)
      else resolve(result)
    }
    s.setEncoding('utf8')
    s.on('data', (chunk: string) => {
      onData?.(chunk)
      if (found) return
      buf += chunk
      const lines = buf.split('\n')
      buf = lines.pop() ?? '' // an incomplete last line waits for the rest
      for (const line of lines) {
        seen = (seen + line + '\n').slice(-2000)
        const m = match.exec(line)
        if (m) return finish(m)
      }
    })
    void p.exited.then((e) => finish(new Error(`${p.name} exited (${e.signal ?? e.code}) before it was ready; last output: ${seen}${buf.slice(-500)}`)))
  })
}
