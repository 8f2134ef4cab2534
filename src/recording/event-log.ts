/**
 * The one way events enter the store. `emit()` never blocks the data path: events are queued and
 * written in one transaction per tick (or per 500 events). A failed write keeps the batch and
 * retries with backoff, so a store hiccup delays events but loses none.
 */
import type { Logger } from 'pino'
import { uuidv7 } from '../ids.js'
import type { Store } from '../storage/store.js'
import type { AuditEvent } from './events.js'

// Events come in bursts within one millisecond: format each millisecond's timestamp once.
let lastMs = -1
let lastIso = ''
function isoTime(ms: number): string {
  if (ms !== lastMs) {
    lastMs = ms
    lastIso = new Date(ms).toISOString()
  }
  return lastIso
}

export type NewEvent = Omit<AuditEvent, 'id' | 'time' | 'seq'> & { time?: string }

export class EventLog {
  private queue: AuditEvent[] = []
  private scheduled = false
  private writing: Promise<void> | undefined
  private retryDelay = 0
  private readonly listeners = new Set<(e: AuditEvent) => void>()
  private readonly waiters = new Map<AuditEvent, () => void>()

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    /**
     * How long a new event may wait for others to share its batch (0: the next tick). Each batch
     * is one transaction, whose commit costs more than a few events, so under load a short wait
     * makes recording cheaper; events still reach the store within this time.
     */
    private readonly lingerMs = 0,
  ) {}

  emit(input: NewEvent): AuditEvent {
    const now = Date.now()
    const event: AuditEvent = { ...input, id: uuidv7(now), time: input.time ?? isoTime(now) }
    this.queue.push(event)
    for (const l of this.listeners) l(event)
    if (this.queue.length >= 500) void this.flush()
    else this.schedule()
    return event
  }

  /**
   * Resolves once `event` is committed to the store (what the gateway acknowledges to a client). A
   * failed write is retried, so this waits through a store hiccup rather than resolving early.
   */
  durable(event: AuditEvent): Promise<void> {
    if (event.seq !== undefined && !this.queue.includes(event)) return Promise.resolve()
    return new Promise<void>((resolve) => {
      const prev = this.waiters.get(event)
      this.waiters.set(event, prev ? () => (prev(), resolve()) : resolve)
    })
  }

  /** Called for every event as it is emitted (live views, review pushes). */
  subscribe(listener: (e: AuditEvent) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  private schedule(): void {
    if (this.scheduled) return
    this.scheduled = true
    const run = () => {
      this.scheduled = false
      void this.flush()
    }
    if (this.retryDelay > 0) setTimeout(run, this.retryDelay).unref()
    else if (this.lingerMs > 0) setTimeout(run, this.lingerMs)
    else setImmediate(run)
  }

  /** Writes everything queued so far. Resolves when it is in the store (or the write failed and a retry is scheduled). */
  async flush(): Promise<void> {
    while (this.writing) await this.writing
    if (this.queue.length === 0) return
    const batch = this.queue
    this.queue = []
    this.writing = this.store
      .appendEvents(batch)
      .then(() => {
        this.retryDelay = 0
        if (this.waiters.size === 0) return
        for (const e of batch) {
          const w = this.waiters.get(e)
          if (w) {
            this.waiters.delete(e)
            w()
          }
        }
      })
      .catch((err: unknown) => {
        this.queue = batch.concat(this.queue)
        this.retryDelay = Math.min(Math.max(this.retryDelay * 2, 100), 5000)
        this.log.error({ err, pending: this.queue.length }, 'writing events to the store failed; will retry')
        this.schedule()
      })
      .finally(() => {
        this.writing = undefined
      })
    await this.writing
  }

  get pending(): number {
    return this.queue.length
  }
}
