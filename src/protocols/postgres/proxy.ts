/**
 * The per-connection data path between the client's tunnel and the target socket.
 *
 *   client bytes -> framer -> [per message: decode what matters, interceptor, recorder] -> target
 *   target bytes -> framer -> [per message: interceptor (masking), recorder] -> client
 *
 * Messages are handled one at a time and streamed: nothing waits for a whole result. Unchanged
 * messages are forwarded as the original bytes, and adjacent ones are sent as one slice of the
 * chunk they arrived in. Flow control: when one side cannot take more, the other is paused.
 */
import type { Socket } from 'node:net'
import { AgwError, describeError } from '../../errors.js'
import type { ConnectionOutcome, EngineContext } from '../engine.js'
import type {
  MessageFramer} from './codec/index.js';
import {
  BackendType,
  decodeBackend,
  decodeFrontend,
  encodeErrorResponse,
  FrontendType,
  type BackendMessage,
  type Frame,
  type FrontendMessage,
} from './codec/index.js'
import { paramText, QueryRecorder } from './recorder.js'
import type { TargetSession } from './target.js'

/** What the interceptor decides for one client message. */
export type FrontendVerdict = { action: 'forward' } | { action: 'replace'; messages: Buffer[] } | { action: 'respond'; messages: Buffer[] }

/** What the proxy lends its interceptor. */
export interface PgProxyIo {
  /** Sends whole server-format messages to the client now (between messages, never inside one). */
  sendToClient(message: Buffer): void
  /** Sends a whole client-format message to the server now, after what was already forwarded (while a message is held). */
  sendToServer(message: Buffer): void
  /** The server's ParameterStatus values from startup. */
  parameters: ReadonlyArray<[string, string]>
}

export interface PgInterceptor {
  /** Called once before the first message, with the proxy's services. */
  attach?(io: PgProxyIo): void
  /** Called for each client message after startup; a Promise holds the stream until it settles. */
  frontend?(msg: FrontendMessage, frame: Frame): FrontendVerdict | Promise<FrontendVerdict>
  /**
   * Called for each server message (DataRow and CopyData with `msg` undefined, for speed; every
   * other message decoded). Returns a replacement message, null to drop the message (an answer to
   * a message the interceptor itself sent), or undefined to pass it unchanged. The recorder sees
   * what the client gets. Throwing ends the connection.
   */
  backend?(msg: BackendMessage | undefined, frame: Frame): Buffer | null | undefined
  /** The client sent a CancelRequest for this connection. */
  cancel?(): void
  /** The connection ended. */
  close?(): void
}

export type PgInterceptorFactory = (ctx: EngineContext) => PgInterceptor | undefined

/** Collects outgoing bytes, merging adjacent slices of the same chunk so pass-through is zero-copy. */
class Outbox {
  private pieces: Buffer[] = []

  push(buf: Buffer): void {
    const last = this.pieces[this.pieces.length - 1]
    if (last && last.buffer === buf.buffer && last.byteOffset + last.length === buf.byteOffset) {
      this.pieces[this.pieces.length - 1] = Buffer.from(last.buffer, last.byteOffset, last.length + buf.length)
    } else {
      this.pieces.push(buf)
    }
  }

  take(): Buffer[] {
    const p = this.pieces
    this.pieces = []
    return p
  }

  get empty(): boolean {
    return this.pieces.length === 0
  }
}

const CLIENT_TYPES = new Set<number>([
  FrontendType.Bind,
  FrontendType.Close,
  FrontendType.CopyData,
  FrontendType.CopyDone,
  FrontendType.CopyFail,
  FrontendType.Describe,
  FrontendType.Execute,
  FrontendType.Flush,
  FrontendType.FunctionCall,
  FrontendType.Parse,
  FrontendType.Query,
  FrontendType.Sync,
  FrontendType.Terminate,
])

export class PgProxy {
  private readonly ctx: EngineContext
  private readonly target: Socket
  private readonly clientFramer: MessageFramer
  private readonly targetFramer: MessageFramer
  private readonly recorder: QueryRecorder
  private readonly interceptor: PgInterceptor | undefined
  private readonly inbox: Frame[] = []
  private inboxBytes = 0
  private readonly toTarget = new Outbox()
  private readonly toClient = new Outbox()
  private holding = false
  private terminated = false
  private finished = false
  private copyOut = false
  private resolveRun!: (o: ConnectionOutcome) => void

  constructor(ctx: EngineContext, target: TargetSession, clientFramer: MessageFramer, interceptor: PgInterceptor | undefined) {
    this.ctx = ctx
    this.target = target.socket
    this.clientFramer = clientFramer
    this.targetFramer = target.framer
    this.interceptor = interceptor
    this.recorder = new QueryRecorder(ctx.record, ctx.connection.recording)
    interceptor?.attach?.({
      sendToClient: (m) => {
        if (this.finished) return
        this.toClient.push(m)
        this.flushClient()
      },
      sendToServer: (m) => {
        if (this.finished) return
        this.toTarget.push(m)
        this.flushTarget()
      },
      parameters: target.parameters,
    })
  }

  run(initial: Frame[]): Promise<ConnectionOutcome> {
    const { channel } = this.ctx
    return new Promise<ConnectionOutcome>((resolve) => {
      this.resolveRun = resolve
      channel.on('data', (chunk) => this.onClientData(chunk))
      channel.on('close', () => this.finish({ reason: 'client_closed' }))
      channel.on('drain', () => this.target.resume())
      channel.on('control', (msg) => {
        if (msg.t === 'eof') this.endTarget()
      })
      this.target.on('data', (chunk: Buffer) => this.onTargetData(chunk))
      this.target.on('drain', () => channel.resume())
      this.target.on('error', (err) => this.targetGone(describeError(err)))
      this.target.on('close', () => this.targetGone('the target closed the connection'))
      this.ctx.shutdown.addEventListener('abort', this.onShutdown, { once: true })
      this.inbox.push(...initial)
      this.pumpClient()
    })
  }

  // ---------------- client -> target ----------------

  private onClientData(chunk: Buffer): void {
    if (this.finished) return
    try {
      this.clientFramer.push(chunk, (f) => {
        this.inbox.push(f)
        this.inboxBytes += f.raw.length
      })
    } catch (err) {
      this.protocolViolation(describeError(err))
      return
    }
    // While a message is held, the client is still read (so a client that goes away is noticed and
    // its held statement withdrawn), up to a limit; beyond it the client is paused.
    if (this.holding && this.inboxBytes > HOLD_BUFFER_BYTES) this.ctx.channel.pause()
    this.pumpClient()
  }

  private pumpClient(): void {
    if (this.holding || this.finished) return
    while (this.inbox.length > 0) {
      const frame = this.inbox.shift() as Frame
      this.inboxBytes -= frame.raw.length
      let verdict: FrontendVerdict | Promise<FrontendVerdict>
      let msg: FrontendMessage
      try {
        if (!CLIENT_TYPES.has(frame.type)) {
          throw new AgwError('protocol', `unexpected message type "${String.fromCharCode(frame.type)}" from the client`)
        }
        msg = decodeFrontend(frame)
        this.observeClient(msg)
        verdict = this.interceptor?.frontend ? this.interceptor.frontend(msg, frame) : FORWARD
      } catch (err) {
        this.protocolViolation(describeError(err))
        return
      }
      if (verdict instanceof Promise) {
        this.flushTarget()
        this.holding = true
        if (this.inboxBytes > HOLD_BUFFER_BYTES) this.ctx.channel.pause()
        verdict.then(
          (v) => {
            this.holding = false
            this.apply(v, frame)
            this.ctx.channel.resume()
            this.pumpClient()
          },
          (err: unknown) => this.protocolViolation(describeError(err)),
        )
        return
      }
      this.apply(verdict, frame)
      if (this.finished) return
    }
    this.flushTarget()
  }

  private apply(v: FrontendVerdict, frame: Frame): void {
    if (v.action === 'forward') this.toTarget.push(frame.raw)
    else if (v.action === 'replace') for (const m of v.messages) this.toTarget.push(m)
    else {
      for (const m of v.messages) this.toClient.push(m)
      this.flushClient()
    }
  }

  /** What the recorder needs from client messages. */
  private observeClient(msg: FrontendMessage): void {
    switch (msg.type) {
      case 'Query':
        this.recorder.onQuery(msg.sql)
        break
      case 'Parse':
        this.recorder.onParse(msg.name, msg.sql)
        break
      case 'Bind':
        this.recorder.onBind(
          msg.portal,
          msg.statement,
          msg.params.map((p, i) => paramText(p, msg.paramFormats.length === 1 ? (msg.paramFormats[0] as number) : (msg.paramFormats[i] ?? 0))),
          msg.resultFormats,
        )
        break
      case 'Execute':
        this.recorder.onExecute(msg.portal, msg.maxRows)
        break
      case 'Close':
        this.recorder.onClose(msg.target, msg.name)
        break
      case 'FunctionCall':
        this.recorder.onFunctionCall(
          msg.oid,
          msg.args.map((a, i) => paramText(a, msg.argFormats.length === 1 ? (msg.argFormats[0] as number) : (msg.argFormats[i] ?? 0))),
        )
        break
      case 'CopyData':
        this.recorder.onCopyData(msg.data, false)
        break
      case 'Terminate':
        this.terminated = true
        break
      default:
        break
    }
  }

  private flushTarget(): void {
    if (this.toTarget.empty || this.finished) return
    const pieces = this.toTarget.take()
    let ok = true
    if (pieces.length === 1) ok = this.target.write(pieces[0] as Buffer)
    else {
      this.target.cork()
      for (const p of pieces) ok = this.target.write(p)
      this.target.uncork()
    }
    if (!ok) this.ctx.channel.pause()
    if (this.terminated) this.endTarget()
  }

  // ---------------- target -> client ----------------

  private onTargetData(chunk: Buffer): void {
    if (this.finished) return
    try {
      this.targetFramer.push(chunk, (f) => this.onTargetFrame(f))
    } catch (err) {
      this.targetGone(`the target broke the protocol: ${describeError(err)}`)
      return
    }
    this.flushClient()
  }

  private onTargetFrame(f: Frame): void {
    const rec = this.recorder
    const ic = this.interceptor
    let out: Buffer | null | undefined
    switch (f.type) {
      case BackendType.DataRow: {
        out = ic?.backend?.(undefined, f)
        if (out === null) return
        if (out) {
          rec.onDataRow(out.subarray(5))
          this.toClient.push(out)
        } else {
          rec.onDataRow(f.body)
          this.toClient.push(f.raw)
        }
        return
      }
      case BackendType.CopyData: {
        out = ic?.backend?.(undefined, f)
        if (out === null) return
        const data = out ? out.subarray(5) : f.body
        if (this.copyOut) rec.onCopyData(data, true)
        this.toClient.push(out ?? f.raw)
        return
      }
      case BackendType.BackendKeyData:
        // Never pass the target's real key on.
        return
      default:
        break
    }
    const decoded = decodeBackend(f)
    out = ic?.backend?.(decoded, f)
    if (out === null) return
    // The recorder sees what the client gets: a replaced message is read back from its bytes.
    const msg = out ? decodeBackend({ type: out[0] as number, body: out.subarray(5) }) : decoded
    switch (msg.type) {
      case 'RowDescription':
        rec.onRowDescription(msg.fields)
        break
      case 'CommandComplete':
        rec.onComplete(msg.tag)
        this.copyOut = false
        break
      case 'EmptyQueryResponse':
        rec.onComplete(null)
        break
      case 'PortalSuspended':
        rec.onComplete(null, true)
        break
      case 'FunctionCallResponse':
        rec.onComplete('FUNCTION CALL')
        break
      case 'ErrorResponse':
        rec.onError(msg.fields)
        this.copyOut = false
        break
      case 'ReadyForQuery':
        rec.onReady()
        break
      case 'CopyOutResponse':
      case 'CopyBothResponse':
        this.copyOut = true
        break
      default:
        break
    }
    this.toClient.push(out ?? f.raw)
  }

  private flushClient(): void {
    if (this.toClient.empty) return
    let ok = true
    for (const p of this.toClient.take()) ok = this.ctx.channel.write(p)
    if (!ok) this.target.pause()
  }

  // ---------------- endings ----------------

  private endTarget(): void {
    if (!this.target.destroyed && !this.target.writableEnded) this.target.end()
  }

  private protocolViolation(reason: string): void {
    if (this.finished) return
    this.ctx.log.warn({ reason }, 'client protocol violation')
    this.ctx.channel.write(encodeErrorResponse({ severity: 'FATAL', code: '08P01', message: `agw: ${reason}` }))
    this.finish({ reason: 'error', error: `client protocol violation: ${reason}` })
  }

  private targetGone(reason: string): void {
    if (this.finished) return
    if (this.terminated) {
      this.finish({ reason: 'client_closed' })
      return
    }
    const message = `agw: connection "${this.ctx.connection.name}": ${reason}`
    this.flushClient()
    // The control message first: the CLI must know why before the tool sees the error and exits.
    this.ctx.channel.control({ t: 'error', code: 'unreachable', message })
    this.ctx.channel.write(encodeErrorResponse({ severity: 'FATAL', code: '57P01', message }))
    this.finish({ reason: 'target_closed', error: reason })
  }

  private shutdown(): void {
    if (this.finished) return
    this.ctx.channel.write(encodeErrorResponse({ severity: 'FATAL', code: '57P01', message: 'agw: the gateway is shutting down' }))
    this.finish({ reason: 'shutdown' })
  }

  private readonly onShutdown = () => this.shutdown()

  private finish(outcome: ConnectionOutcome): void {
    if (this.finished) return
    this.finished = true
    this.ctx.shutdown.removeEventListener('abort', this.onShutdown)
    this.interceptor?.close?.()
    if (!this.target.destroyed) {
      if (this.target.isPaused()) {
        // The target is blocked sending a result nobody will read: drop the connection now.
        this.target.destroy()
      } else {
        if (!this.terminated && this.target.writable) this.target.write(Buffer.from([0x58, 0, 0, 0, 4]))
        this.target.end()
        setTimeout(() => this.target.destroy(), 2000).unref()
      }
    }
    this.ctx.channel.close(1000, outcome.reason)
    this.resolveRun(outcome)
  }
}

const FORWARD: FrontendVerdict = { action: 'forward' }
/** Client bytes kept while a message is held before the client is paused. */
const HOLD_BUFFER_BYTES = 1024 * 1024
