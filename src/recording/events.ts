/**
 * Audit events. The names are part of the contract (SPEC section 5); payload shapes are documented
 * in docs/events.md. Every event belongs to a session when there is one.
 */
export const EVENT_TYPES = [
  'auth.login',
  'auth.failed',
  'session.start',
  'session.end',
  'connection.open',
  'connection.close',
  'query',
  'query.result',
  'query.denied',
  'review.requested',
  'review.approved',
  'review.denied',
  'review.expired',
  'ssh.exec',
  'ssh.output',
  'terminal.output',
  'http.request',
  'http.response',
  'k8s.request',
  'masking.applied',
] as const

export type EventType = (typeof EVENT_TYPES)[number]

/** The identity attached to an event (never a token). */
export interface Actor {
  kind: 'human' | 'agent'
  subject: string
  email?: string
  issuer: string
  clientId?: string
  groups?: string[]
}

export interface AuditEvent {
  /** UUIDv7. */
  id: string
  /** Position in the store, assigned when stored. */
  seq?: number
  /** ISO 8601 with milliseconds. */
  time: string
  type: EventType
  sessionId?: string
  connectionId?: string
  /** Connection name from the config. */
  connection?: string
  actor?: Actor
  data: Record<string, unknown>
}
