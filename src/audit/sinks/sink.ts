/**
 * An audit sink: a destination (file, stdout, syslog, webhook) that takes events in batches. The
 * runner (runner.ts) reads them from the store after the sink's cursor and moves the cursor only
 * when `deliver` resolved, so a sink has to resolve only once the destination has acknowledged the
 * whole batch, and reject otherwise. Delivering an event twice is allowed (at least once: the
 * event id tells duplicates apart); skipping one is not.
 */
import type { AuditEvent } from '../../recording/events.js'
import type { Store } from '../../storage/store.js'

export interface Sink {
  /** Stable name: the key of this sink's cursor in the store (see sinkName in index.ts). */
  readonly name: string
  /** The most events one `deliver` call takes. */
  readonly maxBatch: number
  /**
   * Delivers `events` (in seq order). Resolves when the destination acknowledged all of them;
   * rejects (ideally with a SinkError) when it did not, and the runner retries the same events.
   * `signal` aborts a delivery when the gateway stops.
   */
  deliver(events: readonly AuditEvent[], signal: AbortSignal): Promise<void>
  /** Releases sockets and files. Deliveries are over when it is called. */
  close(): Promise<void>
}

/** What the runner needs from the store: the events and the sink cursors. */
export type SinkStore = Pick<Store, 'listEvents' | 'getSinkCursor' | 'setSinkCursor'>

/** A failed delivery. `retryAfterMs` is the destination's own hint (HTTP Retry-After), if any. */
export class SinkError extends Error {
  readonly retryAfterMs: number | undefined

  constructor(message: string, opts: { cause?: unknown; retryAfterMs?: number } = {}) {
    super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined)
    this.name = 'SinkError'
    this.retryAfterMs = opts.retryAfterMs
  }
}
