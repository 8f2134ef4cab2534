/**
 * The gateway's store: sessions and the append-only event log. One interface, so a PostgreSQL
 * store for several replicas can sit behind it (SPEC section 6). Methods are async for that reason;
 * the SQLite store answers synchronously inside.
 */
import type { AuditEvent, EventType } from '../recording/events.js'
import type { Principal } from '../identity/principal.js'

export type SessionStatus = 'active' | 'ended' | 'interrupted' | 'error'

export interface SessionRecord {
  id: string
  startedAt: string
  endedAt?: string
  status: SessionStatus
  exitCode?: number
  error?: string
  identity: Principal
  agent: string
  host: string
  command?: string
  connections: string[]
}

export interface SessionFilter {
  subject?: string
  connection?: string
  since?: string
  limit?: number
}

export interface EventFilter {
  sessionId?: string
  types?: EventType[]
  afterSeq?: number
  limit?: number
}

export interface Store {
  createSession(session: SessionRecord): Promise<void>
  endSession(id: string, end: { endedAt: string; status: SessionStatus; exitCode?: number; error?: string }): Promise<void>
  addSessionConnection(id: string, connection: string): Promise<void>
  getSession(id: string): Promise<SessionRecord | undefined>
  listSessions(filter?: SessionFilter): Promise<SessionRecord[]>
  /** Sessions left `active` by a gateway that stopped without ending them. */
  markInterrupted(endedAt: string): Promise<number>
  /** Appends events in order, atomically. Assigns `seq`. */
  appendEvents(events: AuditEvent[]): Promise<void>
  listEvents(filter?: EventFilter): Promise<AuditEvent[]>
  close(): Promise<void>
}
