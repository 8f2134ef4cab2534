/**
 * The SQLite store as the gateway uses it: what it keeps encrypted, reading back, the blind search
 * index, retention that keeps the chain verifiable, and master key rotation.
 */
import Database from 'better-sqlite3'
import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { verifyChain } from '../../../src/audit/verify.js'
import { uuidv7 } from '../../../src/ids.js'
import type { AuditEvent } from '../../../src/recording/events.js'
import { SqliteChainSource } from '../../../src/storage/sqlite-chain.js'
import { SqliteStore } from '../../../src/storage/sqlite.js'
import { queryEvent, session, tempStorePath } from '../audit/tamper.js'

const stores: SqliteStore[] = []
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close()
})

function openStore(path = tempStorePath(), key: Buffer = randomBytes(32), opts = {}): { store: SqliteStore; path: string; key: Buffer } {
  const store = new SqliteStore(path, { masterKey: key, ...opts })
  stores.push(store)
  return { store, path, key }
}

function verify(path: string, key: Buffer) {
  const source = new SqliteChainSource(path, key)
  try {
    return verifyChain(source)
  } finally {
    source.close()
  }
}

/** Every byte of the store: the main file and its write-ahead log. */
function fileBytes(path: string): string {
  let out = readFileSync(path).toString('latin1')
  try {
    out += readFileSync(`${path}-wal`).toString('latin1')
  } catch {
    // no WAL
  }
  return out
}

describe('at rest', () => {
  it('keeps SQL text, result rows, identities and commands out of the file in clear', async () => {
    const { store, path } = openStore()
    const s = session({ identity: { kind: 'human', subject: 'alice', email: 'alice.secret@example.com', groups: ['sre'], issuer: 'https://idp.test' }, command: 'psql postgres://app:Hunter2Password@db/app' })
    await store.createSession(s)
    const e = queryEvent(s.id, "select card from payments where owner = 'Zebediah Quux'", 0)
    const r = queryEvent(s.id, '', 1)
    r.data.rows = [['4111-XXXX-XXXX-1111-visible-only-masked'], ['row-value-Xylophone']]
    await store.appendEvents([e, r])
    await store.checkpoint()
    const bytes = fileBytes(path)
    // Control: what is meant to be in clear (agent, host) is found, so the search below is real.
    expect(bytes).toContain(s.host)
    for (const secret of ['Zebediah', 'Xylophone', 'alice.secret@example.com', 'Hunter2Password', 'payments']) expect(bytes).not.toContain(secret)
    // ...and they read back decrypted.
    const events = await store.listEvents({ sessionId: s.id })
    expect(events.map((x) => x.data.sql ?? x.data.rows)).toEqual([e.data.sql, r.data.rows])
    expect((await store.getSession(s.id))?.identity.email).toBe('alice.secret@example.com')
    expect((await store.getSession(s.id))?.command).toBe(s.command)
  })

  it('cannot be opened with another master key', async () => {
    const { store, path } = openStore()
    await store.close()
    expect(() => new SqliteStore(path, { masterKey: randomBytes(32) })).toThrow(/encrypted under master key/)
  })

  it('keeps the database and its -wal and -shm files private (0600) whatever the umask, and a directory it creates 0700 (issue 10)', async () => {
    const mode = (p: string) => statSync(p).mode & 0o777
    const old = process.umask(0o022)
    try {
      const dir = join(mkdtempSync(join(tmpdir(), 'agw-modes-')), 'state', 'agw')
      const { store, path } = openStore(join(dir, 'agw.db'))
      const s = session()
      await store.createSession(s)
      await store.appendEvents([queryEvent(s.id, 'select 1', 0)])
      for (const f of [path, `${path}-wal`, `${path}-shm`]) {
        expect(existsSync(f), f).toBe(true)
        expect(mode(f).toString(8), f).toBe('600')
      }
      expect(mode(dir).toString(8)).toBe('700')
      expect(mode(join(dir, '..')).toString(8)).toBe('700')
    } finally {
      process.umask(old)
    }
  })

  it('tightens the files of a store an earlier version left world-readable', async () => {
    const path = tempStorePath()
    const key = randomBytes(32)
    const first = new SqliteStore(path, { masterKey: key })
    await first.createSession(session())
    // Left open, so the -wal and -shm files stay while the modes are loosened.
    for (const f of [path, `${path}-wal`, `${path}-shm`]) chmodSync(f, 0o644)
    const second = openStore(path, key).store
    await second.listSessions({})
    for (const f of [path, `${path}-wal`, `${path}-shm`]) expect((statSync(f).mode & 0o777).toString(8), f).toBe('600')
    await first.close()
  })

  it('answers a damaged file with a clear error, not a crash', () => {
    const path = tempStorePath()
    writeFileSync(path, randomBytes(8192))
    expect(() => new SqliteStore(path, { masterKey: randomBytes(32) })).toThrow(/cannot open the store .*damaged or not an agw store/)
  })
})

describe('events', () => {
  it('come back in seq order, decrypted, after a seq (what the sinks read)', async () => {
    const { store } = openStore()
    const s = session()
    await store.createSession(s)
    const batch: AuditEvent[] = Array.from({ length: 10 }, (_, i) => queryEvent(s.id, `select ${i}`, i))
    await store.appendEvents(batch.slice(0, 4))
    await store.appendEvents(batch.slice(4))
    const after = await store.listEvents({ afterSeq: batch[2]!.seq!, limit: 3 })
    expect(after.map((e) => e.id)).toEqual(batch.slice(3, 6).map((e) => e.id))
    expect(after.map((e) => e.seq)).toEqual([4, 5, 6])
    expect(after[0]?.actor?.email).toBe('alice@example.com')
  })

  it('keeps events without a session (auth.failed) under a day key', async () => {
    const { store, path, key } = openStore()
    await store.appendEvents([{ id: uuidv7(), time: new Date().toISOString(), type: 'auth.failed', data: { reason: 'expired token' } }])
    expect((await store.listEvents())[0]?.data.reason).toBe('expired token')
    await store.checkpoint()
    expect(verify(path, key).ok).toBe(true)
  })

  it('keep sink cursors', async () => {
    const { store } = openStore()
    expect(await store.getSinkCursor('siem')).toBe(0)
    await store.setSinkCursor('siem', 42)
    expect(await store.getSinkCursor('siem')).toBe(42)
  })
})

describe('payload blocks (ADR 0015)', () => {
  function rows(path: string): { seq: number; block: number | null; n: number }[] {
    const db = new Database(path, { readonly: true })
    try {
      return db.prepare('SELECT seq, block, length(payload) AS n FROM events ORDER BY seq').all() as { seq: number; block: number | null; n: number }[]
    } finally {
      db.close()
    }
  }

  it('seals the events of a batch per session as one block; each reads back as itself, interleaved or not', async () => {
    const { store, path, key } = openStore()
    const a = session()
    const b = session()
    await store.createSession(a)
    await store.createSession(b)
    const batch = [0, 1, 2, 3, 4, 5, 6].map((i) => queryEvent(i % 3 === 0 ? b.id : a.id, `select ${i}`, 2 * i))
    const { sessionId: _none, ...alone } = queryEvent(a.id, 'alone', 0)
    batch.push({ ...alone, type: 'auth.failed' })
    await store.appendEvents(batch)
    // a: seqs 2,3,5,6 (block at 2); b: seqs 1,4,7 (block at 1); the day-key event is alone.
    expect(rows(path).map((r) => [r.seq, r.block])).toEqual([[1, 0], [2, 0], [3, 2], [4, 1], [5, 2], [6, 2], [7, 1], [8, null]])
    expect(rows(path).filter((r) => r.block !== null && r.block > 0).every((r) => r.n === 11)).toBe(true)
    const back = await store.listEvents()
    expect(back.map((e) => [e.id, e.sessionId, e.data.sql])).toEqual(batch.map((e) => [e.id, e.sessionId, e.data.sql]))
    // Read one at a time (no block in the reader's cache yet), from another connection.
    const other = openStore(path, key).store
    for (const e of batch) expect((await other.listEvents({ afterSeq: e.seq! - 1, limit: 1 }))[0]?.data.sql).toBe(e.data.sql)
    await store.checkpoint()
    expect(verify(path, key).ok).toBe(true)
  })

  it('opens a store written before blocks (schema 3): its events read and verify, new ones chain on in blocks', async () => {
    const { store, path, key } = openStore()
    const s = session()
    await store.createSession(s)
    // One event per batch is sealed on its own, exactly as every event was before schema 4.
    for (let i = 0; i < 3; i++) await store.appendEvents([queryEvent(s.id, `select ${i}`, 2 * i)])
    await store.close()
    const db = new Database(path)
    db.exec('ALTER TABLE events DROP COLUMN block')
    db.pragma('user_version = 3')
    db.close()
    const reopened = openStore(path, key).store
    await reopened.appendEvents([3, 4, 5].map((i) => queryEvent(s.id, `select ${i}`, 2 * i)))
    expect((await reopened.listEvents()).map((e) => e.data.sql)).toEqual([0, 1, 2, 3, 4, 5].map((i) => `select ${i}`))
    expect(rows(path).map((r) => r.block)).toEqual([null, null, null, 0, 4, 4])
    await reopened.checkpoint()
    expect(verify(path, key)).toMatchObject({ ok: true, events: 6 })
  })

  it('seals a large payload on its own', async () => {
    const { store, path } = openStore()
    const s = session()
    await store.createSession(s)
    const big = 'x'.repeat(40_000)
    await store.appendEvents([queryEvent(s.id, 'select 1', 0), queryEvent(s.id, big, 2), queryEvent(s.id, 'select 3', 4)])
    expect(rows(path).map((r) => [r.seq, r.block])).toEqual([[1, 0], [2, null], [3, 1]])
    expect((await store.listEvents()).map((e) => e.data.sql)).toEqual(['select 1', big, 'select 3'])
  })

  it('a reference moved to another line is found by verify; a block column pointing elsewhere makes that event unreadable, nothing else', async () => {
    const { store, path, key } = openStore()
    const s = session()
    await store.createSession(s)
    await store.appendEvents([0, 1, 2, 3].map((i) => queryEvent(s.id, `select ${i}`, 2 * i)))
    await store.appendEvents([4, 5].map((i) => queryEvent(s.id, `select ${i}`, 2 * i)))
    await store.close()
    const db = new Database(path)
    db.prepare('UPDATE events SET block = 5 WHERE seq = 3').run()
    db.close()
    const reader = openStore(path, key).store
    expect((await reader.listEvents()).map((e) => e.data.sql ?? String(e.data.unreadable).slice(0, 30))).toEqual([
      'select 0', 'select 1', 'the payload cannot be decrypte', 'select 3', 'select 4', 'select 5',
    ])
    const db2 = new Database(path)
    const ref = Buffer.from((db2.prepare('SELECT payload FROM events WHERE seq = 4').get() as { payload: Buffer }).payload)
    ref[10] = 1
    db2.prepare('UPDATE events SET payload = ?, block = 1 WHERE seq = 4').run(ref)
    db2.prepare('UPDATE events SET block = 1 WHERE seq = 3').run()
    db2.close()
    expect(verify(path, key)).toMatchObject({ ok: false, finding: { kind: 'changed', seq: 4 } })
  })
})

describe('search', () => {
  it('finds words and phrases of queries and output; only the owner sees theirs', async () => {
    const { store, path } = openStore()
    const mine = session()
    const theirs = session({ identity: { kind: 'human', subject: 'bob', groups: [], issuer: 'https://idp.test' } })
    await store.createSession(mine)
    await store.createSession(theirs)
    const q1 = queryEvent(mine.id, 'SELECT email FROM customers WHERE region = 42', 0)
    const q2 = queryEvent(theirs.id, 'select * from customers', 0)
    const t: AuditEvent = { id: uuidv7(), time: new Date().toISOString(), type: 'terminal.output', sessionId: mine.id, data: { n: 1, time: 0.5, kind: 'o', data: '\u001b[1mRebuilding\u001b[0m the flux capacitor\r\n' } }
    await store.appendEvents([q1, q2, t])
    const ids = async (text: string, owner?: { subject: string; issuer: string }) =>
      (await store.searchEvents({ text, ...(owner ? { owner } : {}) })).map((h) => h.event.id)
    expect(await ids('customers')).toEqual([q2.id, q1.id])
    expect(await ids('customers', { subject: 'alice', issuer: 'https://idp.test' })).toEqual([q1.id])
    expect(await ids('"email from customers"')).toEqual([q1.id])
    expect(await ids('"customers email"')).toEqual([])
    expect(await ids('flux rebuilding')).toEqual([t.id])
    expect(await ids('nothing-like-this')).toEqual([])
    // The index holds keyed tokens, never the words.
    await store.close()
    expect(fileBytes(path)).toContain(mine.host)
    expect(fileBytes(path)).not.toContain('capacitor')
  })
})

describe('search index written in batches (ADR 0014)', () => {
  const count = (path: string, sql: string) => {
    const db = new Database(path, { readonly: true })
    try {
      return (db.prepare(sql).get() as { n: number }).n
    } finally {
      db.close()
    }
  }

  it('a search on another connection finds what the writer has not indexed yet; nothing is indexed twice', async () => {
    const { store: writer, path, key } = openStore()
    const s = session()
    await writer.createSession(s)
    const events = Array.from({ length: 10 }, (_, i) => queryEvent(s.id, `SELECT ${i} FROM ledger_${i % 2}`, i * 2))
    await writer.appendEvents(events)
    // Not indexed yet: the writer holds the text for its next batch.
    expect(count(path, 'SELECT through AS n FROM search_state')).toBe(0)
    const { store: reader } = openStore(path, key, { passive: true })
    const found = await reader.searchEvents({ text: 'ledger_1' })
    expect(found.map((h) => h.event.id)).toEqual(events.filter((_, i) => i % 2 === 1).map((e) => e.id).reverse())
    expect(count(path, 'SELECT through AS n FROM search_state')).toBe(events.at(-1)!.seq)
    // The writer's own batch comes later and skips what the reader indexed.
    await writer.appendEvents([queryEvent(s.id, 'SELECT 99 FROM ledger_1', 0)])
    await writer.close()
    expect(count(path, 'SELECT count(*) AS n FROM search')).toBe(11)
    expect((await reader.searchEvents({ text: 'ledger_1' })).length).toBe(6)
  })

  it('a gateway that stopped before indexing loses nothing: the next search reads the events back', async () => {
    const path = tempStorePath()
    const key = randomBytes(32)
    // A store that is never closed stands for a gateway killed before its index batch.
    const crashed = new SqliteStore(path, { masterKey: key })
    const s = session()
    await crashed.createSession(s)
    const q = queryEvent(s.id, 'SELECT iban FROM payouts', 0)
    await crashed.appendEvents([q])
    const { store } = openStore(path, key)
    expect((await store.searchEvents({ text: 'payouts' })).map((h) => h.event.id)).toEqual([q.id])
    await crashed.close()
    expect(count(path, 'SELECT count(*) AS n FROM search')).toBe(1)
  })

  it('a batch that rolls back leaves nothing for the index: its seqs go to the next events', async () => {
    const { store } = openStore()
    const s = session()
    await store.createSession(s)
    const ok = queryEvent(s.id, 'SELECT 1 FROM first_table', 0)
    await store.appendEvents([ok])
    // The second event reuses the first one's id: the UNIQUE constraint rolls the batch back.
    const failing = [queryEvent(s.id, 'SELECT 2 FROM ghost_table', 0), { ...queryEvent(s.id, 'SELECT 3', 0), id: ok.id }]
    await expect(store.appendEvents(failing)).rejects.toThrow()
    const next = queryEvent(s.id, 'SELECT 4 FROM real_table', 0)
    await store.appendEvents([next])
    expect(await store.searchEvents({ text: 'ghost_table' })).toEqual([])
    expect((await store.searchEvents({ text: 'real_table' })).map((h) => h.event.id)).toEqual([next.id])
  })

  it('indexes without a search, once a batch is full', async () => {
    const { store, path } = openStore()
    const s = session()
    await store.createSession(s)
    for (let i = 0; i < 1100; i += 100) await store.appendEvents(Array.from({ length: 100 }, (_, j) => queryEvent(s.id, `SELECT ${i + j}`, (i + j) * 2)))
    expect(count(path, 'SELECT through AS n FROM search_state')).toBeGreaterThanOrEqual(1000)
  })
})

describe('retention', () => {
  it('prunes old ended sessions as a prefix; the chain still verifies; their keys are gone', async () => {
    const { store, path, key } = openStore()
    const old = session()
    const young = session()
    await store.createSession(old)
    await store.appendEvents([queryEvent(old.id, 'select 1', 0), queryEvent(old.id, 'select 1', 1)])
    await store.endSession(old.id, { endedAt: new Date(Date.now() - 40 * 86_400_000).toISOString(), status: 'ended' })
    await store.createSession(young)
    await store.appendEvents([queryEvent(young.id, 'select 2', 0), queryEvent(old.id, 'late event of the old session', 1), queryEvent(young.id, 'select 3', 2)])
    const result = await store.prune(new Date(Date.now() - 30 * 86_400_000).toISOString())
    // The old session's late event (seq 4) sits after the young session's first one: only seq 1-2 go.
    expect(result).toMatchObject({ throughSeq: 2, events: 2, sessions: 0 })
    expect(verify(path, key)).toMatchObject({ ok: true, firstSeq: 3, events: 3 })
    await store.endSession(young.id, { endedAt: new Date(Date.now() - 35 * 86_400_000).toISOString(), status: 'ended' })
    expect(await store.prune(new Date(Date.now() - 30 * 86_400_000).toISOString())).toMatchObject({ throughSeq: 5, events: 3, sessions: 2 })
    expect(await store.listSessions()).toEqual([])
    const db = new Database(path, { readonly: true })
    expect(db.prepare(`SELECT count(*) AS n FROM keyring WHERE purpose = 'data'`).get()).toEqual({ n: 0 })
    db.close()
    expect(verify(path, key)).toMatchObject({ ok: true, events: 0 })
    // New events continue the chain from the retention checkpoint.
    const next = session()
    await store.createSession(next)
    await store.appendEvents([queryEvent(next.id, 'select 4', 0)])
    expect(verify(path, key)).toMatchObject({ ok: true, events: 1, firstSeq: 6 })
  })
})

describe('rotation', () => {
  it('re-wraps the keys under a new master key; events stay as they are and verify', async () => {
    const { store, path, key } = openStore()
    const s = session()
    await store.createSession(s)
    await store.appendEvents([queryEvent(s.id, 'select rotated', 0)])
    await store.close()
    const before = new Database(path, { readonly: true }).prepare('SELECT payload, hash FROM events').all()
    const next = randomBytes(32)
    const rotating = new SqliteStore(path, { masterKey: key })
    expect(rotating.rotateMasterKey(next)).toBeGreaterThanOrEqual(3)
    await rotating.close()
    expect(() => new SqliteStore(path, { masterKey: key })).toThrow(/encrypted under master key/)
    const { store: after } = openStore(path, next)
    expect((await after.listEvents())[0]?.data.sql).toBe('select rotated')
    expect(new Database(path, { readonly: true }).prepare('SELECT payload, hash FROM events').all()).toEqual(before)
    expect(verify(path, next).ok).toBe(true)
  })
})
