/**
 * A tunnel endpoint over one WebSocket: binary data with backpressure, plus the JSON control
 * channel. Used on both sides (gateway and CLI) so flow control behaves the same way everywhere.
 *
 * Backpressure: `write()` returns false once more than `highWaterMark` bytes are queued and not yet
 * handed to the kernel; 'drain' fires when the queue falls below half of it. For the other direction
 * `pause()`/`resume()` stop reading the WebSocket's socket, so TCP flow control reaches the peer.
 */
import { EventEmitter } from 'node:events'
import type WebSocket from 'ws'

export interface ChannelEvents<In> {
  data: [Buffer]
  control: [In]
  drain: []
  close: [code: number, reason: string]
  error: [Error]
}

export interface ChannelOptions<In> {
  parseControl: (text: string) => In | undefined
  highWaterMark?: number
}

export class TunnelChannel<In, Out> extends EventEmitter<ChannelEvents<In>> {
  readonly ws: WebSocket
  private pending = 0
  private readonly hwm: number
  private needDrain = false
  private closed = false

  constructor(ws: WebSocket, opts: ChannelOptions<In>) {
    super()
    this.ws = ws
    this.hwm = opts.highWaterMark ?? 1024 * 1024
    ws.binaryType = 'nodebuffer'
    ws.on('message', (data, isBinary) => {
      if (this.closed) return
      if (isBinary) {
        this.emit('data', data as Buffer)
        return
      }
      const msg = opts.parseControl((data as Buffer).toString('utf8'))
      if (msg !== undefined) this.emit('control', msg)
    })
    ws.on('close', (code, reason) => {
      this.closed = true
      this.emit('close', code, reason.toString('utf8'))
    })
    ws.on('error', (err) => {
      if (this.listenerCount('error') > 0) this.emit('error', err)
    })
  }

  get isOpen(): boolean {
    return !this.closed && this.ws.readyState === this.ws.OPEN
  }

  /** Bytes queued for sending. */
  get queued(): number {
    return this.pending
  }

  /** Sends protocol bytes. Returns false when the caller should wait for 'drain'. */
  write(data: Buffer): boolean {
    if (!this.isOpen) return false
    const len = data.length
    this.pending += len
    this.ws.send(data, { binary: true }, () => {
      this.pending -= len
      if (this.needDrain && this.pending <= this.hwm / 2) {
        this.needDrain = false
        this.emit('drain')
      }
    })
    if (this.pending > this.hwm) {
      this.needDrain = true
      return false
    }
    return true
  }

  control(msg: Out): void {
    if (this.isOpen) this.ws.send(JSON.stringify(msg))
  }

  pause(): void {
    if (!this.closed) this.ws.pause()
  }

  resume(): void {
    if (!this.closed) this.ws.resume()
  }

  /** Closes after everything queued has been sent. */
  close(code = 1000, reason = ''): void {
    if (this.closed) return
    this.closed = true
    // A paused socket would never read the peer's close frame (the handshake would wait for ws's
    // 30 s timeout): read again, dropping whatever data still arrives.
    if (this.ws.isPaused) this.ws.resume()
    try {
      this.ws.close(code, reason.slice(0, 120))
    } catch {
      this.ws.terminate()
    }
  }
}
