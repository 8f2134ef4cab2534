/**
 * A local listener for one connection: 127.0.0.1 only, a random port unless one is asked for. Each
 * accepted socket gets the connection type's local handshake and then its own tunnel.
 */
import { createServer, type Server, type Socket } from 'node:net'
import { AgwError, describeError } from '../../errors.js'
import type { GatewayChannel } from '../gateway-client.js'

export interface LocalProtocol {
  /** Runs one local connection to its end. */
  handle(socket: Socket, openTunnel: () => Promise<GatewayChannel>, onTunnelError: (err: AgwError) => void): Promise<void>
}

export interface ListenerOptions {
  port?: number
  protocol: LocalProtocol
  openTunnel: () => Promise<GatewayChannel>
  onError: (err: AgwError) => void
}

export class LocalListener {
  private server: Server | undefined
  private readonly sockets = new Set<Socket>()

  constructor(private readonly opts: ListenerOptions) {}

  async listen(): Promise<number> {
    const server = createServer({ pauseOnConnect: false }, (socket) => {
      this.sockets.add(socket)
      socket.on('close', () => this.sockets.delete(socket))
      socket.on('error', () => socket.destroy())
      this.opts.protocol.handle(socket, this.opts.openTunnel, this.opts.onError).catch((err: unknown) => {
        socket.destroy()
        this.opts.onError(err instanceof AgwError ? err : new AgwError('internal', describeError(err)))
      })
    })
    this.server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new AgwError('bad_input', `cannot listen on 127.0.0.1:${this.opts.port ?? 0}: ${describeError(err)}`)))
      server.listen(this.opts.port ?? 0, '127.0.0.1', () => resolve())
    })
    const addr = server.address()
    if (!addr || typeof addr === 'string') throw new AgwError('internal', 'listener has no port')
    return addr.port
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy()
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()))
  }
}
