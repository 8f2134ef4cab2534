import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { EventLog } from '../../../src/recording/event-log.js'
import type { AuditEvent } from '../../../src/recording/events.js'
import type { Store } from '../../../src/storage/store.js'

/** A store that only counts the batches it is given (the EventLog's own behaviour is under test). */
function countingStore(): { store: Store; batches: number[] } {
  const batches: number[] = []
  let seq = 0
  const store = {
    appendEvents(events: AuditEvent[]) {
      batches.push(events.length)
      for (const e of events) e.seq = ++seq
      return Promise.resolve()
    },
  } as unknown as Store
  return { store, batches }
}

const log = pino({ level: 'silent' })
const emitQuery = (events: EventLog, i: number) => events.emit({ type: 'query', sessionId: 's', data: { queryId: i, sql: 'SELECT 1' } })

describe('EventLog batches', () => {
  it('without a linger, writes what one tick emitted as one batch', async () => {
    const { store, batches } = countingStore()
    const events = new EventLog(store, log)
    for (let i = 0; i < 3; i++) emitQuery(events, i)
    await new Promise((r) => setImmediate(r))
    await new Promise((r) => setImmediate(r))
    emitQuery(events, 3)
    await events.flush()
    expect(batches).toEqual([3, 1])
  })

  it('with a linger, events of several ticks share a batch, and each is durable once written', async () => {
    const { store, batches } = countingStore()
    const events = new EventLog(store, log, 30)
    const first = emitQuery(events, 0)
    const durable = events.durable(first)
    await new Promise((r) => setImmediate(r))
    emitQuery(events, 1)
    await new Promise((r) => setTimeout(r, 5))
    emitQuery(events, 2)
    expect(batches).toEqual([])
    await durable
    expect(batches).toEqual([3])
    expect(first.seq).toBe(1)
  })
})
