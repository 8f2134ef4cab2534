/**
 * One representative event of every type, shaped like the gateway records them (docs/events.md);
 * for types no engine records yet (ssh.*, http.*, k8s.*, review.*), the shape the SIEM mapping reads.
 */
import type { Actor, AuditEvent, EventType } from '../../../../src/recording/events.js'

export const ALICE: Actor = { kind: 'human', subject: 'alice', email: 'alice@example.com', issuer: 'https://idp.example.com', clientId: 'agw-cli', groups: ['sre', 'agents'] }
export const CI_AGENT: Actor = { kind: 'agent', subject: 'ci-agent', issuer: 'https://idp.example.com', clientId: 'ci-agent', groups: ['agents'] }

const SESSION = '0190b2a4-7c1e-7000-8000-000000000001'
const CONN = '0190b2a4-7c1e-7000-8000-000000000002'

let n = 0
export function event(type: EventType, data: Record<string, unknown>, extra: Partial<AuditEvent> = {}, omit: (keyof AuditEvent)[] = []): AuditEvent {
  n++
  const e: AuditEvent = {
    id: `0190b2a4-7c1e-7${String(n).padStart(3, '0')}-8000-0000000000aa`,
    seq: n,
    time: '2024-05-01T12:00:00.123Z',
    type,
    sessionId: SESSION,
    connectionId: CONN,
    connection: 'pg-prod',
    actor: ALICE,
    data,
    ...extra,
  }
  for (const k of omit) delete e[k]
  return e
}

export const SAMPLES: Record<EventType, AuditEvent> = {
  'auth.login': event('auth.login', { remote: '::ffff:10.1.2.3' }, {}, ['sessionId', 'connectionId', 'connection']),
  'auth.failed': event('auth.failed', { reason: 'token expired', code: 'unauthenticated', remote: '10.9.9.9', path: '/v1/session' }, {}, ['actor', 'sessionId', 'connectionId', 'connection']),
  'session.start': event('session.start', { agent: 'claude', host: 'laptop-7', command: 'claude', connections: ['pg-prod'], identityKind: 'human' }),
  'session.end': event('session.end', { status: 'ended', exitCode: 0, durationMs: 5321 }),
  'connection.open': event('connection.open', { type: 'postgres', remote: '127.0.0.1', agent: 'claude' }),
  'connection.close': event('connection.close', { reason: 'client', durationMs: 812 }),
  query: event('query', { queryId: 3, sql: 'SELECT id, email FROM users WHERE id = 1', protocol: 'simple' }),
  'query.result': event('query.result', { queryId: 3, tag: 'SELECT 1', rowCount: 1, durationMs: 1.2, columns: ['id', 'email'], rows: [['1', '[redacted]']] }),
  'query.denied': event('query.denied', { queryId: 4, sql: 'DROP TABLE users', rule: 'no-ddl', message: 'schema changes go through migrations' }),
  'review.requested': event('review.requested', { reviewId: 'r-17', sql: 'DELETE FROM users WHERE id = 9', reviewers: ['sre'] }),
  'review.approved': event('review.approved', { reviewId: 'r-17', by: 'bob' }),
  'review.denied': event('review.denied', { reviewId: 'r-18', by: 'bob', reason: 'not today' }),
  'review.expired': event('review.expired', { reviewId: 'r-19' }),
  'ssh.exec': event('ssh.exec', { command: 'uptime', host: 'web-1.internal' }, { connection: 'web-1' }),
  'ssh.output': event('ssh.output', { stream: 'stdout', data: ' 12:00:01 up 3 days' }, { connection: 'web-1' }),
  'terminal.output': event('terminal.output', { time: 1.5, kind: 'o', data: 'hello\r\n' }, {}, ['connectionId', 'connection']),
  'http.request': event('http.request', { method: 'GET', url: 'https://api.internal/v1/users?limit=5', path: '/v1/users' }, { connection: 'api' }),
  'http.response': event('http.response', { method: 'GET', url: 'https://api.internal/v1/users?limit=5', status: 200, bytes: 512 }, { connection: 'api' }),
  'k8s.request': event('k8s.request', { verb: 'list', resource: 'pods', namespace: 'default', status: 200 }, { connection: 'k8s' }),
  'masking.applied': event('masking.applied', { queryId: 3, columns: ['email'], detectors: ['email'] }),
}
