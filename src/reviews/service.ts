/**
 * The review service: the gateway's ReviewGate. A statement a `review` rule holds becomes a
 * review in the store; reviewers see it (`agw reviews`, pushed over /v1/reviews/watch) and decide
 * it (`agw review approve|deny`); the held statement runs only on an approval of exactly what was
 * held. Every step is an audit event (docs/events.md) and a push to the requester's `agw exec`.
 *
 * Lifecycle of one review: pending -> approved | denied | expired (the rule's timeout, or a
 * gateway restart) | withdrawn (the client cancelled or went away). Settling is claimed in memory
 * first (one winner when a decision, the timeout and a cancel race), then written to the store
 * only if the row is still pending there; whatever cannot be recorded is not released.
 */
import { AgwError, describeError } from '../errors.js'
import { actorOf } from '../gateway/sessions.js'
import type { Principal } from '../identity/principal.js'
import { uuidv7 } from '../ids.js'
import type { Logger } from '../log.js'
import type { ReviewGate, ReviewOutcome, ReviewRequest } from '../policy/reviews.js'
import type { EventLog } from '../recording/event-log.js'
import type { Actor } from '../recording/events.js'
import type { ReviewDecision, ReviewRecord, ReviewState, Store } from '../storage/store.js'
import type { ServerControl } from '../tunnel/protocol.js'
import { displayName, refusal, toSummary, toView, visibleTo, type ReviewView } from './rules.js'
import { grantCovers } from './scope.js'

/** What the service needs from the gateway it runs in (given by `bind`). */
export interface ReviewDeps {
  store: Store
  events: EventLog
  log: Logger
  /** Pushes a control message to a live session's CLI (`agw exec`), when the session is live. */
  pushToSession: (sessionId: string, msg: ServerControl) => void
  /** The live session's agent name, for the review's details. */
  agentOf: (sessionId: string) => string | undefined
}

export interface Decision {
  action: 'approve' | 'deny'
  reason?: string
  /** Approve for this long: matching statements of the session run without a review until then. */
  forMs?: number
  /** The fingerprint the reviewer saw; the approval is refused when it is not the held one. */
  fingerprint?: string
}

/** A decision on a review that is no longer pending (the API answers 409 with the state). */
export class ReviewStateError extends AgwError {
  constructor(
    readonly review: ReviewView,
    message: string,
  ) {
    super('bad_input', message)
  }
}

/** A review id the store does not know (the API answers 404). */
export class NoSuchReviewError extends AgwError {
  constructor(id: string) {
    super('bad_input', `no review ${id} on this gateway; \`agw reviews\` lists the ones you may decide`)
  }
}

export const MAX_GRANT_MS = 24 * 3_600_000
const MAX_TIMER_MS = 2 ** 31 - 1
const MAX_REASON = 500
/** Grants of one session and rule looked at for a statement (each covers one scope). */
const MAX_GRANTS_SEARCHED = 100
/** How long settled reviews stay in the lists (`agw reviews` shows recent decisions). */
const RECENT_MS = 3_600_000

interface Held {
  record: ReviewRecord
  req: ReviewRequest
  resolve: (o: ReviewOutcome) => void
  timer: NodeJS.Timeout
  signal: AbortSignal
  onAbort: () => void
}

interface Watcher {
  principal: Principal
  send: (views: ReviewView[]) => void
}

/** 120000 -> "2m", 5400000 -> "90m", 2000 -> "2s". */
function humanDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`
  if (ms % 60_000 === 0) return `${ms / 60_000}m`
  return `${Math.round(ms / 1000)}s`
}

function clean(reason: string | undefined): string | undefined {
  if (reason === undefined) return undefined
  // eslint-disable-next-line no-control-regex
  const r = reason.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim()
  return r ? r.slice(0, MAX_REASON) : undefined
}

export class ReviewService implements ReviewGate {
  private deps: ReviewDeps | undefined
  private readonly held = new Map<string, Held>()
  /** Reviews being settled right now (the store write in flight). */
  private readonly settling = new Map<string, Promise<boolean>>()
  private readonly watchers = new Set<Watcher>()
  private notifyScheduled = false
  private stopped = false

  constructor(private readonly now: () => number = Date.now) {}

  /** Connects the service to its gateway's store, event log and sessions. */
  bind(deps: ReviewDeps): void {
    this.deps = deps
  }

  private get d(): ReviewDeps {
    if (!this.deps) throw new AgwError('internal', 'the review service is not running')
    return this.deps
  }

  /** Gateway start: reviews left pending by a previous run are expired (their clients are gone). */
  async start(): Promise<void> {
    const { store, log } = this.d
    this.stopped = false
    const at = new Date(this.now()).toISOString()
    const left = await store.expirePendingReviews(at, 'the gateway restarted while the statement was held')
    if (left.length > 0) log.warn({ reviews: left.length }, 'reviews left pending by a previous run are expired')
    for (const r of left) this.emit('review.expired', r, undefined, { reason: r.reason, restart: true })
  }

  /** Gateway stop: held statements are refused (expired), watchers are told nothing more. */
  async stop(): Promise<void> {
    this.stopped = true
    await Promise.all(
      [...this.held.values()].map((h) => this.settle(h, { state: 'expired', reason: 'the gateway stopped while the statement was held' })),
    )
    this.watchers.clear()
  }

  // ---------------- the gate (called by the PostgreSQL engine) ----------------

  async request(req: ReviewRequest, signal: AbortSignal, onPending: (reviewId: string) => void): Promise<ReviewOutcome> {
    const { store } = this.d
    if (this.stopped) throw new AgwError('unreachable', 'the gateway is stopping')
    const now = this.now()
    // A timer cannot wait longer than 2^31-1 ms (~24.8 days).
    const timeoutMs = Math.min(req.rule.timeoutMs, MAX_TIMER_MS)
    const grant = await this.grantFor(req, now)
    if (grant) return grant
    if (signal.aborted) return { outcome: 'withdrawn', reviewId: '' }
    const record: ReviewRecord = {
      id: uuidv7(now),
      sessionId: req.sessionId,
      connectionId: req.connectionId,
      connection: req.connection,
      requester: req.principal,
      rule: req.rule.name,
      reviewers: [...req.rule.reviewers],
      statement: req.statement,
      params: [...req.params],
      fingerprint: req.fingerprint,
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + timeoutMs).toISOString(),
      state: 'pending',
    }
    if (req.scope) record.scope = req.scope
    const agent = this.d.agentOf(req.sessionId)
    if (agent !== undefined) record.agent = agent
    await store.createReview(record)
    const data: Record<string, unknown> = {
      reviewId: record.id,
      sql: record.statement,
      rule: record.rule,
      reviewers: record.reviewers,
      expiresAt: record.expiresAt,
      timeoutMs,
      fingerprint: record.fingerprint,
    }
    if (record.params.length > 0) data.params = record.params
    if (agent !== undefined) data.agent = agent
    this.emit('review.requested', record, actorOf(req.principal), data)
    const outcome = new Promise<ReviewOutcome>((resolve) => {
      const held: Held = {
        record,
        req,
        resolve,
        signal,
        timer: setTimeout(() => {
          void this.settle(held, { state: 'expired', reason: `no decision within ${humanDuration(timeoutMs)}` })
        }, timeoutMs),
        onAbort: () => void this.settle(held, { state: 'withdrawn', reason: 'the client cancelled the statement or went away' }),
      }
      held.timer.unref()
      this.held.set(record.id, held)
      signal.addEventListener('abort', held.onAbort, { once: true })
    })
    onPending(record.id)
    this.d.pushToSession(record.sessionId, { t: 'review', review: toSummary(record) })
    this.changed()
    if (signal.aborted) {
      const h = this.held.get(record.id)
      if (h) void this.settle(h, { state: 'withdrawn', reason: 'the client cancelled the statement or went away' })
    }
    return outcome
  }

  /**
   * An approval "for DURATION" of this session and rule that still runs and covers what this
   * statement does (the same statement kinds and tables: grantCovers): it goes through, recorded.
   */
  private async grantFor(req: ReviewRequest, now: number): Promise<ReviewOutcome | undefined> {
    const grants = await this.d.store.listReviews({
      sessionId: req.sessionId,
      connection: req.connection,
      rule: req.rule.name,
      grantActiveAt: new Date(now).toISOString(),
      limit: MAX_GRANTS_SEARCHED,
    })
    const g = grants.find((x) => x.decidedBy !== undefined && grantCovers(x.scope, req.scope))
    if (!g || !g.decidedBy) return undefined
    const data: Record<string, unknown> = {
      reviewId: g.id,
      underGrant: true,
      by: displayName(g.decidedBy),
      until: g.grantUntil,
      sql: req.statement,
      fingerprint: req.fingerprint,
    }
    if (req.params.length > 0) data.params = req.params
    this.d.events.emit({ type: 'review.approved', sessionId: req.sessionId, connectionId: req.connectionId, connection: req.connection, actor: g.decidedBy, data })
    return { outcome: 'approved', reviewId: g.id, decidedBy: displayName(g.decidedBy) }
  }

  /** Withdraws every held statement of a session (Ctrl-C in `agw exec`); returns how many. */
  withdrawSession(sessionId: string, reason: string): number {
    let n = 0
    for (const h of this.held.values()) {
      if (h.record.sessionId !== sessionId) continue
      n++
      void this.settle(h, { state: 'withdrawn', reason })
    }
    return n
  }

  /**
   * Settles a held review once: the first caller wins (false for the others). An approval that
   * cannot be recorded is not released: the statement is refused.
   */
  private settle(h: Held, how: { state: Exclude<ReviewState, 'pending'>; by?: Principal; reason?: string | undefined; grantMs?: number }): Promise<boolean> {
    const id = h.record.id
    if (this.held.get(id) !== h) return Promise.resolve(false)
    this.held.delete(id)
    const done = this.finish(h, how).finally(() => this.settling.delete(id))
    this.settling.set(id, done)
    return done
  }

  private async finish(h: Held, how: { state: Exclude<ReviewState, 'pending'>; by?: Principal; reason?: string | undefined; grantMs?: number }): Promise<boolean> {
    const id = h.record.id
    clearTimeout(h.timer)
    h.signal.removeEventListener('abort', h.onAbort)
    const at = this.now()
    const decision: ReviewDecision = { state: how.state, decidedAt: new Date(at).toISOString() }
    if (how.by) decision.decidedBy = actorOf(how.by)
    if (how.reason !== undefined) decision.reason = how.reason
    if (how.grantMs !== undefined) decision.grantUntil = new Date(at + how.grantMs).toISOString()
    let stored = false
    try {
      stored = await this.d.store.settleReview(id, decision)
    } catch (err) {
      this.d.log.error({ err: describeError(err), review: id }, 'cannot record a review decision')
    }
    const record: ReviewRecord = { ...h.record, state: decision.state, decidedAt: decision.decidedAt }
    if (decision.decidedBy) record.decidedBy = decision.decidedBy
    if (decision.reason !== undefined) record.reason = decision.reason
    if (decision.grantUntil !== undefined) record.grantUntil = decision.grantUntil
    if (!stored && decision.state === 'approved') {
      // Fail closed: the approval is not on record, so the statement does not run.
      record.state = 'denied'
      record.reason = 'the gateway could not record the approval; the statement was not run'
      delete record.grantUntil
    }
    const by = record.decidedBy ? displayName(record.decidedBy) : undefined
    const data: Record<string, unknown> = {}
    if (by !== undefined) data.by = by
    if (record.reason !== undefined) data.reason = record.reason
    switch (record.state) {
      case 'approved':
        if (how.grantMs !== undefined) Object.assign(data, { forMs: how.grantMs, until: record.grantUntil })
        data.fingerprint = record.fingerprint
        this.emit('review.approved', record, record.decidedBy, data)
        break
      case 'expired':
        data.timeoutMs = Date.parse(h.record.expiresAt) - Date.parse(h.record.createdAt)
        this.emit('review.expired', record, undefined, data)
        break
      case 'withdrawn':
        data.withdrawn = true
        this.emit('review.denied', record, actorOf(h.record.requester), data)
        break
      default:
        this.emit('review.denied', record, record.decidedBy, data)
    }
    const outcome: ReviewOutcome = { outcome: record.state as ReviewOutcome['outcome'], reviewId: id }
    if (record.reason !== undefined) outcome.reason = record.reason
    if (by !== undefined) outcome.decidedBy = by
    // The requester's session hears the decision before the held client does: `agw exec` then
    // knows why the command failed (exit 75) by the time the command exits.
    this.d.pushToSession(record.sessionId, { t: 'review', review: toSummary(record) })
    h.resolve(outcome)
    this.changed()
    return stored
  }

  private emit(type: 'review.requested' | 'review.approved' | 'review.denied' | 'review.expired', r: ReviewRecord, actor: Actor | undefined, data: Record<string, unknown>): void {
    this.d.events.emit({
      type,
      sessionId: r.sessionId,
      connectionId: r.connectionId,
      connection: r.connection,
      ...(actor ? { actor } : {}),
      data: { reviewId: r.id, rule: r.rule, ...data },
    })
  }

  // ---------------- the API (src/gateway/api/reviews.ts) ----------------

  /** The reviews `caller` may decide and its own requests: every pending one, and those settled in the last hour. */
  async list(caller: Principal): Promise<ReviewView[]> {
    return this.viewsFor([caller], await this.candidates())[0] ?? []
  }

  private async candidates(): Promise<ReviewRecord[]> {
    const { store } = this.d
    const [pending, recent] = await Promise.all([
      store.listReviews({ states: ['pending'], limit: 1000 }),
      store.listReviews({ decidedSince: new Date(this.now() - RECENT_MS).toISOString(), limit: 200 }),
    ])
    return [...pending, ...recent.filter((r) => r.state !== 'pending')]
  }

  private viewsFor(callers: Principal[], records: ReviewRecord[]): ReviewView[][] {
    return callers.map((c) => records.filter((r) => visibleTo(c, r)).map((r) => toView(c, r)))
  }

  async get(caller: Principal, id: string): Promise<ReviewView> {
    const r = await this.d.store.getReview(id)
    if (!r) throw new NoSuchReviewError(id)
    if (!visibleTo(caller, r)) throw new AgwError('forbidden', `review ${id} is not yours to see: only its requester and members of ${r.reviewers.join(', ')} see it`)
    return toView(caller, r)
  }

  async decide(caller: Principal, id: string, d: Decision): Promise<ReviewView> {
    const { store, log } = this.d
    const r = await store.getReview(id)
    if (!r) throw new NoSuchReviewError(id)
    const why = refusal(caller, r, d.action)
    if (why) throw new AgwError('forbidden', why)
    const h = this.held.get(id)
    if (r.state !== 'pending' || !h) {
      // Settled a moment ago (the write may still be in flight), or no longer held here.
      await this.settling.get(id)
      const now = (await store.getReview(id)) ?? r
      if (now.state === 'pending') {
        throw new ReviewStateError(toView(caller, now), `review ${id} is not held by this gateway any more (its client is gone); nothing to release`)
      }
      const by = now.decidedBy ? ` by ${displayName(now.decidedBy)}` : ''
      const why = now.reason ? ` (${now.reason})` : ''
      throw new ReviewStateError(toView(caller, now), `review ${id} is not pending: it was ${now.state}${by}${why}`)
    }
    if (d.action === 'approve') {
      if (d.fingerprint !== undefined && d.fingerprint !== r.fingerprint) {
        throw new AgwError('bad_input', `review ${id}: the statement you approved (fingerprint ${d.fingerprint.slice(0, 12)}) is not the one held (${r.fingerprint.slice(0, 12)}); nothing was released, look again with \`agw reviews\``)
      }
      if (h.req.fingerprint !== r.fingerprint) {
        log.error({ review: id }, 'a stored review does not match the held statement; refusing the approval')
        throw new AgwError('bad_input', `review ${id} in the store does not match the statement held by the gateway; nothing was released (run \`agw audit verify\`)`)
      }
    }
    const reason = clean(d.reason)
    const settled = await this.settle(
      h,
      d.action === 'approve'
        ? { state: 'approved', by: caller, reason, ...(d.forMs !== undefined ? { grantMs: Math.min(d.forMs, MAX_GRANT_MS) } : {}) }
        : { state: 'denied', by: caller, reason },
    )
    // `settled` is false only when the store did not take the decision: an approval was then not
    // carried out (fail closed); a denial was (the statement was refused either way).
    if (!settled && d.action === 'approve') throw new AgwError('internal', `review ${id}: the gateway could not record the approval, so the statement was not run`)
    if (!settled) throw new AgwError('internal', `review ${id}: the statement was refused, but the gateway could not record your decision`)
    return toView(caller, (await store.getReview(id)) ?? r)
  }

  /**
   * Live updates for one caller: `send` gets the caller's list now and after every change (a
   * review requested or settled). Returns the unsubscribe function.
   */
  watch(caller: Principal, send: (views: ReviewView[]) => void): () => void {
    const w: Watcher = { principal: caller, send }
    this.watchers.add(w)
    void this.list(caller).then(
      (v) => this.watchers.has(w) && send(v),
      (err: unknown) => this.d.log.warn({ err: describeError(err) }, 'cannot list reviews for a watcher'),
    )
    return () => this.watchers.delete(w)
  }

  /** Pushes every watcher its list again, once per tick however many reviews changed. */
  private changed(): void {
    if (this.notifyScheduled || this.watchers.size === 0) return
    this.notifyScheduled = true
    setImmediate(() => {
      this.notifyScheduled = false
      const watchers = [...this.watchers]
      void this.candidates().then(
        (records) => {
          const views = this.viewsFor(
            watchers.map((w) => w.principal),
            records,
          )
          watchers.forEach((w, i) => this.watchers.has(w) && w.send(views[i] ?? []))
        },
        (err: unknown) => this.d.log.warn({ err: describeError(err) }, 'cannot list reviews for watchers'),
      )
    })
  }

  /** Reviews held right now (tests, shutdown). */
  get pendingCount(): number {
    return this.held.size
  }
}
