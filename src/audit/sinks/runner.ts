/**
 * Runs one sink: reads events from the store after the sink's cursor, hands them to the sink, and
 * moves the cursor (in memory and in the store) only after the sink acknowledged them. A failed
 * delivery is retried with the same events after an exponential backoff with jitter, for as long as
 * it takes: the store is the outbox, so an outage of the destination delays events but loses none,
 * and a restarted gateway resumes at the stored cursor. Nothing here runs inside
 * `EventLog.emit`: the data path only ever wakes the runner (`wake()`), it never waits for it.
 */
import type { Logger } from '../../log.js'
import { silentLogger } from '../../log.js'
import { describeError } from '../../errors.js'
import type { Sink, SinkStore } from './sink.js'
import { SinkError } from './sink.js'

export interface RetryPolicy {
  /** Delay before the first retry. */
  initialMs: number
  /** Longest delay between two attempts. */
  maxMs: number
}

export const DEFAULT_RETRY: RetryPolicy = { initialMs: 1000, maxMs: 60_000 }

/**
 * The delay before retry number `attempt` (1-based): doubling from `initialMs` up to `maxMs`, then
 * "equal jitter" (half fixed, half random) so that gateways retrying against one SIEM spread out
 * while the delay still grows.
 */
export function backoffDelay(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(Math.max(attempt, 1) - 1, 30))
  return Math.round(ceiling / 2 + random() * (ceiling / 2))
}

export type RunnerState = 'starting' | 'idle' | 'delivering' | 'backoff' | 'stopped'

export interface SinkStatus {
  name: string
  state: RunnerState
  /** The last seq the sink acknowledged. */
  cursor: number
  /** Events acknowledged since the runner started. */
  delivered: number
  /** Delivery attempts since the runner started, failed ones included. */
  attempts: number
  /** Failed attempts in a row (0 when the last attempt succeeded). */
  failures: number
  lastError?: string
  /** In backoff: the delay chosen before the next attempt. */
  retryInMs?: number
}

export interface RunnerOptions {
  retry?: Partial<RetryPolicy>
  /** How often an idle runner looks at the store without being woken (a backstop; default 1 s). */
  idleCheckMs?: number
  random?: () => number
  log?: Logger
}

type WaitKind = 'idle' | 'backoff'

export class SinkRunner {
  private cursor = 0
  private state: RunnerState = 'starting'
  private delivered = 0
  private attempts = 0
  private failures = 0
  private lastError: string | undefined
  private retryInMs: number | undefined
  private draining = false
  private stopped = false
  private readonly abort = new AbortController()
  private loop: Promise<void> | undefined
  private waiter: { kind: WaitKind; done: () => void } | undefined
  private woken = false
  private readonly retry: RetryPolicy
  private readonly idleCheckMs: number
  private readonly random: () => number
  private readonly log: Logger

  constructor(
    readonly sink: Sink,
    private readonly store: SinkStore,
    opts: RunnerOptions = {},
  ) {
    this.retry = { ...DEFAULT_RETRY, ...opts.retry }
    this.idleCheckMs = opts.idleCheckMs ?? 1000
    this.random = opts.random ?? Math.random
    this.log = (opts.log ?? silentLogger).child({ sink: sink.name })
  }

  /** Reads the stored cursor and starts delivering in the background. */
  async start(): Promise<void> {
    this.cursor = await this.store.getSinkCursor(this.sink.name)
    this.loop = this.run().catch((err: unknown) => {
      // run() handles every expected failure; this is a bug, and the sink stops rather than spins.
      this.log.error({ err }, 'audit sink stopped after an unexpected error; events wait in the store until the gateway restarts')
      this.state = 'stopped'
    })
  }

  /** New events may be in the store: an idle runner looks now (a runner in backoff keeps waiting). */
  wake(): void {
    this.woken = true
    if (this.waiter?.kind === 'idle') this.waiter.done()
  }

  /**
   * Stops the runner. It first keeps delivering for up to `drainMs` while the sink is healthy and
   * events are left, then aborts what is in flight; whatever was not acknowledged stays after the
   * cursor and is delivered after the next start.
   */
  async stop(drainMs = 0): Promise<void> {
    if (!this.loop) return
    this.draining = true
    this.waiter?.done()
    const timer = setTimeout(() => {
      this.stopped = true
      this.abort.abort()
      this.waiter?.done()
    }, drainMs)
    await this.loop
    clearTimeout(timer)
    this.loop = undefined
    this.state = 'stopped'
    await this.sink.close().catch((err: unknown) => this.log.debug({ err }, 'closing the sink failed'))
  }

  status(): SinkStatus {
    const s: SinkStatus = {
      name: this.sink.name,
      state: this.state,
      cursor: this.cursor,
      delivered: this.delivered,
      attempts: this.attempts,
      failures: this.failures,
    }
    if (this.lastError !== undefined) s.lastError = this.lastError
    if (this.state === 'backoff' && this.retryInMs !== undefined) s.retryInMs = this.retryInMs
    return s
  }

  private wait(kind: WaitKind, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        if (this.waiter === entry) this.waiter = undefined
        resolve()
      }
      const timer = setTimeout(done, ms)
      timer.unref()
      const entry = { kind, done }
      this.waiter = entry
    })
  }

  private async run(): Promise<void> {
    let readFailures = 0
    while (!this.stopped) {
      this.woken = false
      let batch
      try {
        batch = await this.store.listEvents({ afterSeq: this.cursor, limit: this.sink.maxBatch })
        readFailures = 0
      } catch (err) {
        if (this.draining) return
        readFailures++
        this.log.error({ err: describeError(err) }, 'audit sink cannot read events from the store; will retry')
        this.state = 'backoff'
        await this.wait('backoff', backoffDelay(readFailures, this.retry, this.random))
        continue
      }
      if (batch.length === 0) {
        if (this.draining) return
        this.state = 'idle'
        // A wake() that came while we were reading means there may be more already.
        if (!this.woken) await this.wait('idle', this.idleCheckMs)
        continue
      }
      if (!(await this.deliver(batch))) return
      const last = batch[batch.length - 1]?.seq
      if (last === undefined) throw new Error('the store returned an event without seq')
      this.cursor = last
      this.delivered += batch.length
      try {
        await this.store.setSinkCursor(this.sink.name, last)
      } catch (err) {
        // The cursor in memory moved on; after a restart these events are delivered again (at least once).
        this.log.error({ err: describeError(err), seq: last }, 'audit sink cannot save its cursor; events may be delivered twice after a restart')
      }
    }
  }

  /** Delivers one batch, retrying until it is acknowledged. False when the runner is stopping. */
  private async deliver(batch: Parameters<Sink['deliver']>[0]): Promise<boolean> {
    let attempt = 0
    while (!this.stopped) {
      this.state = 'delivering'
      this.attempts++
      try {
        await this.sink.deliver(batch, this.abort.signal)
        if (this.failures > 0) {
          this.log.info({ failures: this.failures, pending: batch.length }, 'audit sink delivers again')
        }
        this.failures = 0
        return true
      } catch (err) {
        if (this.abort.signal.aborted) return false
        attempt++
        this.failures++
        this.lastError = describeError(err)
        const hint = err instanceof SinkError && err.retryAfterMs !== undefined ? Math.min(err.retryAfterMs, this.retry.maxMs) : 0
        const delay = Math.max(backoffDelay(attempt, this.retry, this.random), hint)
        if (attempt === 1 || attempt % 10 === 0) {
          this.log.warn({ error: this.lastError, attempt, retryInMs: delay, firstSeq: batch[0]?.seq }, 'audit sink delivery failed; events wait in the store and are retried')
        }
        if (this.draining) return false
        this.state = 'backoff'
        this.retryInMs = delay
        await this.wait('backoff', delay)
        if (this.draining) return false
      }
    }
    return false
  }
}
