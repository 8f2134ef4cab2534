/**
 * One engine per protocol behind one interface (Teleport's `Engine`): the gateway authenticates the
 * tunnel, builds an EngineContext, and hands the connection to the engine registered for the
 * connection's type. The engine terminates the protocol on both sides and carries out decisions;
 * it reports what happened through `ctx.record` (the audit hooks).
 */
import type { Logger } from 'pino'
import type { ConnectionConfig } from '../config/schema.js'
import type { Principal } from '../identity/principal.js'
import type { EventType } from '../recording/events.js'
import type { ClientControl, ServerControl } from '../tunnel/protocol.js'
import type { TunnelChannel } from '../tunnel/channel.js'

export type ClientChannel = TunnelChannel<ClientControl, ServerControl>

export interface EngineContext {
  readonly connectionId: string
  readonly sessionId: string
  readonly connection: ConnectionConfig
  readonly principal: Principal
  readonly channel: ClientChannel
  readonly log: Logger
  /** Records an audit event for this connection (session, connection and actor are filled in). */
  record(type: EventType, data: Record<string, unknown>): void
  /** Resolves when the gateway shuts down; engines close their connections. */
  readonly shutdown: AbortSignal
}

export interface ConnectionOutcome {
  /** Why the connection ended: the client left, the target went away, an error. */
  reason: 'client_closed' | 'target_closed' | 'error' | 'shutdown'
  error?: string
}

export interface Engine {
  readonly type: ConnectionConfig['type']
  /** Runs one client connection to its end. Never throws: failures are answered in the client's protocol. */
  handle(ctx: EngineContext): Promise<ConnectionOutcome>
}

export class EngineRegistry {
  private readonly engines = new Map<string, Engine>()

  register(engine: Engine): this {
    this.engines.set(engine.type, engine)
    return this
  }

  get(type: string): Engine | undefined {
    return this.engines.get(type)
  }

  types(): string[] {
    return [...this.engines.keys()]
  }
}
