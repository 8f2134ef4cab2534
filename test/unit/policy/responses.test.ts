// ResponseTracker (which server answer belongs to which client message, PostgreSQL docs "Message
// Flow: Extended Query" and postgres.c ignore_till_sync) and PreparedRegistry (what a prepared
// name may stand for while the server has not confirmed it yet).
import { describe, expect, it } from 'vitest'
import type { Classification } from '../../../src/policy/index.js'
import { BackendType as B } from '../../../src/protocols/postgres/codec/index.js'
import { PreparedRegistry, type PreparedDef } from '../../../src/protocols/postgres/prepared.js'
import { ResponseTracker, type EntryKind } from '../../../src/protocols/postgres/responses.js'

function tracker() {
  const log: string[] = []
  const t = new ResponseTracker<string>((e, s) => log.push(`${e.data}:${s}`))
  const add = (...items: [EntryKind, string][]) => items.forEach(([k, d]) => t.add(k, d))
  const feed = (...types: number[]) => types.map((ty) => t.backend(ty)?.data)
  return { t, log, add, feed }
}

describe('ResponseTracker', () => {
  it('attributes an extended batch answer by answer', () => {
    const { log, add, feed } = tracker()
    add(['parse', 'P'], ['bind', 'B'], ['describe', 'D'], ['execute', 'E'], ['sync', 'S'])
    expect(feed(B.ParseComplete, B.BindComplete, B.RowDescription, B.DataRow, B.DataRow, B.CommandComplete, B.ReadyForQuery)).toEqual(['P', 'B', 'D', 'E', 'E', 'E', 'S'])
    expect(log).toEqual(['P:ok', 'B:ok', 'D:ok', 'E:ok', 'S:ok'])
  })

  it('after an error in an extended message, the rest of the batch is skipped up to Sync', () => {
    const { log, add, feed } = tracker()
    add(['parse', 'P1'], ['bind', 'B1'], ['execute', 'E1'], ['query', 'Q'], ['sync', 'S'], ['parse', 'P2'])
    expect(feed(B.ErrorResponse)).toEqual(['P1'])
    expect(log).toEqual(['P1:failed', 'B1:skipped', 'E1:skipped', 'Q:skipped'])
    feed(B.ReadyForQuery, B.ParseComplete)
    expect(log.slice(4)).toEqual(['S:ok', 'P2:ok'])
  })

  it('skips messages queued after the error arrived, until a Sync is queued', () => {
    const { log, add, feed } = tracker()
    add(['execute', 'E'])
    feed(B.ErrorResponse)
    add(['bind', 'late'], ['sync', 'S'])
    expect(log).toEqual(['E:failed', 'late:skipped'])
    feed(B.ReadyForQuery)
    expect(log).toEqual(['E:failed', 'late:skipped', 'S:ok'])
  })

  it('a Query ends at ReadyForQuery, errors inside it included', () => {
    const { log, add, feed } = tracker()
    add(['query', 'Q'], ['query', 'Q2'])
    expect(feed(B.RowDescription, B.DataRow, B.CommandComplete, B.ErrorResponse, B.ReadyForQuery, B.EmptyQueryResponse, B.ReadyForQuery)).toEqual(['Q', 'Q', 'Q', 'Q', 'Q', 'Q2', 'Q2'])
    expect(log).toEqual(['Q:failed', 'Q2:ok'])
  })

  it('asynchronous messages belong to no message', () => {
    const { add, feed } = tracker()
    add(['query', 'Q'])
    expect(feed(B.NoticeResponse, B.ParameterStatus, B.NotificationResponse)).toEqual([undefined, undefined, undefined])
  })

  it('a commit that fails at Sync is the Sync\'s error', () => {
    const { log, add, feed } = tracker()
    add(['execute', 'E'], ['sync', 'S'])
    feed(B.CommandComplete, B.ErrorResponse, B.ReadyForQuery)
    expect(log).toEqual(['E:ok', 'S:failed'])
  })

  it('an answer that fits no waiting message throws (agw lost track: the connection must end)', () => {
    const { add, feed } = tracker()
    add(['parse', 'P'])
    expect(() => feed(B.BindComplete)).toThrow(/lost track/)
    expect(() => tracker().feed(B.ReadyForQuery)).toThrow(/lost track/)
  })
})

const def = (sql: string): PreparedDef => ({ sql, classification: { ok: true, statements: [] } as Classification })

describe('PreparedRegistry', () => {
  it('a definition earlier in the same batch decides exactly', () => {
    const r = new PreparedRegistry()
    const a = def('A')
    r.define('p', a)
    expect(r.candidates('p')).toEqual([a])
  })

  it('from a later batch, an unconfirmed definition adds to the confirmed one', () => {
    const r = new PreparedRegistry()
    const a = def('A')
    const b = def('B')
    r.resolve(r.define('p', a), 'ok')
    r.endBatch()
    const op = r.define('p', b)
    r.endBatch()
    expect(r.candidates('p')).toEqual([a, b])
    r.resolve(op, 'failed')
    expect(r.candidates('p')).toEqual([a])
  })

  it('a removal in the same batch is exact; from a later batch it waits for the server', () => {
    const r = new PreparedRegistry()
    const a = def('A')
    r.resolve(r.define('p', a), 'ok')
    r.endBatch()
    const close = r.remove('p')
    expect(r.candidates('p')).toEqual([])
    r.endBatch()
    expect(r.candidates('p')).toEqual([a])
    r.resolve(close, 'skipped')
    expect(r.candidates('p')).toEqual([a])
    r.resolve(r.remove('p'), 'ok')
    expect(r.candidates('p')).toEqual([])
  })

  it('a failed Parse of the unnamed statement still drops the old one (the server drops it first)', () => {
    const r = new PreparedRegistry()
    r.resolve(r.define('', def('A')), 'ok')
    r.endBatch()
    r.resolve(r.define('', def('B')), 'failed')
    expect(r.candidates('')).toEqual([])
  })

  it('DEALLOCATE ALL removes every name once confirmed', () => {
    const r = new PreparedRegistry()
    r.resolve(r.define('p', def('A')), 'ok')
    r.resolve(r.define('q', def('B')), 'ok')
    r.resolve(r.remove(null), 'ok')
    expect(r.names()).toEqual([])
  })

  it('operations known to have run before (earlier statements of the same Query) decide first', () => {
    const r = new PreparedRegistry()
    const a = def('A')
    expect(r.candidates('p', [{ name: 'p', def: a, batch: -1, dropsFirst: false }])).toEqual([a])
  })
})
