/**
 * The SQLite store: the only module that talks to better-sqlite3. WAL mode, numbered migrations
 * tracked in `PRAGMA user_version`, prepared statements, and batched appends in one transaction.
 *
 * At rest (ADR 0010): event payloads (`{actor, data}`) and a session's identity and command are
 * AES-256-GCM under the session's data key, which the master key wraps (sqlite-keys.ts). Events are
 * hash-chained and covered by signed checkpoints (src/audit/chain.ts); the search index holds keyed
 * word tokens only (ADR 0011). Ids, times, event types, connection names, agent and host stay in
 * clear so sessions can be listed and filtered without decrypting.
 */
import Database from 'better-sqlite3'
import { GENESIS, chainHash, checkpointMessage, type Checkpoint, type CheckpointKind } from '../audit/chain.js'
import { MasterKey, newDataKey, open, openBlock, openPayload, seal, sealBlock, sealPayload, signMessage } from '../audit/crypto.js'
import { BLOCK_SPAN, decodeRef, encodeRef, planBlocks, type PayloadPlan } from './blocks.js'
import { preparePrivateStore, tightenSideFiles } from './private-files.js'
import { AgwError } from '../errors.js'
import type { Principal } from '../identity/principal.js'
import type { AuditEvent } from '../recording/events.js'
import { searchText } from './search-text.js'
import { dataKeyId, Keyring, KEYRING_SCHEMA } from './sqlite-keys.js'
import type {
  EventFilter,
  PruneResult,
  ReviewDecision,
  ReviewFilter,
  ReviewRecord,
  ReviewState,
  SearchHit,
  SearchQuery,
  SessionFilter,
  SessionRecord,
  SessionStatus,
  Store,
} from './store.js'

type Migration = string | ((db: Database.Database) => void)

const MIGRATIONS: Migration[] = [
  // 1: sessions, events with encrypted payloads, the hash chain, checkpoints, keys, the blind
  // search index.
  `${KEYRING_SCHEMA}
   CREATE TABLE sessions (
     id TEXT PRIMARY KEY,
     started_at TEXT NOT NULL,
     ended_at TEXT,
     status TEXT NOT NULL,
     exit_code INTEGER,
     error TEXT,
     subject TEXT NOT NULL,
     issuer TEXT NOT NULL,
     agent TEXT NOT NULL,
     host TEXT NOT NULL,
     connections TEXT NOT NULL,
     sealed BLOB NOT NULL
   );
   CREATE INDEX sessions_started ON sessions(started_at);
   CREATE INDEX sessions_subject ON sessions(subject, issuer);
   CREATE TABLE events (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     time TEXT NOT NULL,
     type TEXT NOT NULL,
     session_id TEXT,
     connection_id TEXT,
     connection TEXT,
     payload BLOB NOT NULL,
     prev_hash BLOB NOT NULL,
     hash BLOB NOT NULL
   );
   CREATE INDEX events_session ON events(session_id, seq);
   CREATE TABLE checkpoints (
     seq INTEGER PRIMARY KEY,
     hash BLOB NOT NULL,
     time TEXT NOT NULL,
     kind TEXT NOT NULL,
     key_id TEXT NOT NULL,
     signature BLOB NOT NULL
   );
   CREATE VIRTUAL TABLE search USING fts5(tokens, content='', contentless_delete=1, tokenize='ascii');`,
  // 2: reviews (src/reviews). `request` seals {requester, agent, statement, params, fingerprint}
  // and `decision` seals {decidedBy, reason}, under the session's data key.
  `CREATE TABLE reviews (
     id TEXT PRIMARY KEY,
     session_id TEXT NOT NULL,
     connection_id TEXT NOT NULL,
     connection TEXT NOT NULL,
     rule TEXT NOT NULL,
     reviewers TEXT NOT NULL,
     subject TEXT NOT NULL,
     issuer TEXT NOT NULL,
     state TEXT NOT NULL,
     created_at TEXT NOT NULL,
     expires_at TEXT NOT NULL,
     decided_at TEXT,
     grant_until TEXT,
     request BLOB NOT NULL,
     decision BLOB
   );
   CREATE INDEX reviews_state ON reviews(state, created_at);
   CREATE INDEX reviews_session ON reviews(session_id, connection, rule);
   CREATE INDEX reviews_decided ON reviews(decided_at);`,
  // 3: the search index is written in batches after the events (ADR 0014): `through` is the last
  // event seq it covers; everything already in the store is indexed.
  `CREATE TABLE search_state (id INTEGER PRIMARY KEY CHECK (id = 1), through INTEGER NOT NULL);
   INSERT INTO search_state (id, through) VALUES (1, (SELECT COALESCE(MAX(seq), 0) FROM events));`,
  // 4: payload blocks (src/storage/blocks.ts, ADR 0015): NULL for an event sealed on its own (every
  // event before this version), 0 for the first event of a block, else that first event's seq.
  `ALTER TABLE events ADD COLUMN block INTEGER;`,
]

/** The search index is brought up to date every this many events, characters of text, or ms. */
export const INDEX_BATCH_EVENTS = 1000
const INDEX_BATCH_CHARS = 2_000_000
export const INDEX_INTERVAL_MS = 1000

interface SessionRow {
  id: string
  started_at: string
  ended_at: string | null
  status: SessionStatus
  exit_code: number | null
  error: string | null
  subject: string
  issuer: string
  agent: string
  host: string
  connections: string
  sealed: Buffer
}

interface EventRow {
  seq: number
  id: string
  time: string
  type: AuditEvent['type']
  session_id: string | null
  connection_id: string | null
  connection: string | null
  payload: Buffer
  block: number | null
}

/** The columns of an event row as read (EventRow). */
const EVENT_COLUMNS = 'seq, id, time, type, session_id, connection_id, connection, payload, block'

interface ReviewRow {
  id: string
  session_id: string
  connection_id: string
  connection: string
  rule: string
  reviewers: string
  subject: string
  issuer: string
  state: ReviewState
  created_at: string
  expires_at: string
  decided_at: string | null
  grant_until: string | null
  request: Buffer
  decision: Buffer | null
}

interface CheckpointRow {
  seq: number
  hash: Buffer
  time: string
  kind: CheckpointKind
  key_id: string
  signature: Buffer
}

export interface SqliteStoreOptions {
  /** The master key (encryption.keyFile). Only an in-memory store may omit it (a random one is used). */
  masterKey?: Buffer
  /** A checkpoint after this many events (default 1000)... */
  checkpointEvents?: number
  /** ...or when this much time passed since the last one and events were added (default 10 s). */
  checkpointIntervalMs?: number
  /** Called with every checkpoint written: log it, so a copy of the chain head lives outside the store. */
  onCheckpoint?: (c: Checkpoint) => void
  /**
   * A tool beside the gateway (export, rotate-key): no checkpoint timer and no checkpoint at close,
   * so only the gateway signs checkpoints.
   */
  passive?: boolean
  /** Days (storage.retention): prune at open and then daily. */
  retentionDays?: number
  /**
   * The configured audit sinks (by cursor name): retention never prunes an event one of them has
   * not taken yet (a sink without a cursor has taken nothing).
   */
  retentionSinks?: string[]
  onPrune?: (r: PruneResult) => void
}

const SESSION_AAD = (id: string) => Buffer.from(`agw.session.v1|${id}`, 'utf8')
const REVIEW_AAD = (id: string, part: 'request' | 'decision') => Buffer.from(`agw.review.v1|${id}|${part}`, 'utf8')

export function toCheckpoint(r: CheckpointRow): Checkpoint {
  return { seq: r.seq, hash: r.hash, time: r.time, kind: r.kind, keyId: r.key_id, signature: r.signature }
}

/** A WHERE clause built from optional filters: `when(value, sql, ...args)` adds one when value is set. */
class Where {
  private readonly parts: string[] = []
  readonly args: unknown[] = []

  when(value: unknown, sql: string, ...args: unknown[]): this {
    if (value === undefined || value === null || value === '' || (Array.isArray(value) && value.length === 0)) return this
    this.parts.push(sql)
    this.args.push(...args)
    return this
  }

  in(values: readonly unknown[] | undefined, column: string): this {
    return this.when(values, `${column} IN (${(values ?? []).map(() => '?').join(',')})`, ...(values ?? []))
  }

  toString(): string {
    return this.parts.length ? `WHERE ${this.parts.join(' AND ')}` : ''
  }
}

export class SqliteStore implements Store {
  private readonly db: Database.Database
  private readonly keys: Keyring
  private readonly insertEvent: Database.Statement
  private readonly insertSearch: Database.Statement
  private readonly lastEvent: Database.Statement
  private readonly lastCheckpoint: Database.Statement
  private readonly eventAt: Database.Statement
  /** Recently read blocks, decrypted, by the seq of their first event (payloadOf). */
  private readonly blocks = new Map<number, { keyId: string; lines: string[] }>()
  /** Appends in one transaction; returns each event's seq and search text, for the index. */
  private readonly appendTx: (events: AuditEvent[]) => Array<[number, string]>
  /** Text of appended events not in the search index yet, by seq (see indexPending). */
  private unindexed: Array<[number, string]> = []
  private unindexedChars = 0
  private readonly checkpointEvents: number
  private readonly checkpointIntervalMs: number
  private lastCheckpointSeq = 0
  private lastCheckpointAt = Date.now()
  private readonly timers: NodeJS.Timeout[] = []

  constructor(
    readonly path: string,
    private readonly opts: SqliteStoreOptions = {},
  ) {
    this.checkpointEvents = opts.checkpointEvents ?? 1000
    this.checkpointIntervalMs = opts.checkpointIntervalMs ?? 10_000
    try {
      if (!opts.masterKey && path !== ':memory:') throw new AgwError('bad_input', `no master key for the store ${path}: set encryption.keyFile`)
      // The database and its -wal/-shm files are 0600, like the master key (private-files.ts).
      if (path !== ':memory:') preparePrivateStore(path)
      this.db = new Database(path)
      this.db.pragma('journal_mode = WAL')
      if (path !== ':memory:') tightenSideFiles(path)
      this.db.pragma('synchronous = NORMAL')
      this.db.pragma('busy_timeout = 5000')
      this.migrate()
    } catch (err) {
      if (err instanceof AgwError) throw err
      throw storeError(path, err)
    }
    this.keys = new Keyring(this.db, new MasterKey(opts.masterKey ?? newDataKey()), path)
    this.insertEvent = this.db.prepare(
      `INSERT INTO events (id, time, type, session_id, connection_id, connection, payload, block, prev_hash, hash)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    this.insertSearch = this.db.prepare(`INSERT INTO search (rowid, tokens) VALUES (?, ?)`)
    this.lastEvent = this.db.prepare(`SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1`)
    this.lastCheckpoint = this.db.prepare(`SELECT seq, hash FROM checkpoints ORDER BY seq DESC LIMIT 1`)
    this.eventAt = this.db.prepare(`SELECT ${EVENT_COLUMNS} FROM events WHERE seq = ?`)
    const last = this.db.prepare(`SELECT seq FROM checkpoints ORDER BY seq DESC LIMIT 1`).get() as { seq: number } | undefined
    this.lastCheckpointSeq = last?.seq ?? 0
    this.appendTx = this.db.transaction((events: AuditEvent[]) => {
      let head = this.head().hash
      let seq = 0
      const texts: Array<[number, string]> = []
      const keyIds = events.map((e) => dataKeyId(e.sessionId, e.time))
      const payloads = events.map((e) => JSON.stringify({ actor: e.actor, data: e.data }))
      const plans = planBlocks(keyIds, payloads)
      const seqs: number[] = []
      for (let i = 0; i < events.length; i++) {
        const e = events[i] as AuditEvent
        const plan = plans[i] as PayloadPlan
        let payload: Buffer
        let block: number | null = null
        if (plan.kind === 'member') {
          block = seqs[plan.first] as number
          payload = encodeRef(block, plan.line)
        } else {
          const key = this.keys.dataKey(keyIds[i] as string, true) as Buffer
          if (plan.kind === 'first') {
            block = 0
            payload = sealBlock(key, e.id, plan.members.map((m) => payloads[m] as string))
          } else payload = sealPayload(key, e.id, payloads[i] as string)
        }
        const row = {
          id: e.id,
          time: e.time,
          type: e.type,
          sessionId: e.sessionId ?? null,
          connectionId: e.connectionId ?? null,
          connection: e.connection ?? null,
          payload,
        }
        const hash = chainHash(head, row)
        const info = this.insertEvent.run(row.id, row.time, row.type, row.sessionId, row.connectionId, row.connection, row.payload, block, head, hash)
        seq = Number(info.lastInsertRowid)
        seqs.push(seq)
        e.seq = seq
        head = hash
        // Every appended seq is listed (with '' when it has no text), so indexTx knows which
        // events it holds and reads back only the others.
        texts.push([seq, searchText(e)])
      }
      const due = seq - this.lastCheckpointSeq >= this.checkpointEvents || Date.now() - this.lastCheckpointAt >= this.checkpointIntervalMs
      if (seq > 0 && due) this.writeCheckpoint(seq, head, 'interval')
      return texts
    })
    this.timers.push(setInterval(() => this.indexPending(), INDEX_INTERVAL_MS).unref())
    if (path !== ':memory:' && !opts.passive) {
      // A quiet tail still gets a checkpoint within the interval.
      this.timers.push(setInterval(() => void this.checkpoint('interval').catch(() => undefined), this.checkpointIntervalMs).unref())
    }
    if (opts.retentionDays !== undefined) {
      const days = opts.retentionDays
      const run = () => this.prune(new Date(Date.now() - days * 86_400_000).toISOString()).then((r) => opts.onPrune?.(r))
      void run().catch(() => undefined)
      this.timers.push(setInterval(() => void run().catch(() => undefined), 86_400_000).unref())
    }
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number
    if (version > MIGRATIONS.length) {
      throw new AgwError('bad_input', `the store ${this.path} was written by a newer agw (schema ${version}); upgrade agw`)
    }
    for (let v = version; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        const m = MIGRATIONS[v] as Migration
        if (typeof m === 'string') this.db.exec(m)
        else m(this.db)
        this.db.pragma(`user_version = ${v + 1}`)
      })()
    }
  }

  /** The chain head: the last event, or the checkpoint that carried the chain across a prune. */
  private head(): { seq: number; hash: Buffer } {
    const last = this.lastEvent.get() as { seq: number; hash: Buffer } | undefined
    if (last) return last
    const cp = this.lastCheckpoint.get() as { seq: number; hash: Buffer } | undefined
    return cp ?? { seq: 0, hash: GENESIS }
  }

  /**
   * Brings the search index up to the last event, inside the caller's write transaction: the text
   * of what this connection appended is indexed from memory; events it did not append (another
   * connection, or a gateway that stopped before it indexed) are read back and decrypted. `search_state.through`
   * makes this safe from any connection: what one indexed, another skips.
   */
  private indexTx(): void {
    const state = this.db.prepare(`SELECT through FROM search_state WHERE id = 1`).get() as { through: number }
    const mine = this.unindexed
    this.unindexed = []
    this.unindexedChars = 0
    let prev = state.through
    for (const [seq, text] of mine) {
      if (seq <= prev) continue
      if (seq > prev + 1) this.indexFromStore(prev, seq)
      if (text) this.insertSearch.run(seq, this.keys.index.document(text))
      prev = seq
    }
    const last = (this.lastEvent.get() as { seq: number } | undefined)?.seq ?? 0
    if (last > prev) this.indexFromStore(prev, last + 1)
    const through = Math.max(prev, last)
    if (through > state.through) this.db.prepare(`UPDATE search_state SET through = ? WHERE id = 1`).run(through)
  }

  /** Indexes the stored events with `after < seq < before`, reading them back (decrypting). */
  private indexFromStore(after: number, before: number): void {
    const page = this.db.prepare(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE seq > ? AND seq < ? ORDER BY seq LIMIT 500`,
    )
    for (let rows = page.all(after, before) as EventRow[]; rows.length > 0; rows = page.all(after, before) as EventRow[]) {
      for (const r of rows) {
        const e = this.toEvent(r)
        const text = e.data.unreadable === undefined ? searchText(e) : ''
        if (text) this.insertSearch.run(r.seq, this.keys.index.document(text))
        after = r.seq
      }
    }
  }

  /** Indexes what is pending, in its own transaction. Never throws: the next attempt catches up. */
  private indexPending(): void {
    // Only a connection that appended has work of its own; the others catch up when they search.
    if (!this.db.open || this.unindexed.length === 0) return
    try {
      this.db.transaction(() => this.indexTx()).immediate()
    } catch {
      // Busy or closing: the text is read back from the events next time.
    }
  }

  private writeCheckpoint(seq: number, hash: Buffer, kind: CheckpointKind): Checkpoint {
    const time = new Date().toISOString()
    const signature = signMessage(this.keys.signing, checkpointMessage({ seq, hash, time, kind }))
    this.db
      .prepare(`INSERT OR REPLACE INTO checkpoints (seq, hash, time, kind, key_id, signature) VALUES (?, ?, ?, ?, ?, ?)`)
      .run(seq, hash, time, kind, this.keys.signing.id, signature)
    this.lastCheckpointSeq = seq
    this.lastCheckpointAt = Date.now()
    const cp: Checkpoint = { seq, hash, time, kind, keyId: this.keys.signing.id, signature }
    this.opts.onCheckpoint?.(cp)
    return cp
  }

  private insertSession(s: SessionRecord): void {
    const key = this.keys.dataKey(s.id, true)!
    const sealed = seal(key, Buffer.from(JSON.stringify({ identity: s.identity, command: s.command }), 'utf8'), SESSION_AAD(s.id))
    this.db
      .prepare(
        `INSERT INTO sessions (id, started_at, status, subject, issuer, agent, host, connections, sealed)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(s.id, s.startedAt, s.status, s.identity.subject, s.identity.issuer, s.agent, s.host, JSON.stringify(s.connections), sealed)
  }

  private toSession(r: SessionRow): SessionRecord {
    let identity: Principal = { kind: 'human', subject: r.subject, issuer: r.issuer, groups: [] }
    let command: string | undefined
    const key = this.keys.dataKey(r.id, false)
    try {
      if (!key) throw new Error('no key')
      const clear = JSON.parse(open(key, r.sealed, SESSION_AAD(r.id)).toString('utf8')) as { identity: Principal; command?: string }
      identity = clear.identity
      command = clear.command
    } catch {
      // Altered or shredded: list what is in clear; `agw audit verify` says what happened.
    }
    const s: SessionRecord = {
      id: r.id,
      startedAt: r.started_at,
      status: r.status,
      identity,
      agent: r.agent,
      host: r.host,
      connections: JSON.parse(r.connections),
    }
    if (r.ended_at !== null) s.endedAt = r.ended_at
    if (r.exit_code !== null) s.exitCode = r.exit_code
    if (r.error !== null) s.error = r.error
    if (command !== undefined) s.command = command
    return s
  }

  private toEvent(r: EventRow): AuditEvent {
    const e: AuditEvent = { id: r.id, seq: r.seq, time: r.time, type: r.type, data: {} }
    if (r.session_id !== null) e.sessionId = r.session_id
    if (r.connection_id !== null) e.connectionId = r.connection_id
    if (r.connection !== null) e.connection = r.connection
    try {
      const clear = JSON.parse(this.payloadOf(r)) as Pick<AuditEvent, 'actor' | 'data'>
      e.data = clear.data
      if (clear.actor) e.actor = clear.actor
    } catch {
      e.data = { unreadable: 'the payload cannot be decrypted: it was altered or its key is gone (run `agw audit verify`)' }
    }
    return e
  }

  /** An event's payload JSON (blocks.ts); throws when it cannot be decrypted or does not add up. */
  private payloadOf(r: EventRow): string {
    if (r.block === null) return openPayload(this.readKey(r.session_id, r.time), r.id, r.payload)
    const keyId = dataKeyId(r.session_id, r.time)
    let block: { keyId: string; lines: string[] }
    let line = 0
    if (r.block === 0) block = this.blocks.get(r.seq) ?? this.openBlockOf(r)
    else {
      const ref = decodeRef(r.payload)
      if (!ref || ref.firstSeq !== r.block) throw new Error('a block reference that does not match its row')
      // A sequential reader (sinks, replay) finds the block decrypted already: no row to read again.
      let cached = this.blocks.get(ref.firstSeq)
      if (!cached) {
        const first = this.eventAt.get(ref.firstSeq) as EventRow | undefined
        if (!first || first.block !== 0) throw new Error('the first event of the block is gone')
        cached = this.openBlockOf(first)
      }
      block = cached
      line = ref.line
    }
    const json = block.keyId === keyId ? block.lines[line] : undefined
    if (json === undefined) throw new Error('the event is not in its block')
    return json
  }

  /** Decrypts the block that `first` starts; the last 16 blocks opened are kept. */
  private openBlockOf(first: EventRow): { keyId: string; lines: string[] } {
    const keyId = dataKeyId(first.session_id, first.time)
    const block = { keyId, lines: openBlock(this.readKey(first.session_id, first.time), first.id, first.payload) }
    if (this.blocks.size >= 16) this.blocks.delete(this.blocks.keys().next().value as number)
    this.blocks.set(first.seq, block)
    return block
  }

  private readKey(sessionId: string | null, time: string): Buffer {
    const key = this.keys.dataKey(dataKeyId(sessionId, time), false)
    if (!key) throw new Error('no key')
    return key
  }

  async createSession(s: SessionRecord): Promise<void> {
    this.db.transaction(() => this.insertSession(s))()
    this.keys.settle(true)
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
    return row ? this.toSession(row) : undefined
  }

  async listSessions(filter: SessionFilter = {}): Promise<SessionRecord[]> {
    const w = new Where()
      .when(filter.subject, 'subject = ?', filter.subject)
      .when(filter.issuer, 'issuer = ?', filter.issuer)
      .when(filter.since, 'started_at >= ?', filter.since)
      .when(filter.connection, 'EXISTS (SELECT 1 FROM json_each(sessions.connections) WHERE value = ?)', filter.connection)
    const sql = `SELECT * FROM sessions ${w} ORDER BY started_at DESC, id DESC LIMIT ?`
    return (this.db.prepare(sql).all(...w.args, filter.limit ?? 100) as SessionRow[]).map((r) => this.toSession(r))
  }

  async markInterrupted(endedAt: string): Promise<string[]> {
    const rows = this.db.prepare(`UPDATE sessions SET status = 'interrupted', ended_at = ? WHERE status = 'active' RETURNING id`).all(endedAt) as { id: string }[]
    return rows.map((r) => r.id)
  }

  async appendEvents(events: AuditEvent[]): Promise<void> {
    if (events.length === 0) return
    let texts: Array<[number, string]>
    try {
      texts = this.appendTx(events)
      this.keys.settle(true)
    } catch (err) {
      this.keys.settle(false)
      for (const e of events) delete e.seq
      throw err
    }
    // Held only once committed (a rolled-back seq may be reused). The index is written in
    // batches: one FTS5 segment per small transaction costs more than the event itself. A search
    // brings it up to date first, so results are never behind.
    for (const t of texts) {
      this.unindexed.push(t)
      this.unindexedChars += t[1].length
    }
    if (this.unindexed.length >= INDEX_BATCH_EVENTS || this.unindexedChars >= INDEX_BATCH_CHARS) this.indexPending()
  }

  async listEvents(filter: EventFilter = {}): Promise<AuditEvent[]> {
    const w = new Where()
      .when(filter.sessionId, 'session_id = ?', filter.sessionId)
      .when(filter.afterSeq, 'seq > ?', filter.afterSeq)
      .in(filter.types, 'type')
    const sql = `SELECT ${EVENT_COLUMNS} FROM events ${w} ORDER BY seq LIMIT ?`
    return (this.db.prepare(sql).all(...w.args, filter.limit ?? 10_000) as EventRow[]).map((r) => this.toEvent(r))
  }

  async searchEvents(q: SearchQuery): Promise<SearchHit[]> {
    const match = this.keys.index.matchExpression(q.text)
    if (!match) return []
    this.db.transaction(() => this.indexTx()).immediate()
    const where = ['search MATCH ?']
    const args: unknown[] = [match]
    if (q.owner) {
      where.push('s.subject = ? AND s.issuer = ?')
      args.push(q.owner.subject, q.owner.issuer)
    }
    if (q.sessionId) {
      where.push('e.session_id = ?')
      args.push(q.sessionId)
    }
    args.push(Math.min(q.limit ?? 50, 1000))
    const rows = this.db
      .prepare(
        `SELECT e.seq, e.id, e.time, e.type, e.session_id, e.connection_id, e.connection, e.payload, e.block
           FROM search JOIN events e ON e.seq = search.rowid
           ${q.owner ? 'JOIN sessions s ON s.id = e.session_id' : ''}
          WHERE ${where.join(' AND ')}
          ORDER BY search.rowid DESC LIMIT ?`,
      )
      .all(...args) as EventRow[]
    const sessions = new Map<string, SessionRecord | undefined>()
    const hits: SearchHit[] = []
    for (const r of rows) {
      const hit: SearchHit = { event: this.toEvent(r) }
      if (r.session_id) {
        if (!sessions.has(r.session_id)) sessions.set(r.session_id, await this.getSession(r.session_id))
        const s = sessions.get(r.session_id)
        if (s) hit.session = s
      }
      hits.push(hit)
    }
    return hits
  }

  async checkpoint(kind: 'interval' | 'stop' = 'interval'): Promise<void> {
    if (!this.db.open) return
    const head = this.head()
    if (head.seq > this.lastCheckpointSeq) this.writeCheckpoint(head.seq, head.hash, kind)
  }

  async prune(before: string): Promise<PruneResult> {
    // The first event that must stay: of a session still active or ended after `before`, or (with
    // no session) newer than `before`. Everything before it goes, as one prefix of the chain.
    const keep = this.db
      .prepare(
        `SELECT e.seq FROM events e LEFT JOIN sessions s ON s.id = e.session_id
          WHERE NOT COALESCE(CASE WHEN s.id IS NULL THEN e.time < @before
                                  ELSE s.status != 'active' AND s.ended_at < @before END, 0)
          ORDER BY e.seq LIMIT 1`,
      )
      .get({ before }) as { seq: number } | undefined
    const head = this.head()
    let through = keep ? keep.seq - 1 : head.seq
    // At least once: what a configured sink has not delivered stays.
    for (const name of this.opts.retentionSinks ?? []) through = Math.min(through, await this.getSinkCursor(name))
    // A block goes whole or stays whole: never keep a member whose first event would go.
    const split = this.db.prepare(`SELECT MIN(block) AS first FROM events WHERE seq > @through AND seq < @through + ${BLOCK_SPAN} AND block > 0 AND block <= @through`)
    for (let s = split.get({ through }) as { first: number | null }; s.first !== null; s = split.get({ through }) as { first: number | null }) {
      through = s.first - 1
    }
    const first = this.db.prepare(`SELECT seq FROM events ORDER BY seq LIMIT 1`).get() as { seq: number } | undefined
    if (!first || through < first.seq) return { events: 0, sessions: 0 }
    const at = this.db.prepare(`SELECT hash FROM events WHERE seq = ?`).get(through) as { hash: Buffer }
    let events = 0
    let sessions = 0
    const shredded: string[] = []
    this.db.transaction(() => {
      this.writeCheckpoint(through, at.hash, 'prune')
      this.db.prepare(`DELETE FROM search WHERE rowid <= ?`).run(through)
      this.db.prepare(`UPDATE search_state SET through = MAX(through, ?) WHERE id = 1`).run(through)
      this.unindexed = this.unindexed.filter(([seq]) => seq > through)
      events = this.db.prepare(`DELETE FROM events WHERE seq <= ?`).run(through).changes
      this.db.prepare(`DELETE FROM checkpoints WHERE seq < ?`).run(through)
      const gone = this.db
        .prepare(
          `DELETE FROM sessions WHERE status != 'active' AND ended_at < ?
             AND NOT EXISTS (SELECT 1 FROM events e WHERE e.session_id = sessions.id) RETURNING id`,
        )
        .all(before) as { id: string }[]
      sessions = gone.length
      // Crypto-shredding: without its data key, a copy of a pruned session elsewhere is unreadable.
      const del = this.db.prepare(`DELETE FROM keyring WHERE purpose = 'data' AND id = ?`)
      const delReviews = this.db.prepare(`DELETE FROM reviews WHERE session_id = ?`)
      for (const g of gone) {
        delReviews.run(g.id)
        del.run(g.id)
        shredded.push(g.id)
      }
      const days = this.db
        .prepare(
          `DELETE FROM keyring WHERE purpose = 'data' AND id LIKE 'day:%' AND substr(id, 5) < substr(?, 1, 10)
             AND NOT EXISTS (SELECT 1 FROM events e WHERE e.session_id IS NULL AND substr(e.time, 1, 10) = substr(keyring.id, 5)) RETURNING id`,
        )
        .all(before) as { id: string }[]
      for (const d of days) shredded.push(d.id)
    })()
    this.keys.forget(shredded)
    return { throughSeq: through, events, sessions }
  }

  // ---- reviews (src/reviews) ----

  private sealReview(sessionId: string, id: string, part: 'request' | 'decision', value: unknown): Buffer {
    const key = this.keys.dataKey(sessionId, true)!
    return seal(key, Buffer.from(JSON.stringify(value), 'utf8'), REVIEW_AAD(id, part))
  }

  private toReview(r: ReviewRow): ReviewRecord {
    const rec: ReviewRecord = {
      id: r.id,
      sessionId: r.session_id,
      connectionId: r.connection_id,
      connection: r.connection,
      requester: { kind: 'human', subject: r.subject, issuer: r.issuer, groups: [] },
      rule: r.rule,
      reviewers: JSON.parse(r.reviewers) as string[],
      statement: '',
      params: [],
      // Unreadable (altered, or its session's key shredded): a fingerprint nothing can match.
      fingerprint: 'unreadable',
      createdAt: r.created_at,
      expiresAt: r.expires_at,
      state: r.state,
    }
    const key = this.keys.dataKey(r.session_id, false)
    try {
      if (!key) throw new Error('no key')
      const req = JSON.parse(open(key, r.request, REVIEW_AAD(r.id, 'request')).toString('utf8')) as Pick<ReviewRecord, 'requester' | 'agent' | 'statement' | 'params' | 'fingerprint' | 'scope'>
      rec.requester = req.requester
      rec.statement = req.statement
      rec.params = req.params
      rec.fingerprint = req.fingerprint
      if (req.agent !== undefined) rec.agent = req.agent
      if (req.scope !== undefined) rec.scope = req.scope
      if (r.decision) {
        const d = JSON.parse(open(key, r.decision, REVIEW_AAD(r.id, 'decision')).toString('utf8')) as Pick<ReviewRecord, 'decidedBy' | 'reason'>
        if (d.decidedBy) rec.decidedBy = d.decidedBy
        if (d.reason !== undefined) rec.reason = d.reason
      }
    } catch {
      rec.statement = '(unreadable: the review was altered or its key is gone; run `agw audit verify`)'
    }
    if (r.decided_at !== null) rec.decidedAt = r.decided_at
    if (r.grant_until !== null) rec.grantUntil = r.grant_until
    return rec
  }

  async createReview(r: ReviewRecord): Promise<void> {
    this.db.transaction(() => {
      const request = this.sealReview(r.sessionId, r.id, 'request', {
        requester: r.requester,
        agent: r.agent,
        statement: r.statement,
        params: r.params,
        fingerprint: r.fingerprint,
        scope: r.scope,
      })
      this.db
        .prepare(
          `INSERT INTO reviews (id, session_id, connection_id, connection, rule, reviewers, subject, issuer, state, created_at, expires_at, request)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(r.id, r.sessionId, r.connectionId, r.connection, r.rule, JSON.stringify(r.reviewers), r.requester.subject, r.requester.issuer, r.state, r.createdAt, r.expiresAt, request)
    })()
    this.keys.settle(true)
  }

  async getReview(id: string): Promise<ReviewRecord | undefined> {
    const row = this.db.prepare(`SELECT * FROM reviews WHERE id = ?`).get(id) as ReviewRow | undefined
    return row ? this.toReview(row) : undefined
  }

  async listReviews(filter: ReviewFilter = {}): Promise<ReviewRecord[]> {
    const w = new Where()
      .in(filter.states, 'state')
      .when(filter.sessionId, 'session_id = ?', filter.sessionId)
      .when(filter.connection, 'connection = ?', filter.connection)
      .when(filter.rule, 'rule = ?', filter.rule)
      .when(filter.grantActiveAt, `state = 'approved' AND grant_until > ?`, filter.grantActiveAt)
      .when(filter.decidedSince, 'decided_at >= ?', filter.decidedSince)
    const sql = `SELECT * FROM reviews ${w} ORDER BY created_at DESC, id DESC LIMIT ?`
    return (this.db.prepare(sql).all(...w.args, filter.limit ?? 100) as ReviewRow[]).map((r) => this.toReview(r))
  }

  async settleReview(id: string, d: ReviewDecision): Promise<boolean> {
    const row = this.db.prepare(`SELECT session_id FROM reviews WHERE id = ?`).get(id) as { session_id: string } | undefined
    if (!row) return false
    const decision = d.decidedBy || d.reason !== undefined ? this.sealReview(row.session_id, id, 'decision', { decidedBy: d.decidedBy, reason: d.reason }) : null
    const info = this.db
      .prepare(`UPDATE reviews SET state = ?, decided_at = ?, grant_until = ?, decision = ? WHERE id = ? AND state = 'pending'`)
      .run(d.state, d.decidedAt, d.grantUntil ?? null, decision, id)
    this.keys.settle(true)
    return info.changes === 1
  }

  async expirePendingReviews(at: string, reason: string): Promise<ReviewRecord[]> {
    const rows = this.db.prepare(`SELECT id FROM reviews WHERE state = 'pending'`).all() as { id: string }[]
    const expired: ReviewRecord[] = []
    for (const { id } of rows) {
      if (await this.settleReview(id, { state: 'expired', decidedAt: at, reason })) {
        const r = await this.getReview(id)
        if (r) expired.push(r)
      }
    }
    return expired
  }

  // ---- sink cursors (src/audit/sinks): the last seq each sink acknowledged ----

  async getSinkCursor(name: string): Promise<number> {
    this.db.exec(`CREATE TABLE IF NOT EXISTS sink_cursors (name TEXT PRIMARY KEY, seq INTEGER NOT NULL, updated_at TEXT NOT NULL)`)
    const row = this.db.prepare(`SELECT seq FROM sink_cursors WHERE name = ?`).get(name) as { seq: number } | undefined
    return row?.seq ?? 0
  }

  async setSinkCursor(name: string, seq: number): Promise<void> {
    this.db.exec(`CREATE TABLE IF NOT EXISTS sink_cursors (name TEXT PRIMARY KEY, seq INTEGER NOT NULL, updated_at TEXT NOT NULL)`)
    this.db
      .prepare(`INSERT INTO sink_cursors (name, seq, updated_at) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at`)
      .run(name, seq, new Date().toISOString())
  }

  /** Re-wraps every key under a new master key (`agw audit rotate-key`); events are not rewritten. */
  rotateMasterKey(next: Buffer): number {
    return this.keys.rotate(new MasterKey(next))
  }

  get masterKeyId(): string {
    return this.keys.masterKeyId
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t)
    if (!this.db.open) return
    try {
      if (this.unindexed.length > 0) this.indexPending()
      if (!this.opts.passive) await this.checkpoint('stop')
    } finally {
      this.db.close()
    }
  }
}

/** Opens the store named by the config's `storage` setting (`sqlite:PATH`). */
export function openStore(storage: string, opts: SqliteStoreOptions = {}): SqliteStore {
  if (storage.startsWith('sqlite:')) return new SqliteStore(storage.slice('sqlite:'.length), opts)
  throw new AgwError('bad_input', `storage "${storage.replace(/:\/\/[^@]*@/, '://***@')}" is not supported yet; use sqlite:PATH`)
}

export function storeError(path: string, err: unknown): AgwError {
  const e = err as { code?: string; message?: string }
  const what =
    e.code === 'SQLITE_NOTADB' || e.code === 'SQLITE_CORRUPT'
      ? 'it is damaged or not an agw store'
      : e.code === 'SQLITE_CANTOPEN' || e.code === 'SQLITE_READONLY' || e.code === 'SQLITE_PERM'
        ? 'it cannot be opened (check that it exists and this user may read and write it and its directory)'
        : (e.message ?? String(err))
  return new AgwError(
    'bad_input',
    `cannot open the store ${path}: ${what}. Check the storage setting and the file; a damaged file can be moved aside (the gateway then starts with an empty store, and \`agw audit verify\` on the old file tells what is wrong).`,
    { cause: err },
  )
}
