/**
 * The agent's own terminal: what `agw exec` records of the wrapped command's pseudo-terminal, as
 * asciicast-style chunks (output, input when asked for, resizes) that go to the gateway as the
 * session's `terminal.output` events, masked before they leave this machine.
 *
 * Each chunk gets a number and is written to the local cache first; the gateway acknowledges a
 * chunk once it is in its store, and only then does the cache mark it sent. What is not
 * acknowledged (the gateway went away) is sent again at the end of the run or by a later `agw exec`.
 */
import { AgwError, describeError } from '../errors.js'
import type { SessionCache } from './cache.js'
import type { GatewayClient } from './gateway-client.js'
import type { TerminalFrame } from './replay-format.js'

/** Masks what a terminal shows before it is recorded (content detectors: src/policy/masking/). */
export interface TextMasker {
  mask(text: string): string
}

/** Masks nothing: used until the policy's content detectors are wired in. */
export const identityMasker: TextMasker = { mask: (text) => text }

/** Where chunks go live: the session socket. */
export interface TerminalChannel {
  readonly isOpen: boolean
  send(frame: TerminalFrame): void
  onAck(listener: (n: number) => void): void
}

export interface RecorderOptions {
  sessionId: string
  channel: TerminalChannel
  cache?: SessionCache | undefined
  masker?: TextMasker
  /** Record keystrokes too (off by default: a typed password would be recorded, masked or not). */
  input?: boolean
  /** Seconds since the recording started (injected in tests). */
  clock?: () => number
}

/** Output is cut at line ends so a detector sees whole lines; a partial line waits this long at most. */
const HOLD_MS = 50
const MAX_CHUNK = 16 * 1024

export class TerminalRecorder {
  private n = 0
  private buffer = ''
  private bufferTime = 0
  private timer: NodeJS.Timeout | undefined
  private readonly unacked = new Set<number>()
  private ackWaiters: (() => void)[] = []
  private readonly masker: TextMasker
  private readonly clock: () => number

  constructor(private readonly opts: RecorderOptions) {
    this.masker = opts.masker ?? identityMasker
    const started = process.hrtime.bigint()
    this.clock = opts.clock ?? (() => Number(process.hrtime.bigint() - started) / 1e9)
    opts.channel.onAck((n) => {
      if (!this.unacked.delete(n)) return
      this.opts.cache?.ack(this.opts.sessionId, [n])
      if (this.unacked.size === 0) for (const w of this.ackWaiters.splice(0)) w()
    })
  }

  start(cols: number, rows: number): void {
    this.emit('r', this.clock(), `${cols}x${rows}`)
  }

  output(data: string): void {
    if (this.buffer === '') this.bufferTime = this.clock()
    this.buffer += data
    const nl = this.buffer.lastIndexOf('\n')
    if (this.buffer.length >= MAX_CHUNK) this.flushOutput()
    else if (nl >= 0) {
      const rest = this.buffer.slice(nl + 1)
      this.buffer = this.buffer.slice(0, nl + 1)
      this.flushOutput()
      if (rest) {
        this.buffer = rest
        this.bufferTime = this.clock()
      }
    }
    if (this.buffer && !this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined
        this.flushOutput()
      }, HOLD_MS)
    }
  }

  input(data: string): void {
    if (!this.opts.input) return
    this.flushOutput()
    this.emit('i', this.clock(), data)
  }

  resize(cols: number, rows: number): void {
    this.flushOutput()
    this.emit('r', this.clock(), `${cols}x${rows}`)
  }

  private flushOutput(): void {
    if (this.timer) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
    if (!this.buffer) return
    const data = this.buffer
    this.buffer = ''
    this.emit('o', this.bufferTime, data)
  }

  private emit(kind: TerminalFrame['kind'], time: number, raw: string): void {
    const frame: TerminalFrame = { n: ++this.n, time: Math.round(time * 1e6) / 1e6, kind, data: kind === 'r' ? raw : this.masker.mask(raw) }
    try {
      this.opts.cache?.put(this.opts.sessionId, frame)
    } catch {
      // A full disk must not stop the agent's terminal; the gateway copy still counts.
    }
    this.unacked.add(frame.n)
    if (this.opts.channel.isOpen) this.opts.channel.send(frame)
  }

  /** Flushes what is buffered; waits up to `waitMs` for the gateway to acknowledge everything. */
  async finish(waitMs = 3000): Promise<number> {
    this.flushOutput()
    if (this.unacked.size > 0 && this.opts.channel.isOpen) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, waitMs)
        this.ackWaiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
    return this.unacked.size
  }

  get chunks(): number {
    return this.n
  }
}

/** POSTs a session's unacknowledged chunks to the gateway; returns the numbers it acknowledged. */
export async function uploadChunks(client: GatewayClient, sessionId: string, chunks: TerminalFrame[]): Promise<number[]> {
  const acked: number[] = []
  for (let i = 0; i < chunks.length; i += 1000) {
    const body = JSON.stringify({ chunks: chunks.slice(i, i + 1000) })
    let res: Response
    try {
      res = await fetch(new URL(`/v1/sessions/${sessionId}/terminal`, client.url), {
        method: 'POST',
        headers: { authorization: `Bearer ${await client.tokens.getToken()}`, 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(15_000),
      })
    } catch (err) {
      throw new AgwError('unreachable', `cannot reach the gateway at ${client.url.origin}: ${describeError((err as Error).cause ?? err)}`)
    }
    const text = await res.text()
    if (!res.ok) throw new AgwError(res.status === 401 ? 'unauthenticated' : res.status === 403 ? 'forbidden' : 'unreachable', `gateway: ${text || `HTTP ${res.status}`}`)
    acked.push(...((JSON.parse(text) as { acked?: number[] }).acked ?? []))
  }
  return acked
}

/**
 * Sends what the cache still holds for this gateway (sessions cut off by an outage). Best effort:
 * what fails stays for next time. Returns how many chunks were delivered.
 */
export async function sendPending(client: GatewayClient, cache: SessionCache, opts: { only?: string; except?: string } = {}): Promise<number> {
  let sent = 0
  for (const p of cache.pending(client.url.origin, opts.except)) {
    if (opts.only && p.sessionId !== opts.only) continue
    if (p.chunks.length === 0) continue
    try {
      const acked = await uploadChunks(client, p.sessionId, p.chunks)
      cache.ack(p.sessionId, acked)
      sent += acked.length
    } catch {
      // Still unreachable, or not ours to send with this identity: kept for next time.
    }
  }
  return sent
}

/** What `agw exec` needs of its session to record the terminal on it. */
export interface RecordedSession {
  readonly id: string
  readonly isOpen: boolean
  terminal(kind: 'o' | 'i' | 'r', time: number, data: string, n?: number): void
  onControl(listener: (msg: { t: string; n?: number }) => void): void
}

export interface TerminalRecording {
  recorder: TerminalRecorder
  /** Flushes, waits for acknowledgements, sends what is left by POST, and says what stays cached. */
  finish(): Promise<void>
}

/**
 * Starts recording the terminal of `session`: opens the local cache, and sends what earlier runs
 * left in it (in the background).
 */
export async function startTerminalRecording(
  client: GatewayClient,
  session: RecordedSession,
  opts: { masker?: TextMasker; input?: boolean; env?: NodeJS.ProcessEnv; say: (line: string) => void; openCache: (env: NodeJS.ProcessEnv, say: (line: string) => void) => Promise<SessionCache | undefined> },
): Promise<TerminalRecording> {
  const cache = await opts.openCache(opts.env ?? process.env, opts.say)
  cache?.startSession(session.id, client.url.origin)
  const earlier = cache ? sendPending(client, cache, { except: session.id }).catch(() => 0) : Promise.resolve(0)
  const channel: TerminalChannel = {
    get isOpen() {
      return session.isOpen
    },
    send: (f) => session.terminal(f.kind, f.time, f.data, f.n),
    onAck: (listener) =>
      session.onControl((msg) => {
        if (msg.t === 'terminal.ack' && typeof msg.n === 'number') listener(msg.n)
      }),
  }
  const recorder = new TerminalRecorder({
    sessionId: session.id,
    channel,
    cache,
    ...(opts.masker ? { masker: opts.masker } : {}),
    ...(opts.input ? { input: true } : {}),
  })
  return {
    recorder,
    async finish() {
      const left = await recorder.finish()
      await earlier
      if (left > 0 && cache) {
        await sendPending(client, cache, { only: session.id })
        const still = cache.pendingCount(session.id)
        if (still > 0) opts.say(`agw: ${still} terminal chunk(s) of this session could not reach the gateway; they are kept (encrypted) in ${cache.path} and sent by the next \`agw exec\``)
      }
      cache?.close()
    },
  }
}
