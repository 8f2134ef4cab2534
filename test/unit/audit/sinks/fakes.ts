/** An in-memory outbox (the three Store methods the sinks use) and scriptable sinks, for runner tests. */
import type { Sink, SinkStore } from '../../../../src/audit/sinks/sink.js'
import type { AuditEvent } from '../../../../src/recording/events.js'
import type { EventFilter } from '../../../../src/storage/store.js'

export class MemoryOutbox implements SinkStore {
  readonly events: AuditEvent[] = []
  readonly cursors = new Map<string, number>()
  /** Cursor writes, in order, for assertions on when the cursor moved. */
  readonly cursorWrites: [string, number][] = []
  failReads = 0

  add(count: number, session = 's1'): AuditEvent[] {
    const added: AuditEvent[] = []
    for (let i = 0; i < count; i++) {
      const seq = this.events.length + 1
      const e: AuditEvent = { id: `id-${seq}`, seq, time: new Date(1_714_564_800_000 + seq).toISOString(), type: 'query', sessionId: session, data: { n: seq } }
      this.events.push(e)
      added.push(e)
    }
    return added
  }

  async listEvents(filter: EventFilter = {}): Promise<AuditEvent[]> {
    if (this.failReads > 0) {
      this.failReads--
      throw new Error('database is locked')
    }
    const after = filter.afterSeq ?? 0
    return this.events.filter((e) => (e.seq ?? 0) > after).slice(0, filter.limit ?? 10_000)
  }

  async getSinkCursor(name: string): Promise<number> {
    return this.cursors.get(name) ?? 0
  }

  async setSinkCursor(name: string, seq: number): Promise<void> {
    this.cursors.set(name, seq)
    this.cursorWrites.push([name, seq])
  }
}

/** A sink whose answers the test scripts: a queue of outcomes, then success. Records every attempt. */
export class ScriptedSink implements Sink {
  readonly attempts: AuditEvent[][] = []
  readonly delivered: AuditEvent[] = []
  /** Per attempt: 'ok', 'fail', or 'hold' (resolves or rejects when the test says). */
  script: ('ok' | 'fail' | 'hold')[] = []
  private held: { resolve: () => void; reject: (e: Error) => void } | undefined
  closed = false

  constructor(
    readonly name = 'test',
    readonly maxBatch = 100,
  ) {}

  deliver(events: readonly AuditEvent[], signal: AbortSignal): Promise<void> {
    this.attempts.push([...events])
    const step = this.script.shift() ?? 'ok'
    if (step === 'fail') return Promise.reject(new Error('receiver down'))
    if (step === 'hold') {
      return new Promise((resolve, reject) => {
        this.held = {
          resolve: () => {
            this.delivered.push(...events)
            resolve()
          },
          reject,
        }
        signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true })
      })
    }
    this.delivered.push(...events)
    return Promise.resolve()
  }

  get holding(): boolean {
    return this.held !== undefined
  }

  release(): void {
    const h = this.held
    this.held = undefined
    h?.resolve()
  }

  async close(): Promise<void> {
    this.closed = true
  }
}
