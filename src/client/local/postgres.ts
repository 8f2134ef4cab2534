/**
 * The local end of a PostgreSQL connection. The local agent checks the one-time password it gave
 * the tool (SCRAM-SHA-256, so even on loopback the secret is never sent), answers SSL and GSS
 * requests with 'N', then passes the StartupMessage and everything after it through the tunnel.
 * The gateway answers with AuthenticationOk and the rest of the startup: every decision is its.
 */
import type { Socket } from 'node:net'
import { AgwError, describeError } from '../../errors.js'
import { ScramServer } from '../../protocols/postgres/auth.js'
import {
  decodeSASLInitialResponse,
  decodeSASLResponse,
  decodeStartupPhase,
  encodeBackend,
  encodeErrorResponse,
  MessageFramer,
  type Frame,
} from '../../protocols/postgres/codec/index.js'
import type { GatewayChannel } from '../gateway-client.js'
import type { LocalProtocol } from './listener.js'
import { pipeSocket } from './pipe.js'

const STARTUP_TIMEOUT_MS = 15_000

function fatal(code: string, message: string): Buffer {
  return encodeErrorResponse({ severity: 'FATAL', code, message })
}

/** Reads frames from the socket one at a time during the handshake. */
class FrameReader {
  private readonly queue: Frame[] = []
  private waiter: ((f: Frame | Error) => void) | undefined
  private failure: Error | undefined

  constructor(
    private readonly socket: Socket,
    readonly framer: MessageFramer,
  ) {
    socket.on('data', this.onData)
    socket.once('close', this.onClose)
  }

  private readonly onData = (chunk: Buffer) => {
    try {
      this.framer.push(chunk, (f) => this.queue.push(f))
    } catch (err) {
      this.fail(err as Error)
      return
    }
    this.deliver()
  }

  private readonly onClose = () => this.fail(new AgwError('protocol', 'the client closed the connection during startup'))

  private fail(err: Error) {
    this.failure ??= err
    this.deliver()
  }

  private deliver() {
    if (!this.waiter) return
    const f = this.queue.shift() ?? this.failure
    if (!f) return
    const w = this.waiter
    this.waiter = undefined
    w(f)
  }

  next(): Promise<Frame> {
    return new Promise<Frame>((resolve, reject) => {
      this.waiter = (f) => (f instanceof Error ? reject(f) : resolve(f))
      this.deliver()
    })
  }

  /** Stops reading; returns frames that arrived after the last one taken. */
  detach(): Frame[] {
    this.socket.off('data', this.onData)
    this.socket.off('close', this.onClose)
    return this.queue.splice(0)
  }
}

export class PostgresLocal implements LocalProtocol {
  private readonly scram: ScramServer

  constructor(secret: string) {
    this.scram = new ScramServer(secret)
  }

  async handle(socket: Socket, openTunnel: () => Promise<GatewayChannel>, onTunnelError: (err: AgwError) => void): Promise<void> {
    socket.setNoDelay(true)
    const reader = new FrameReader(socket, new MessageFramer({ startup: true, maxMessageSize: 1024 * 1024 }))
    const timer = setTimeout(() => {
      socket.end(fatal('08P01', 'agw: the client did not finish its startup in time'))
    }, STARTUP_TIMEOUT_MS)
    let startupRaw: Buffer
    try {
      // 1. SSLRequest / GSSENCRequest -> 'N'; CancelRequest -> straight to the gateway.
      let frame = await reader.next()
      let msg = decodeStartupPhase(frame)
      while (msg.kind === 'ssl' || msg.kind === 'gssenc') {
        socket.write('N')
        reader.framer.expectStartup()
        frame = await reader.next()
        msg = decodeStartupPhase(frame)
      }
      if (msg.kind === 'cancel') {
        clearTimeout(timer)
        reader.detach()
        const channel = await openTunnel()
        channel.write(Buffer.from(frame.raw))
        channel.on('close', () => socket.destroy())
        setTimeout(() => channel.close(), 5000).unref()
        return
      }
      if (msg.kind !== 'startup') throw new AgwError('protocol', 'expected a startup message')
      startupRaw = Buffer.from(frame.raw)
      // 2. SCRAM-SHA-256 against the one-time secret.
      const exchange = this.scram.start()
      socket.write(encodeBackend({ type: 'AuthenticationSASL', mechanisms: exchange.mechanisms }))
      const first = await reader.next()
      if (first.type !== 0x70 /* p */) throw new AgwError('protocol', 'expected a SASLInitialResponse')
      const init = decodeSASLInitialResponse(first.body)
      socket.write(encodeBackend({ type: 'AuthenticationSASLContinue', data: Buffer.from(exchange.handleClientFirst(init.mechanism, init.data ?? Buffer.alloc(0))) }))
      const final = await reader.next()
      if (final.type !== 0x70) throw new AgwError('protocol', 'expected a SASLResponse')
      const verdict = exchange.handleClientFinal(decodeSASLResponse(final.body))
      if (!verdict.ok) {
        clearTimeout(timer)
        socket.end(fatal('28P01', 'agw: wrong local password: use the PGPASSWORD (or URL) that agw printed or exported for this run'))
        return
      }
      socket.write(encodeBackend({ type: 'AuthenticationSASLFinal', data: Buffer.from(verdict.serverFinal) }))
    } catch (err) {
      clearTimeout(timer)
      if (!socket.destroyed) socket.end(fatal('08P01', `agw: ${describeError(err)}`))
      return
    }
    clearTimeout(timer)
    const rest = reader.detach()
    // 3. Through the gateway. The client now waits for AuthenticationOk, which the gateway sends.
    let channel: GatewayChannel
    socket.pause()
    try {
      channel = await openTunnel()
    } catch (err) {
      const e = err instanceof AgwError ? err : new AgwError('unreachable', describeError(err))
      onTunnelError(e)
      const code = e.code === 'unauthenticated' || e.code === 'forbidden' ? '28000' : '08006'
      socket.end(fatal(code, `agw: ${e.message}`))
      return
    }
    channel.write(startupRaw)
    for (const f of rest) channel.write(Buffer.from(f.raw))
    await pipeSocket(socket, channel, (m) => {
      if (m.t === 'error') onTunnelError(new AgwError(m.code, m.message))
    })
  }
}

