/**
 * The sink runner: at least once, in order, cursor only after acknowledgement, retries with
 * backoff, resume from the stored cursor, never woken by the data path into waiting for a sink.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { backoffDelay, SinkRunner, type RunnerOptions } from '../../../../src/audit/sinks/runner.js'
import { SinkError } from '../../../../src/audit/sinks/sink.js'
import { MemoryOutbox, ScriptedSink } from './fakes.js'

const FAST = { retry: { initialMs: 2, maxMs: 10 }, idleCheckMs: 60_000 }
const runners: SinkRunner[] = []

function runner(sink: ScriptedSink, store: MemoryOutbox, opts: RunnerOptions = FAST): SinkRunner {
  const r = new SinkRunner(sink, store, opts)
  runners.push(r)
  return r
}

afterEach(async () => {
  await Promise.all(runners.splice(0).map((r) => r.stop()))
})

describe('SinkRunner', () => {
  it('delivers everything in the store, in order, in batches of at most maxBatch, and saves the cursor', async () => {
    const store = new MemoryOutbox()
    store.add(250)
    const sink = new ScriptedSink('s', 100)
    await runner(sink, store).start()
    await expect.poll(() => sink.delivered.length).toBe(250)
    expect(sink.delivered.map((e) => e.seq)).toEqual(Array.from({ length: 250 }, (_, i) => i + 1))
    expect(sink.attempts.map((b) => b.length)).toEqual([100, 100, 50])
    expect(store.cursors.get('s')).toBe(250)
  })

  it('moves the cursor only after the sink acknowledged', async () => {
    const store = new MemoryOutbox()
    store.add(3)
    const sink = new ScriptedSink('s')
    sink.script = ['hold']
    const r = runner(sink, store)
    await r.start()
    await expect.poll(() => sink.holding).toBe(true)
    expect(store.cursors.get('s')).toBeUndefined()
    expect(r.status()).toMatchObject({ state: 'delivering', cursor: 0 })
    sink.release()
    await expect.poll(() => store.cursors.get('s')).toBe(3)
    expect(r.status()).toMatchObject({ cursor: 3, delivered: 3 })
  })

  it('retries a failed batch with the same events until it is acknowledged; nothing is skipped', async () => {
    const store = new MemoryOutbox()
    const events = store.add(5)
    const sink = new ScriptedSink('s')
    sink.script = ['fail', 'fail', 'fail']
    const r = runner(sink, store)
    await r.start()
    await expect.poll(() => sink.delivered.length).toBe(5)
    expect(sink.attempts).toHaveLength(4)
    for (const a of sink.attempts) expect(a.map((e) => e.id)).toEqual(events.map((e) => e.id))
    expect(r.status()).toMatchObject({ attempts: 4, failures: 0, lastError: 'receiver down', cursor: 5 })
    // The cursor was written once, after the success.
    expect(store.cursorWrites).toEqual([['s', 5]])
  })

  it('a restarted runner resumes after the stored cursor', async () => {
    const store = new MemoryOutbox()
    store.add(10)
    const first = new ScriptedSink('s')
    const r1 = runner(first, store)
    await r1.start()
    await expect.poll(() => store.cursors.get('s')).toBe(10)
    await r1.stop()
    expect(first.closed).toBe(true)
    store.add(4)
    const second = new ScriptedSink('s')
    await runner(second, store).start()
    await expect.poll(() => second.delivered.length).toBe(4)
    expect(second.delivered.map((e) => e.seq)).toEqual([11, 12, 13, 14])
  })

  it('each sink has its own cursor: one that fails does not hold back another', async () => {
    const store = new MemoryOutbox()
    store.add(3)
    const down = new ScriptedSink('down')
    down.script = Array(1000).fill('fail')
    const up = new ScriptedSink('up')
    await runner(down, store).start()
    await runner(up, store).start()
    await expect.poll(() => up.delivered.length).toBe(3)
    expect(store.cursors.get('up')).toBe(3)
    expect(store.cursors.get('down')).toBeUndefined()
  })

  it('wake() makes an idle runner look at the store at once (no waiting for the idle re-check)', async () => {
    const store = new MemoryOutbox()
    const sink = new ScriptedSink('s')
    const r = runner(sink, store)
    await r.start()
    await expect.poll(() => r.status().state).toBe('idle')
    store.add(2)
    r.wake()
    await expect.poll(() => sink.delivered.length).toBe(2)
  })

  it('without wake() an idle runner still finds new events at its idle re-check', async () => {
    const store = new MemoryOutbox()
    const sink = new ScriptedSink('s')
    const r = runner(sink, store, { ...FAST, idleCheckMs: 5 })
    await r.start()
    await expect.poll(() => r.status().state).toBe('idle')
    store.add(1)
    await expect.poll(() => sink.delivered.length).toBe(1)
  })

  it('a store read that fails is retried', async () => {
    const store = new MemoryOutbox()
    store.add(2)
    store.failReads = 2
    const sink = new ScriptedSink('s')
    await runner(sink, store).start()
    await expect.poll(() => sink.delivered.length).toBe(2)
  })

  it('stop() during backoff returns without moving the cursor; the events wait for the next start', async () => {
    const store = new MemoryOutbox()
    store.add(3)
    const sink = new ScriptedSink('s')
    sink.script = ['fail']
    const r = runner(sink, store, { retry: { initialMs: 3_600_000, maxMs: 3_600_000 }, idleCheckMs: 60_000 })
    await r.start()
    await expect.poll(() => r.status().state).toBe('backoff')
    await r.stop(5_000)
    expect(r.status().state).toBe('stopped')
    expect(store.cursors.get('s')).toBeUndefined()
    expect(sink.delivered).toHaveLength(0)
  })

  it('stop() aborts a delivery still in flight after the drain time', async () => {
    const store = new MemoryOutbox()
    store.add(3)
    const sink = new ScriptedSink('s')
    sink.script = ['hold']
    const r = runner(sink, store)
    await r.start()
    await expect.poll(() => sink.holding).toBe(true)
    await r.stop(0)
    expect(store.cursors.get('s')).toBeUndefined()
  })

  it('stop() with a drain time delivers what is left to a healthy sink', async () => {
    const store = new MemoryOutbox()
    const sink = new ScriptedSink('s', 10)
    const r = runner(sink, store)
    await r.start()
    await expect.poll(() => r.status().state).toBe('idle')
    store.add(35)
    await r.stop(10_000)
    expect(sink.delivered).toHaveLength(35)
    expect(store.cursors.get('s')).toBe(35)
  })
})

describe('backoffDelay', () => {
  const policy = { initialMs: 100, maxMs: 5_000 }

  it('doubles from initialMs up to maxMs', () => {
    const top = (n: number) => backoffDelay(n, policy, () => 1)
    expect([1, 2, 3, 4, 5, 6, 7, 50].map(top)).toEqual([100, 200, 400, 800, 1600, 3200, 5000, 5000])
  })

  it('jitters between half and all of the ceiling', () => {
    expect(backoffDelay(3, policy, () => 0)).toBe(200)
    expect(backoffDelay(3, policy, () => 0.5)).toBe(300)
    for (let i = 0; i < 100; i++) {
      const d = backoffDelay(4, policy)
      expect(d).toBeGreaterThanOrEqual(400)
      expect(d).toBeLessThanOrEqual(800)
    }
  })

})

describe('retry delays in the runner', () => {
  it('grow with each failed attempt of the same batch', async () => {
    const store = new MemoryOutbox()
    store.add(1)
    const sink = new ScriptedSink('s')
    sink.script = ['fail', 'fail', 'fail', 'fail']
    const delays: number[] = []
    const r = runner(sink, store, { retry: { initialMs: 4, maxMs: 1000 }, idleCheckMs: 60_000, random: () => 1 })
    const seen = setInterval(() => {
      const d = r.status().retryInMs
      if (d !== undefined && delays.at(-1) !== d) delays.push(d)
    }, 0)
    await r.start()
    await expect.poll(() => sink.delivered.length).toBe(1)
    clearInterval(seen)
    expect(sink.attempts).toHaveLength(5)
    // Sampled, so a short delay may be missed; whatever was seen grows strictly.
    expect(delays.length).toBeGreaterThanOrEqual(2)
    for (let i = 1; i < delays.length; i++) expect(delays[i]).toBeGreaterThan(delays[i - 1]!)
  })

  it("honour the destination's Retry-After when it asks for longer than the backoff", async () => {
    const store = new MemoryOutbox()
    store.add(1)
    const sink = new ScriptedSink('s')
    sink.deliver = async () => {
      throw new SinkError('HTTP 503', { retryAfterMs: 120_000 })
    }
    const r = runner(sink, store, { retry: { initialMs: 2, maxMs: 600_000 }, idleCheckMs: 60_000 })
    await r.start()
    await expect.poll(() => r.status().state).toBe('backoff')
    expect(r.status().retryInMs).toBe(120_000)
  })

  it('cap a Retry-After at the policy maximum', async () => {
    const store = new MemoryOutbox()
    store.add(1)
    const sink = new ScriptedSink('s')
    sink.deliver = async () => {
      throw new SinkError('HTTP 429', { retryAfterMs: 86_400_000 })
    }
    const r = runner(sink, store, { retry: { initialMs: 2, maxMs: 30_000 }, idleCheckMs: 60_000 })
    await r.start()
    await expect.poll(() => r.status().state).toBe('backoff')
    expect(r.status().retryInMs).toBe(30_000)
  })
})
