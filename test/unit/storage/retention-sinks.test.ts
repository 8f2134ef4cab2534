/**
 * Retention and the sinks' at-least-once promise (SPEC section 5: an event waits in the store until
 * each sink has taken it): pruning stops at the lowest cursor of the configured sinks.
 */
import { randomBytes } from 'node:crypto'
import { afterEach, expect, it } from 'vitest'
import { SqliteStore } from '../../../src/storage/sqlite.js'
import { queryEvent, session, tempStorePath } from '../audit/tamper.js'

const stores: SqliteStore[] = []
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close()
})

async function oldSessionWithEvents(store: SqliteStore, n: number): Promise<void> {
  const s = session()
  await store.createSession(s)
  await store.appendEvents(Array.from({ length: n }, (_, i) => queryEvent(s.id, `select ${i}`, i)))
  await store.endSession(s.id, { endedAt: new Date(Date.now() - 40 * 86_400_000).toISOString(), status: 'ended' })
}

const cutoff = () => new Date(Date.now() - 30 * 86_400_000).toISOString()

it('keeps what a configured sink has not delivered, and prunes it once delivered', async () => {
  const store = new SqliteStore(tempStorePath(), { masterKey: randomBytes(32), retentionSinks: ['siem', 'file:/var/log/agw.jsonl'] })
  stores.push(store)
  await oldSessionWithEvents(store, 6)
  await store.setSinkCursor('siem', 4)
  // The file sink has no cursor yet: it has taken nothing, so nothing may go.
  expect(await store.prune(cutoff())).toMatchObject({ events: 0 })
  await store.setSinkCursor('file:/var/log/agw.jsonl', 6)
  // The six events were appended as one block (ADR 0015): events 5 and 6 need the first one to be
  // read, so the block stays whole until the siem sink has taken all of it.
  expect(await store.prune(cutoff())).toMatchObject({ events: 0 })
  await store.setSinkCursor('siem', 6)
  expect(await store.prune(cutoff())).toMatchObject({ throughSeq: 6, events: 6 })
})

it('prunes up to a sink cursor between blocks, and keeps every kept event readable', async () => {
  const store = new SqliteStore(tempStorePath(), { masterKey: randomBytes(32), retentionSinks: ['siem'] })
  stores.push(store)
  const s = session()
  await store.createSession(s)
  // Two batches: seqs 1-4 (one block) and 5-8 (another).
  await store.appendEvents(Array.from({ length: 4 }, (_, i) => queryEvent(s.id, `select ${i}`, i)))
  await store.appendEvents(Array.from({ length: 4 }, (_, i) => queryEvent(s.id, `select ${i + 4}`, i + 4)))
  await store.endSession(s.id, { endedAt: new Date(Date.now() - 40 * 86_400_000).toISOString(), status: 'ended' })
  await store.setSinkCursor('siem', 6)
  expect(await store.prune(cutoff())).toMatchObject({ throughSeq: 4, events: 4 })
  const left = await store.listEvents({ sessionId: s.id })
  expect(left.map((e) => [e.seq, e.data.queryId])).toEqual([[5, 4], [6, 4], [7, 6], [8, 6]])
})

it('without sinks, retention prunes by age alone', async () => {
  const store = new SqliteStore(tempStorePath(), { masterKey: randomBytes(32) })
  stores.push(store)
  await oldSessionWithEvents(store, 3)
  expect(await store.prune(cutoff())).toMatchObject({ throughSeq: 3, events: 3 })
})
