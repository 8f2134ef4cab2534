/**
 * The gateway's store: sessions and the append-only event log. One interface, so a PostgreSQL
 * store for several replicas can sit behind it (SPEC section 6). Methods are async for that reason;
 * the SQLite store answers synchronously inside.
 */
import type { Actor, AuditEvent, EventType } from '../recording/events.js'
import type { Principal } from '../identity/principal.js'
import type { ReviewScope } from '../policy/reviews.js'

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
  issuer?: string
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

export interface SearchQuery {
  /** Words (all must appear) and "quoted phrases" (in that order). */
  text: string
  /** Only sessions of this identity (subject and issuer); absent = every session (auditors). */
  owner?: { subject: string; issuer: string }
  sessionId?: string
  limit?: number
}

export interface SearchHit {
  event: AuditEvent
  session?: SessionRecord
}

export interface PruneResult {
  /** Events up to this seq were removed (a `prune` checkpoint carries the chain across). */
  throughSeq?: number
  events: number
  sessions: number
}

export type ReviewState = 'pending' | 'approved' | 'denied' | 'expired' | 'withdrawn'

/** A held statement waiting for (or settled by) a human decision (src/reviews, docs/policy.md "Reviews"). */
export interface ReviewRecord {
  id: string
  sessionId: string
  connectionId: string
  connection: string
  requester: Principal
  /** The session's agent name. */
  agent?: string
  rule: string
  /** Groups whose members may decide. */
  reviewers: string[]
  statement: string
  params: (string | null)[]
  /** sha256 over statement, params, session and policy version: an approval releases only this. */
  fingerprint: string
  createdAt: string
  expiresAt: string
  state: ReviewState
  decidedAt?: string
  decidedBy?: Actor
  reason?: string
  /** Approved "for DURATION": statements of the session matching the same rule, kinds and tables (`scope`) run until then. */
  grantUntil?: string
  /** What the rule matched in the statement (kinds and tables); a grant covers this scope only. Absent on reviews stored before it was kept: their grants cover nothing. */
  scope?: ReviewScope
}

export interface ReviewDecision {
  state: Exclude<ReviewState, 'pending'>
  decidedAt: string
  decidedBy?: Actor
  reason?: string
  grantUntil?: string
}

export interface ReviewFilter {
  states?: ReviewState[]
  sessionId?: string
  connection?: string
  rule?: string
  /** Only approvals whose grant (`for`) still runs at this time. */
  grantActiveAt?: string
  /** Only reviews decided at or after this time. */
  decidedSince?: string
  limit?: number
}

export interface Store {
  createSession(session: SessionRecord): Promise<void>
  endSession(id: string, end: { endedAt: string; status: SessionStatus; exitCode?: number; error?: string }): Promise<void>
  addSessionConnection(id: string, connection: string): Promise<void>
  getSession(id: string): Promise<SessionRecord | undefined>
  listSessions(filter?: SessionFilter): Promise<SessionRecord[]>
  /** Sessions left `active` by a gateway that stopped without ending them; returns their ids. */
  markInterrupted(endedAt: string): Promise<string[]>
  /**
   * Appends events in order, atomically: assigns `seq`, encrypts each payload under its session's
   * data key, chains it (docs/events.md) and indexes it for search. Writes a signed checkpoint when
   * enough events or time have passed since the last one.
   */
  appendEvents(events: AuditEvent[]): Promise<void>
  /** Events in seq order, decrypted. */
  listEvents(filter?: EventFilter): Promise<AuditEvent[]>
  /** Audit sinks (src/audit/sinks): the last seq the named sink acknowledged; 0 when it has none. */
  getSinkCursor(name: string): Promise<number>
  /** Records that the named sink acknowledged every event up to and including `seq`. */
  setSinkCursor(name: string, seq: number): Promise<void>
  /** Full-text search over queries and output (a blind index: ADR 0011). Newest first. */
  searchEvents(query: SearchQuery): Promise<SearchHit[]>
  /** Signs a checkpoint over the chain head when events were added since the last one. */
  checkpoint(kind?: 'interval' | 'stop'): Promise<void>
  /** Reviews (src/reviews): statement, parameters, requester and decision are encrypted at rest. */
  createReview(review: ReviewRecord): Promise<void>
  getReview(id: string): Promise<ReviewRecord | undefined>
  /** Newest first. */
  listReviews(filter?: ReviewFilter): Promise<ReviewRecord[]>
  /** Settles a pending review; false (and nothing changed) when it was not pending any more. */
  settleReview(id: string, decision: ReviewDecision): Promise<boolean>
  /** Settles every pending review as expired (a gateway start: the held clients are gone); returns them. */
  expirePendingReviews(at: string, reason: string): Promise<ReviewRecord[]>
  /** Removes sessions that ended before `before` (ISO time), as a prefix of the chain. */
  prune(before: string): Promise<PruneResult>
  close(): Promise<void>
}
