/**
 * Test helpers: a store file with events in it, and the ways someone with write access to the file
 * could tamper with it (raw SQL, as an attacker would, not through the store).
 */
import Database from 'better-sqlite3'
import { randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { uuidv7 } from '../../../src/ids.js'
import type { AuditEvent } from '../../../src/recording/events.js'
import { SqliteStore, type SqliteStoreOptions } from '../../../src/storage/sqlite.js'
import type { SessionRecord } from '../../../src/storage/store.js'

export function tempStorePath(): string {
  return join(mkdtempSync(join(tmpdir(), 'agw-store-')), 'agw.db')
}

export function session(overrides: Partial<SessionRecord> = {}): SessionRecord {
  return {
    id: uuidv7(),
    startedAt: new Date().toISOString(),
    status: 'active',
    identity: { kind: 'human', subject: 'alice', email: 'alice@example.com', groups: ['sre'], issuer: 'https://idp.test' },
    agent: 'claude',
    host: 'laptop',
    command: 'psql postgres://app:hunter2@db/app',
    connections: ['pg'],
    ...overrides,
  }
}

export function queryEvent(sessionId: string, sql: string, i = 0): AuditEvent {
  return {
    id: uuidv7(),
    time: new Date().toISOString(),
    type: i % 2 === 0 ? 'query' : 'query.result',
    sessionId,
    connectionId: 'c1',
    connection: 'pg',
    actor: { kind: 'human', subject: 'alice', issuer: 'https://idp.test', email: 'alice@example.com' },
    data: i % 2 === 0 ? { queryId: i, sql, protocol: 'simple' } : { queryId: i - 1, tag: 'SELECT 1', rowCount: 1, columns: ['n'], rows: [[String(i)]] },
  }
}

export interface Fixture {
  path: string
  key: Buffer
  store: SqliteStore
  sessionId: string
}

/** A store with `n` events of one session, appended in batches as the EventLog does. */
export async function storeWith(n: number, opts: Partial<SqliteStoreOptions> = {}): Promise<Fixture> {
  const path = tempStorePath()
  const key = randomBytes(32)
  const store = new SqliteStore(path, { masterKey: key, ...opts })
  const s = session()
  await store.createSession(s)
  for (let i = 0; i < n; i += 500) {
    const batch: AuditEvent[] = []
    for (let j = i; j < Math.min(n, i + 500); j++) batch.push(queryEvent(s.id, `select ${j} from accounts`, j))
    await store.appendEvents(batch)
  }
  return { path, key, store, sessionId: s.id }
}

/** Raw SQL on the file, as an attacker with write access would do it. */
export function tamper(path: string, fn: (db: Database.Database) => void): void {
  const db = new Database(path)
  try {
    fn(db)
  } finally {
    db.close()
  }
}

export const attacks = {
  changeOneByte(path: string, seq: number): void {
    tamper(path, (db) => {
      const row = db.prepare('SELECT payload FROM events WHERE seq = ?').get(seq) as { payload: Buffer }
      const payload = Buffer.from(row.payload)
      // Byte 20, or the last one of a shorter payload (a block reference is 11 bytes).
      const at = Math.min(20, payload.length - 1)
      payload[at] = (payload[at] as number) ^ 0x01
      db.prepare('UPDATE events SET payload = ? WHERE seq = ?').run(payload, seq)
    })
  },
  deleteOne(path: string, seq: number): void {
    tamper(path, (db) => db.prepare('DELETE FROM events WHERE seq = ?').run(seq))
  },
  swap(path: string, a: number, b: number): void {
    tamper(path, (db) =>
      db.transaction(() => {
        db.prepare('UPDATE events SET seq = -1 WHERE seq = ?').run(a)
        db.prepare('UPDATE events SET seq = ? WHERE seq = ?').run(a, b)
        db.prepare('UPDATE events SET seq = ? WHERE seq = -1').run(b)
      })(),
    )
  },
  cutTail(path: string, fromSeq: number): void {
    tamper(path, (db) => db.prepare('DELETE FROM events WHERE seq >= ?').run(fromSeq))
  },
}
