/**
 * The CLI's session socket: says hello (agent, host, command, connections), learns the session id,
 * receives pushes for the whole session (review prompts, notices), and ends the session with the
 * command's exit code.
 */
import { AgwError } from '../errors.js'
import type { ServerControl } from '../tunnel/protocol.js'
import type { GatewayChannel, GatewayClient } from './gateway-client.js'

export interface Hello {
  agent: string
  host: string
  command?: string
  connections: string[]
}

export class SessionHandle {
  private constructor(
    readonly id: string,
    private readonly channel: GatewayChannel,
  ) {}

  static async open(client: GatewayClient, hello: Hello): Promise<SessionHandle> {
    const channel = await client.open('/v1/session')
    const id = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new AgwError('unreachable', 'the gateway did not start a session within 15 s')), 15_000)
      channel.on('control', (msg) => {
        if (msg.t === 'session') {
          clearTimeout(timer)
          resolve(msg.sessionId)
        } else if (msg.t === 'error') {
          clearTimeout(timer)
          reject(new AgwError(msg.code, `gateway: ${msg.message}`))
        }
      })
      channel.on('close', () => {
        clearTimeout(timer)
        reject(new AgwError('unreachable', 'the gateway closed the session socket'))
      })
      channel.control({ t: 'hello', ...hello, pid: process.pid })
    })
    return new SessionHandle(id, channel)
  }

  onControl(listener: (msg: ServerControl) => void): void {
    this.channel.on('control', listener)
  }

  onClose(listener: () => void): void {
    this.channel.on('close', listener)
  }

  /** Sends a terminal recording chunk (already masked); `n` numbers it for the gateway's acknowledgement. */
  terminal(kind: 'o' | 'i' | 'r', time: number, data: string, n?: number): void {
    this.channel.control(n === undefined ? { t: 'terminal', kind, time, data } : { t: 'terminal', kind, time, data, n })
  }

  /** Withdraws the session's held statements (Ctrl-C in the agent's terminal while a review is pending). */
  cancelHeld(): void {
    if (this.channel.isOpen) this.channel.control({ t: 'cancel' })
  }

  get isOpen(): boolean {
    return this.channel.isOpen
  }

  async end(exitCode: number | null, signal?: string): Promise<void> {
    if (!this.channel.isOpen) return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.channel.close()
        resolve()
      }, 3000)
      this.channel.on('close', () => {
        clearTimeout(timer)
        resolve()
      })
      this.channel.control(signal ? { t: 'end', exitCode, signal } : { t: 'end', exitCode })
    })
  }
}
