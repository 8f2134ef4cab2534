/**
 * `agw audit verify`'s walk over a real store file: it passes on an untouched store and names the
 * first event that was changed, removed, reordered or cut off, and a rewritten chain.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { chainHash, GENESIS } from '../../../src/audit/chain.js'
import { verifyChain } from '../../../src/audit/verify.js'
import { uuidv7 } from '../../../src/ids.js'
import { SqliteChainSource } from '../../../src/storage/sqlite-chain.js'
import { attacks, storeWith, tamper, type Fixture } from './tamper.js'

let open: Fixture[] = []
afterEach(async () => {
  for (const f of open) await f.store.close()
  open = []
})

async function fixture(n: number, opts: Parameters<typeof storeWith>[1] = {}): Promise<Fixture> {
  const f = await storeWith(n, opts)
  open.push(f)
  return f
}

function verify(f: Fixture) {
  const source = new SqliteChainSource(f.path, f.key)
  try {
    return verifyChain(source)
  } finally {
    source.close()
  }
}

describe('verify', () => {
  it('passes on an untouched store, with its checkpoints', async () => {
    const f = await fixture(2500, { checkpointEvents: 1000 })
    const r = verify(f)
    expect(r.finding).toBeUndefined()
    expect(r).toMatchObject({ ok: true, events: 2500, firstSeq: 1, lastSeq: 2500 })
    expect(r.checkpoints).toBeGreaterThanOrEqual(2)
  })

  it('passes on events of every shape (absent fields, non-ASCII text, large payloads)', async () => {
    const f = await fixture(3)
    await f.store.appendEvents([
      { id: uuidv7(), time: new Date().toISOString(), type: 'auth.failed', data: { reason: 'expired' } },
      { id: uuidv7(), time: new Date().toISOString(), type: 'query', sessionId: f.sessionId, connection: 'pg-é-数据', data: { sql: 'select 1' } },
      { id: uuidv7(), time: new Date().toISOString(), type: 'query.result', sessionId: f.sessionId, connectionId: 'c', connection: 'pg', data: { rows: [['x'.repeat(200_000)]] } },
    ])
    expect(verify(f)).toMatchObject({ ok: true, events: 6 })
  })

  it('names the event whose payload had one byte changed', async () => {
    const f = await fixture(100)
    attacks.changeOneByte(f.path, 42)
    expect(verify(f)).toMatchObject({ ok: false, finding: { kind: 'changed', seq: 42 } })
  })

  it('names a changed clear-text column too (the event type)', async () => {
    const f = await fixture(100)
    tamper(f.path, (db) => db.prepare(`UPDATE events SET type = 'query.denied' WHERE seq = 7`).run())
    expect(verify(f).finding).toMatchObject({ kind: 'changed', seq: 7 })
  })

  it('names the gap where one event was deleted', async () => {
    const f = await fixture(100)
    attacks.deleteOne(f.path, 50)
    const r = verify(f)
    expect(r.finding).toMatchObject({ kind: 'removed', seq: 51 })
    expect(r.finding?.message).toContain('between seq 49 and seq 51')
  })

  it('names two swapped events as reordered', async () => {
    const f = await fixture(100)
    attacks.swap(f.path, 30, 31)
    expect(verify(f).finding).toMatchObject({ kind: 'reordered', seq: 30 })
  })

  it('catches a cut tail by the store seq counter', async () => {
    const f = await fixture(100, { checkpointEvents: 1_000_000, checkpointIntervalMs: 3_600_000 })
    attacks.cutTail(f.path, 91)
    expect(verify(f).finding).toMatchObject({ kind: 'cut', seq: 90 })
  })

  it('catches a cut tail by a signed checkpoint even when the counter was fixed', async () => {
    const f = await fixture(1000, { checkpointEvents: 500 })
    attacks.cutTail(f.path, 701)
    tamper(f.path, (db) => db.prepare(`UPDATE sqlite_sequence SET seq = 700 WHERE name = 'events'`).run())
    const r = verify(f)
    expect(r.finding).toMatchObject({ kind: 'cut', seq: 700 })
    expect(r.finding?.message).toContain('up to seq 1000')
  })

  it('catches an event changed and the whole chain recomputed, at the next signed checkpoint', async () => {
    const f = await fixture(1000, { checkpointEvents: 500 })
    tamper(f.path, (db) => {
      db.prepare(`UPDATE events SET type = 'query.denied' WHERE seq = 600`).run()
      const rows = db.prepare(`SELECT * FROM events ORDER BY seq`).all() as Record<string, unknown>[]
      let prev = GENESIS
      const upd = db.prepare(`UPDATE events SET prev_hash = ?, hash = ? WHERE seq = ?`)
      for (const r of rows) {
        const h = chainHash(prev, {
          id: r.id as string,
          time: r.time as string,
          type: r.type as string,
          sessionId: r.session_id as string | null,
          connectionId: r.connection_id as string | null,
          connection: r.connection as string | null,
          payload: r.payload as Buffer,
        })
        upd.run(prev, h, r.seq)
        prev = h
      }
    })
    expect(verify(f).finding).toMatchObject({ kind: 'rewritten', seq: 1000 })
  })

  it('refuses a checkpoint whose signature was altered', async () => {
    const f = await fixture(600, { checkpointEvents: 500 })
    tamper(f.path, (db) => db.prepare(`UPDATE checkpoints SET time = '2020-01-01T00:00:00.000Z'`).run())
    expect(verify(f).finding).toMatchObject({ kind: 'checkpoint' })
  })

  it('names events removed from the start without a retention checkpoint', async () => {
    const f = await fixture(100)
    tamper(f.path, (db) => db.prepare('DELETE FROM events WHERE seq <= 10').run())
    expect(verify(f).finding).toMatchObject({ kind: 'removed', seq: 11 })
  })
})
