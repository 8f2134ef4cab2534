/**
 * Live sessions. A session is one `agw exec` or `agw connect` run: it starts when the CLI's session
 * socket says hello and ends when that socket closes (with the command's exit code when the CLI
 * sent one, `interrupted` otherwise). Tunnels name their session; one opened without a session gets
 * an implicit session of its own that ends with it.
 */
import type { Principal } from '../identity/principal.js'
import { uuidv7 } from '../ids.js'
import type { EventLog } from '../recording/event-log.js'
import type { Actor } from '../recording/events.js'
import type { SessionRecord, SessionStatus, Store } from '../storage/store.js'
import type { ServerControl } from '../tunnel/protocol.js'

export interface LiveSession {
  record: SessionRecord
  /** Pushes a control message to the CLI that owns the session (prompts in `agw exec`). */
  push?: (msg: ServerControl) => void
  connections: number
  implicit: boolean
  /** Called when the last open connection of the session closes. */
  onIdle?: () => void
}

export function actorOf(p: Principal): Actor {
  const a: Actor = { kind: p.kind, subject: p.subject, issuer: p.issuer, groups: p.groups }
  if (p.email !== undefined) a.email = p.email
  if (p.clientId !== undefined) a.clientId = p.clientId
  return a
}

export function sameIdentity(a: Principal, b: Principal): boolean {
  return a.subject === b.subject && a.issuer === b.issuer
}

export class SessionManager {
  private readonly live = new Map<string, LiveSession>()

  constructor(
    private readonly store: Store,
    private readonly events: EventLog,
  ) {}

  async start(
    principal: Principal,
    info: { agent: string; host: string; command?: string; connections: string[] },
    implicit = false,
  ): Promise<LiveSession> {
    const record: SessionRecord = {
      id: uuidv7(),
      startedAt: new Date().toISOString(),
      status: 'active',
      identity: principal,
      agent: info.agent,
      host: info.host,
      connections: info.connections,
    }
    if (info.command !== undefined) record.command = info.command
    await this.store.createSession(record)
    const live: LiveSession = { record, connections: 0, implicit }
    this.live.set(record.id, live)
    this.events.emit({
      type: 'session.start',
      sessionId: record.id,
      actor: actorOf(principal),
      data: {
        agent: info.agent,
        host: info.host,
        command: info.command,
        connections: info.connections,
        identityKind: principal.kind,
        claims: principal.claims,
      },
    })
    return live
  }

  get(id: string): LiveSession | undefined {
    return this.live.get(id)
  }

  /** Resolves when the session has no open connection, or after `graceMs`. */
  private settle(live: LiveSession, graceMs: number): Promise<void> {
    if (live.connections === 0) return Promise.resolve()
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, graceMs)
      live.onIdle = () => {
        clearTimeout(timer)
        resolve()
      }
    })
  }

  /**
   * Ends a session. Connections still closing get a moment to record their last events first, so
   * `session.end` comes after every `connection.close` of the session.
   */
  async end(id: string, status: SessionStatus, extra: { exitCode?: number; error?: string } = {}, graceMs = 2000): Promise<void> {
    const live = this.live.get(id)
    if (!live) return
    this.live.delete(id)
    await this.settle(live, graceMs)
    const endedAt = new Date().toISOString()
    live.record.endedAt = endedAt
    live.record.status = status
    await this.store.endSession(id, { endedAt, status, ...extra })
    this.events.emit({
      type: 'session.end',
      sessionId: id,
      actor: actorOf(live.record.identity),
      data: {
        status,
        exitCode: extra.exitCode,
        error: extra.error,
        durationMs: Date.parse(endedAt) - Date.parse(live.record.startedAt),
      },
    })
  }

  /** Ends every live session (gateway shutdown). */
  async endAll(status: SessionStatus): Promise<void> {
    await Promise.all([...this.live.keys()].map((id) => this.end(id, status, {}, 200)))
  }

  get size(): number {
    return this.live.size
  }
}
