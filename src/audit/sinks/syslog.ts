/**
 * Syslog sink: RFC 5424 messages (formats/rfc5424.ts) over UDP (RFC 5426), TCP with octet-counting
 * framing (RFC 6587) or TLS (RFC 5425).
 *
 * What "acknowledged" means per transport:
 * - TCP/TLS: the batch was written to the connection and flushed to the kernel, and the connection
 *   was still up afterwards. Plain syslog has no application-level acknowledgement, so the bytes of
 *   the last moments before a receiver crashes can sit unread in socket buffers; to cover that the
 *   sink keeps the most recent frames it wrote (up to `replayBytes`) and, when a connection ends
 *   without the sink closing it, sends them again first on the next connection. Duplicates carry the
 *   same event id.
 * - UDP: the datagram was handed to the kernel. UDP cannot tell whether anything arrived; use it
 *   only where losing messages is acceptable.
 * A receiver that is down (connection refused, reset, timeout) fails the batch, and the runner
 * retries it with backoff.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { readFileSync } from 'node:fs'
import { connect as netConnect, isIP, type Socket } from 'node:net'
import { hostname as osHostname } from 'node:os'
import { connect as tlsConnect } from 'node:tls'
import { AgwError, describeError } from '../../errors.js'
import type { AuditEvent } from '../../recording/events.js'
import { formatRfc5424, octetFrame } from '../formats/rfc5424.js'
import type { Sink } from './sink.js'
import { SinkError } from './sink.js'

export interface SyslogTlsOptions {
  /** CA certificates (PEM file) that sign the receiver's certificate; the system CAs otherwise. */
  ca?: string
  /** Client certificate and key (PEM files) for receivers that require one. */
  cert?: string
  key?: string
  /** The name the receiver's certificate must carry, when it differs from the address's host. */
  servername?: string
}

export interface SyslogSinkOptions {
  name: string
  /** udp://HOST:PORT, tcp://HOST:PORT or tls://HOST:PORT */
  address: string
  tls?: SyslogTlsOptions
  /** HOSTNAME in each message (default: this machine's host name). */
  hostname?: string
  /** Longest message in bytes; larger payloads are trimmed (default 8192, what rsyslog accepts by default). */
  maxMessageBytes?: number
  /** Connect and write timeout (default 10 s). */
  timeoutMs?: number
  /** Recent frames kept to resend after a connection that broke (default 1 MiB). */
  replayBytes?: number
}

export const DEFAULT_SYSLOG_MAX_MESSAGE = 8192

type Transport = 'udp' | 'tcp' | 'tls'

export function parseSyslogAddress(address: string): { transport: Transport; host: string; port: number } {
  const m = /^(udp|tcp|tls):\/\/(?:\[([^\]]+)\]|([^:/]+)):(\d{1,5})\/?$/.exec(address)
  const port = Number(m?.[4])
  if (!m || !(port >= 1 && port <= 65535)) throw new AgwError('bad_input', `syslog address "${address}" is not udp://, tcp:// or tls://HOST:PORT`)
  return { transport: m[1] as Transport, host: (m[2] ?? m[3]) as string, port }
}

export class SyslogSink implements Sink {
  readonly name: string
  readonly maxBatch = 500
  private readonly transport: Transport
  private readonly host: string
  private readonly port: number
  private readonly hostname: string
  private readonly maxMessageBytes: number
  private readonly timeoutMs: number
  private readonly replayBytes: number
  private readonly tlsFiles: { ca?: Buffer; cert?: Buffer; key?: Buffer; servername?: string }
  private sock: Socket | undefined
  private udp: UdpSocket | undefined
  /** The last connection ended without close() ending it: resend `recent` first. */
  private broken = false
  private recent: Buffer[] = []
  private recentBytes = 0
  private closing = false

  constructor(opts: SyslogSinkOptions) {
    this.name = opts.name
    const { transport, host, port } = parseSyslogAddress(opts.address)
    this.transport = transport
    this.host = host
    this.port = port
    this.hostname = opts.hostname ?? osHostname()
    this.maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_SYSLOG_MAX_MESSAGE
    this.timeoutMs = opts.timeoutMs ?? 10_000
    this.replayBytes = opts.replayBytes ?? 1024 * 1024
    this.tlsFiles = {}
    if (opts.tls) {
      const read = (what: string, path: string) => {
        try {
          return readFileSync(path)
        } catch (err) {
          throw new AgwError('bad_input', `cannot read the syslog sink's TLS ${what} ${path}: ${describeError(err)}`)
        }
      }
      if (opts.tls.ca) this.tlsFiles.ca = read('CA file', opts.tls.ca)
      if (opts.tls.cert) this.tlsFiles.cert = read('certificate', opts.tls.cert)
      if (opts.tls.key) this.tlsFiles.key = read('key', opts.tls.key)
      if (opts.tls.servername) this.tlsFiles.servername = opts.tls.servername
    }
  }

  private get where(): string {
    return `${this.transport}://${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`
  }

  private message(e: AuditEvent): string {
    return formatRfc5424(e, { hostname: this.hostname, maxBytes: this.maxMessageBytes })
  }

  async deliver(events: readonly AuditEvent[], signal: AbortSignal): Promise<void> {
    if (this.transport === 'udp') return this.deliverUdp(events, signal)
    const frames = events.map((e) => octetFrame(this.message(e)))
    const sock = await this.connect(signal)
    // After a connection that broke, the frames written last on it go first (they may be lost).
    const replay = this.broken ? this.recent : []
    const all = replay.length > 0 ? [...replay, ...frames] : frames
    this.broken = false
    try {
      await this.write(sock, Buffer.concat(all), signal)
      // Let a close or reset that is already on its way arrive before calling this delivered.
      await new Promise((r) => setImmediate(r))
      if (this.sock !== sock) throw new SinkError(`the syslog receiver at ${this.where} closed the connection`)
    } catch (err) {
      this.broken = true
      throw err instanceof SinkError ? err : new SinkError(`cannot send to syslog at ${this.where}: ${describeError(err)}`, { cause: err })
    }
    if (replay.length > 0) {
      this.recent = []
      this.recentBytes = 0
    }
    this.remember(all)
  }

  /** Keeps the newest frames written, up to replayBytes (at least the last one). */
  private remember(frames: Buffer[]): void {
    for (const f of frames) {
      this.recent.push(f)
      this.recentBytes += f.length
    }
    while (this.recentBytes > this.replayBytes && this.recent.length > 1) this.recentBytes -= (this.recent.shift() as Buffer).length
  }

  private connect(signal: AbortSignal): Promise<Socket> {
    if (this.sock) return Promise.resolve(this.sock)
    return new Promise((resolve, reject) => {
      const sock =
        this.transport === 'tls'
          ? tlsConnect({
              host: this.host,
              port: this.port,
              servername: this.tlsFiles.servername ?? (isIP(this.host) ? undefined : this.host),
              ...(this.tlsFiles.ca ? { ca: this.tlsFiles.ca } : {}),
              ...(this.tlsFiles.cert ? { cert: this.tlsFiles.cert } : {}),
              ...(this.tlsFiles.key ? { key: this.tlsFiles.key } : {}),
              minVersion: 'TLSv1.2',
            })
          : netConnect({ host: this.host, port: this.port })
      const fail = (err: unknown) => {
        cleanup()
        sock.destroy()
        reject(new SinkError(`cannot connect to syslog at ${this.where}: ${describeError(err)}`, { cause: err }))
      }
      const onAbort = () => fail(new Error('the gateway is stopping'))
      const timer = setTimeout(() => fail(new Error(`no connection after ${this.timeoutMs} ms`)), this.timeoutMs)
      const cleanup = () => {
        clearTimeout(timer)
        signal.removeEventListener('abort', onAbort)
        sock.off('error', fail)
      }
      signal.addEventListener('abort', onAbort, { once: true })
      sock.once('error', fail)
      sock.once(this.transport === 'tls' ? 'secureConnect' : 'connect', () => {
        cleanup()
        sock.setNoDelay(true)
        sock.setKeepAlive(true, 30_000)
        const dead = () => {
          if (this.sock === sock) {
            this.sock = undefined
            if (!this.closing) this.broken = true
          }
          sock.destroy()
        }
        // A syslog receiver never sends anything: reading only serves to notice its FIN.
        sock.on('data', () => undefined)
        sock.on('end', dead)
        sock.on('close', dead)
        sock.on('error', dead)
        this.sock = sock
        resolve(sock)
      })
    })
  }

  private write(sock: Socket, buf: Buffer, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      let settled = false
      const finish = (err?: Error) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        signal.removeEventListener('abort', onAbort)
        if (err) {
          sock.destroy()
          reject(err)
        } else resolve()
      }
      const onAbort = () => finish(new SinkError('the gateway is stopping'))
      const timer = setTimeout(() => finish(new SinkError(`the syslog receiver at ${this.where} took no data for ${this.timeoutMs} ms`)), this.timeoutMs)
      signal.addEventListener('abort', onAbort, { once: true })
      sock.write(buf, (err) => finish(err ? new SinkError(`writing to syslog at ${this.where} failed: ${describeError(err)}`, { cause: err }) : undefined))
    })
  }

  private async deliverUdp(events: readonly AuditEvent[], signal: AbortSignal): Promise<void> {
    const udp = await this.udpSocket()
    for (const e of events) {
      if (signal.aborted) throw new SinkError('the gateway is stopping')
      const msg = Buffer.from(this.message(e), 'utf8')
      await new Promise<void>((resolve, reject) => {
        udp.send(msg, (err) => {
          if (!err) return resolve()
          this.closeUdp()
          reject(new SinkError(`cannot send to syslog at ${this.where}: ${describeError(err)}`, { cause: err }))
        })
      })
    }
  }

  private udpSocket(): Promise<UdpSocket> {
    if (this.udp) return Promise.resolve(this.udp)
    return new Promise((resolve, reject) => {
      const udp = createSocket(isIP(this.host) === 6 ? 'udp6' : 'udp4')
      udp.once('error', (err) => {
        udp.close()
        reject(new SinkError(`cannot reach syslog at ${this.where}: ${describeError(err)}`, { cause: err }))
      })
      // A connected UDP socket reports ICMP port unreachable as an error on a later send.
      udp.connect(this.port, this.host, () => {
        udp.removeAllListeners('error')
        udp.on('error', () => this.closeUdp())
        udp.unref()
        this.udp = udp
        resolve(udp)
      })
    })
  }

  private closeUdp(): void {
    const udp = this.udp
    this.udp = undefined
    try {
      udp?.close()
    } catch {
      // already closed
    }
  }

  async close(): Promise<void> {
    this.closing = true
    this.closeUdp()
    const sock = this.sock
    this.sock = undefined
    if (!sock) return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        sock.destroy()
        resolve()
      }, 1000)
      sock.once('close', () => {
        clearTimeout(timer)
        resolve()
      })
      sock.end()
    })
  }
}
