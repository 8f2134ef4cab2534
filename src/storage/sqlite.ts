/**
 * The SQLite store: the only module that talks to better-sqlite3. WAL mode, numbered migrations
 * tracked in `PRAGMA user_version`, prepared statements, and batched appends in one transaction.
 */
import Database from 'better-sqlite3'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { AgwError } from '../errors.js'
import type { AuditEvent } from '../recording/events.js'
import type { EventFilter, SessionFilter, SessionRecord, SessionStatus, Store } from './store.js'

const MIGRATIONS: string[] = [
  // 1: sessions and events
  `CREATE TABLE sessions (
     id TEXT PRIMARY KEY,
     started_at TEXT NOT NULL,
     ended_at TEXT,
     status TEXT NOT NULL,
     exit_code INTEGER,
     error TEXT,
     subject TEXT NOT NULL,
     identity TEXT NOT NULL,
     agent TEXT NOT NULL,
     host TEXT NOT NULL,
     command TEXT,
     connections TEXT NOT NULL
   );
   CREATE INDEX sessions_started ON sessions(started_at);
   CREATE INDEX sessions_subject ON sessions(subject);
   CREATE TABLE events (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     time TEXT NOT NULL,
     type TEXT NOT NULL,
     session_id TEXT,
     connection_id TEXT,
     connection TEXT,
     actor TEXT,
     data TEXT NOT NULL
   );
   CREATE INDEX events_session ON events(session_id, seq);`,
]

interface SessionRow {
  id: string
  started_at: string
  ended_at: string | null
  status: SessionStatus
  exit_code: number | null
  error: string | null
  identity: string
  agent: string
  host: string
  command: string | null
  connections: string
}

interface EventRow {
  seq: number
  id: string
  time: string
  type: AuditEvent['type']
  session_id: string | null
  connection_id: string | null
  connection: string | null
  actor: string | null
  data: string
}

function toSession(r: SessionRow): SessionRecord {
  const s: SessionRecord = {
    id: r.id,
    startedAt: r.started_at,
    status: r.status,
    identity: JSON.parse(r.identity),
    agent: r.agent,
    host: r.host,
    connections: JSON.parse(r.connections),
  }
  if (r.ended_at !== null) s.endedAt = r.ended_at
  if (r.exit_code !== null) s.exitCode = r.exit_code
  if (r.error !== null) s.error = r.error
  if (r.command !== null) s.command = r.command
  return s
}

function toEvent(r: EventRow): AuditEvent {
  const e: AuditEvent = { id: r.id, seq: r.seq, time: r.time, type: r.type, data: JSON.parse(r.data) }
  if (r.session_id !== null) e.sessionId = r.session_id
  if (r.connection_id !== null) e.connectionId = r.connection_id
  if (r.connection !== null) e.connection = r.connection
  if (r.actor !== null) e.actor = JSON.parse(r.actor)
  return e
}

export class SqliteStore implements Store {
  private readonly db: Database.Database
  private readonly insertEvent: Database.Statement
  private readonly appendTx: (events: AuditEvent[]) => void

  constructor(readonly path: string) {
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
      this.db = new Database(path)
      this.db.pragma('journal_mode = WAL')
      this.db.pragma('synchronous = NORMAL')
      this.db.pragma('busy_timeout = 5000')
      this.migrate()
    } catch (err) {
      if (err instanceof AgwError) throw err
      throw new AgwError(
        'bad_input',
        `cannot open the store ${path}: ${(err as Error).message}. Check the storage setting and the file (a damaged file can be moved aside; the gateway then starts with an empty store).`,
        { cause: err },
      )
    }
    this.insertEvent = this.db.prepare(
      `INSERT INTO events (id, time, type, session_id, connection_id, connection, actor, data)
       VALUES (@id, @time, @type, @sessionId, @connectionId, @connection, @actor, @data)`,
    )
    this.appendTx = this.db.transaction((events: AuditEvent[]) => {
      for (const e of events) {
        const info = this.insertEvent.run({
          id: e.id,
          time: e.time,
          type: e.type,
          sessionId: e.sessionId ?? null,
          connectionId: e.connectionId ?? null,
          connection: e.connection ?? null,
          actor: e.actor ? JSON.stringify(e.actor) : null,
          data: JSON.stringify(e.data),
        })
        e.seq = Number(info.lastInsertRowid)
      }
    })
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number
    if (version > MIGRATIONS.length) {
      throw new AgwError('bad_input', `the store ${this.path} was written by a newer agw (schema ${version}); upgrade agw`)
    }
    for (let v = version; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v] as string)
        this.db.pragma(`user_version = ${v + 1}`)
      })()
    }
  }

  async createSession(s: SessionRecord): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO sessions (id, started_at, status, subject, identity, agent, host, command, connections)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(s.id, s.startedAt, s.status, s.identity.subject, JSON.stringify(s.identity), s.agent, s.host, s.command ?? null, JSON.stringify(s.connections))
  }

  async endSession(id: string, end: { endedAt: string; status: SessionStatus; exitCode?: number; error?: string }): Promise<void> {
    this.db
      .prepare(`UPDATE sessions SET ended_at = ?, status = ?, exit_code = ?, error = ? WHERE id = ? AND ended_at IS NULL`)
      .run(end.endedAt, end.status, end.exitCode ?? null, end.error ?? null, id)
  }

  async addSessionConnection(id: string, connection: string): Promise<void> {
    const row = this.db.prepare(`SELECT connections FROM sessions WHERE id = ?`).get(id) as { connections: string } | undefined
    if (!row) return
    const list = JSON.parse(row.connections) as string[]
    if (list.includes(connection)) return
    list.push(connection)
    this.db.prepare(`UPDATE sessions SET connections = ? WHERE id = ?`).run(JSON.stringify(list), id)
  }

  async getSession(id: string): Promise<SessionRecord | undefined> {
    const row = this.db.prepare(`SELECT * FROM sessions WHERE id = ?`).get(id) as SessionRow | undefined
    return row ? toSession(row) : undefined
  }

  async listSessions(filter: SessionFilter = {}): Promise<SessionRecord[]> {
    const where: string[] = []
    const args: unknown[] = []
    if (filter.subject) {
      where.push('subject = ?')
      args.push(filter.subject)
    }
    if (filter.since) {
      where.push('started_at >= ?')
      args.push(filter.since)
    }
    if (filter.connection) {
      where.push(`EXISTS (SELECT 1 FROM json_each(sessions.connections) WHERE value = ?)`)
      args.push(filter.connection)
    }
    const sql = `SELECT * FROM sessions ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY started_at DESC, id DESC LIMIT ?`
    args.push(filter.limit ?? 100)
    return (this.db.prepare(sql).all(...args) as SessionRow[]).map(toSession)
  }

  async markInterrupted(endedAt: string): Promise<number> {
    const info = this.db.prepare(`UPDATE sessions SET status = 'interrupted', ended_at = ? WHERE status = 'active'`).run(endedAt)
    return info.changes
  }

  async appendEvents(events: AuditEvent[]): Promise<void> {
    if (events.length > 0) this.appendTx(events)
  }

  async listEvents(filter: EventFilter = {}): Promise<AuditEvent[]> {
    const where: string[] = []
    const args: unknown[] = []
    if (filter.sessionId) {
      where.push('session_id = ?')
      args.push(filter.sessionId)
    }
    if (filter.afterSeq !== undefined) {
      where.push('seq > ?')
      args.push(filter.afterSeq)
    }
    if (filter.types?.length) {
      where.push(`type IN (${filter.types.map(() => '?').join(',')})`)
      args.push(...filter.types)
    }
    const sql = `SELECT * FROM events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq LIMIT ?`
    args.push(filter.limit ?? 10_000)
    return (this.db.prepare(sql).all(...args) as EventRow[]).map(toEvent)
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close()
  }
}

/** Opens the store named by the config's `storage` setting. */
export function openStore(storage: string): Store {
  if (storage.startsWith('sqlite:')) return new SqliteStore(storage.slice('sqlite:'.length))
  throw new AgwError('bad_input', `storage "${storage.replace(/:\/\/[^@]*@/, '://***@')}" is not supported yet; use sqlite:PATH`)
}
