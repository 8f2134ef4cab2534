/**
 * The review service against a real (in-memory) SQLite store and event log, without a gateway:
 * one outcome per review however decisions, timeouts and cancels race; approvals bound to the
 * fingerprint; grants; what a restart and a stop do to held statements; pushes.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { AgwError } from '../../../src/errors.js'
import type { Principal } from '../../../src/identity/principal.js'
import { silentLogger } from '../../../src/log.js'
import { reviewFingerprint, type ReviewOutcome, type ReviewRequest, type ReviewScope } from '../../../src/policy/reviews.js'
import { EventLog } from '../../../src/recording/event-log.js'
import type { AuditEvent } from '../../../src/recording/events.js'
import type { ReviewView } from '../../../src/reviews/rules.js'
import { ReviewService, ReviewStateError } from '../../../src/reviews/service.js'
import { SqliteStore } from '../../../src/storage/sqlite.js'
import type { ServerControl } from '../../../src/tunnel/protocol.js'

const ISS = 'https://idp.example.com'
const bob: Principal = { kind: 'human', subject: 'bob', email: 'bob@example.com', issuer: ISS, groups: ['sre'] }
const alice: Principal = { kind: 'human', subject: 'alice', email: 'alice@example.com', issuer: ISS, groups: ['sre', 'agents'] }
const agent: Principal = { kind: 'agent', subject: 'ci-agent', clientId: 'ci-agent', issuer: ISS, groups: ['agents'] }

let store: SqliteStore
let events: EventLog
let service: ReviewService
let pushes: Array<{ sessionId: string; msg: ServerControl }>

function request(over: { session?: string; rule?: string; sql?: string; timeoutMs?: number; principal?: Principal; scope?: ReviewScope | null } = {}): ReviewRequest {
  const session = over.session ?? 'session-1'
  const sql = over.sql ?? 'update t set x = 1 where id = 1'
  return {
    sessionId: session,
    connectionId: 'conn-1',
    connection: 'pg',
    principal: over.principal ?? agent,
    rule: { name: over.rule ?? 'writes', reviewers: ['sre'], timeoutMs: over.timeoutMs ?? 60_000 },
    statement: sql,
    params: ['1'],
    fingerprint: reviewFingerprint(sql, ['1'], session, 'v1'),
    ...(over.scope === null ? {} : { scope: over.scope ?? { parts: [{ kind: 'UPDATE', tables: ['t'] }] } }),
  }
}

/** Holds a statement; resolves once the review exists, with its id and the pending outcome. */
async function hold(req = request(), ac = new AbortController()): Promise<{ id: string; outcome: Promise<ReviewOutcome>; ac: AbortController }> {
  let id = ''
  const outcome = service.request(req, ac.signal, (reviewId) => (id = reviewId))
  await expect.poll(() => id).not.toBe('')
  return { id, outcome, ac }
}

async function recorded(): Promise<AuditEvent[]> {
  await events.flush()
  return (await store.listEvents()).filter((e) => e.type.startsWith('review.'))
}

beforeEach(async () => {
  store = new SqliteStore(':memory:')
  events = new EventLog(store, silentLogger)
  pushes = []
  service = new ReviewService()
  service.bind({ store, events, log: silentLogger, pushToSession: (sessionId, msg) => pushes.push({ sessionId, msg }), agentOf: () => 'claude' })
  await service.start()
})

afterEach(async () => {
  await service.stop()
  await events.flush()
  await store.close()
})

describe('a held statement', () => {
  it('is stored, recorded and pushed to its session; an approval releases it once', async () => {
    const { id, outcome } = await hold()
    const stored = await store.getReview(id)
    expect(stored).toMatchObject({ state: 'pending', statement: 'update t set x = 1 where id = 1', params: ['1'], agent: 'claude', requester: { subject: 'ci-agent' } })
    expect(pushes[0]).toMatchObject({ sessionId: 'session-1', msg: { t: 'review', review: { id, state: 'pending', rule: 'writes', reviewers: ['sre'], requester: 'ci-agent' } } })

    const view = await service.decide(bob, id, { action: 'approve', reason: 'ok' })
    expect(view).toMatchObject({ id, state: 'approved', decidedBy: 'bob@example.com', reason: 'ok' })
    expect(await outcome).toEqual({ outcome: 'approved', reviewId: id, reason: 'ok', decidedBy: 'bob@example.com' })
    expect(pushes.at(-1)?.msg).toMatchObject({ t: 'review', review: { id, state: 'approved', decidedBy: 'bob@example.com' } })
    await expect(service.decide(bob, id, { action: 'deny' })).rejects.toThrow(ReviewStateError)
    expect((await recorded()).map((e) => e.type)).toEqual(['review.requested', 'review.approved'])
  })

  it('keeps the statement and the requester encrypted at rest', async () => {
    const { id } = await hold(request({ sql: "update t set secret = 'hunter2-sekrit' where id = 1" }))
    const raw = (store as unknown as { db: { prepare(s: string): { get(...a: unknown[]): Record<string, unknown> } } }).db
      .prepare('SELECT * FROM reviews WHERE id = ?')
      .get(id)
    expect(JSON.stringify(raw)).not.toContain('hunter2')
    expect(Buffer.from(raw.request as Buffer).toString('latin1')).not.toContain('hunter2')
  })

  it('is refused to the requester, and to anyone outside the reviewer groups', async () => {
    const { id } = await hold(request({ principal: alice }))
    await expect(service.decide(alice, id, { action: 'approve' })).rejects.toMatchObject({ code: 'forbidden' })
    await expect(service.decide({ ...bob, groups: [] }, id, { action: 'deny' })).rejects.toMatchObject({ code: 'forbidden' })
    expect((await store.getReview(id))?.state).toBe('pending')
  })

  it('releases only what the reviewer saw: another fingerprint is refused, nothing runs', async () => {
    const { id, outcome } = await hold()
    await expect(service.decide(bob, id, { action: 'approve', fingerprint: '0'.repeat(64) })).rejects.toThrow(/is not the one held/)
    expect((await store.getReview(id))?.state).toBe('pending')
    const fp = (await store.getReview(id))!.fingerprint
    await service.decide(bob, id, { action: 'approve', fingerprint: fp })
    expect((await outcome).outcome).toBe('approved')
  })

  it('expires after its timeout', async () => {
    const { id, outcome } = await hold(request({ timeoutMs: 30 }))
    expect(await outcome).toMatchObject({ outcome: 'expired', reviewId: id })
    expect((await store.getReview(id))?.state).toBe('expired')
    expect((await recorded()).map((e) => e.type)).toEqual(['review.requested', 'review.expired'])
  })

  it('is withdrawn when the client cancels, and then cannot be approved', async () => {
    const { id, outcome, ac } = await hold()
    ac.abort()
    expect(await outcome).toMatchObject({ outcome: 'withdrawn', reviewId: id })
    await expect(service.decide(bob, id, { action: 'approve' })).rejects.toThrow(/is not pending: it was withdrawn/)
    const [, last] = await recorded()
    expect(last).toMatchObject({ type: 'review.denied', data: { withdrawn: true } })
  })

  it('has exactly one outcome when an approval and a cancel race', async () => {
    const { id, outcome, ac } = await hold()
    const decided = service.decide(bob, id, { action: 'approve' }).then(
      () => 'approved',
      (e: AgwError) => e.message,
    )
    ac.abort()
    const o = await outcome
    const stored = await store.getReview(id)
    expect(stored?.state).toBe(o.outcome)
    expect(await decided).toBe(o.outcome === 'approved' ? 'approved' : `review ${id} is not pending: it was withdrawn (the client cancelled the statement or went away)`)
    expect((await recorded()).filter((e) => e.type !== 'review.requested')).toHaveLength(1)
  })

  it('withdraws every held statement of a session on Ctrl-C in agw exec', async () => {
    const a = await hold()
    const b = await hold(request({ session: 'session-2' }))
    expect(service.withdrawSession('session-1', 'ctrl-c')).toBe(1)
    expect(await a.outcome).toMatchObject({ outcome: 'withdrawn', reason: 'ctrl-c' })
    expect(service.pendingCount).toBe(1)
    await service.decide(bob, b.id, { action: 'deny' })
  })
})

describe('approve for a duration', () => {
  it('lets later statements of the session under the same rule through, recorded, and nothing else', async () => {
    const first = await hold()
    await service.decide(bob, first.id, { action: 'approve', forMs: 60_000 })
    expect((await first.outcome).outcome).toBe('approved')

    let pending = false
    const again = await service.request(request({ sql: 'update t set x = 2 where id = 1' }), new AbortController().signal, () => (pending = true))
    expect(again).toEqual({ outcome: 'approved', reviewId: first.id, decidedBy: 'bob@example.com' })
    expect(pending).toBe(false)
    const grantEvent = (await recorded()).at(-1)
    expect(grantEvent).toMatchObject({ type: 'review.approved', sessionId: 'session-1', actor: { subject: 'bob' }, data: { reviewId: first.id, underGrant: true, sql: 'update t set x = 2 where id = 1' } })

    // Another rule, or another session, asks again.
    const otherRule = await hold(request({ rule: 'deletes' }))
    const otherSession = await hold(request({ session: 'session-2' }))
    expect(service.pendingCount).toBe(2)
    await service.decide(bob, otherRule.id, { action: 'deny' })
    await service.decide(bob, otherSession.id, { action: 'deny' })
  })

  it('covers only the approved statement kind and tables: another kind, another table, an unreadable statement or a request without scope is held again', async () => {
    const first = await hold()
    await service.decide(bob, first.id, { action: 'approve', forMs: 60_000 })
    await first.outcome
    const held = [
      request({ sql: 'delete from t where id = 1', scope: { parts: [{ kind: 'DELETE', tables: ['t'] }] } }),
      request({ sql: 'update u set x = 1 where id = 1', scope: { parts: [{ kind: 'UPDATE', tables: ['u'] }] } }),
      request({ sql: 'update t set x = 1 from u where t.id = u.id', scope: { parts: [{ kind: 'UPDATE', tables: ['t', 'u'] }] } }),
      request({ sql: 'do $$ ... $$', scope: { parts: [{ kind: 'UPDATE', tables: ['t'] }], opaque: true } }),
      request({ sql: 'update t set x = 3 where id = 1', scope: null }),
    ]
    for (const req of held) {
      const h = await hold(req)
      expect(service.pendingCount).toBe(1)
      await service.decide(bob, h.id, { action: 'deny' })
    }
    // The grant is stored with its scope: the approved kind and table still go through.
    expect((await store.getReview(first.id))?.scope).toEqual({ parts: [{ kind: 'UPDATE', tables: ['t'] }] })
    expect(await service.request(request({ sql: 'update t set x = 9 where id = 2' }), new AbortController().signal, () => {})).toMatchObject({ outcome: 'approved', reviewId: first.id })
  })
})

describe('gateway restarts and stops', () => {
  it('expires reviews a previous run left pending, with an event each', async () => {
    await store.createReview({
      id: '0192f3a0-0000-7000-8000-0000000000aa',
      sessionId: 'old',
      connectionId: 'c',
      connection: 'pg',
      requester: agent,
      rule: 'writes',
      reviewers: ['sre'],
      statement: 'delete from t where id = 3',
      params: [],
      fingerprint: 'f'.repeat(64),
      createdAt: new Date().toISOString(),
      expiresAt: new Date(Date.now() + 60_000).toISOString(),
      state: 'pending',
    })
    await service.start()
    expect(await store.getReview('0192f3a0-0000-7000-8000-0000000000aa')).toMatchObject({ state: 'expired', reason: 'the gateway restarted while the statement was held' })
    expect((await recorded()).map((e) => [e.type, e.data.restart])).toEqual([['review.expired', true]])
  })

  it('answers held statements as expired when it stops', async () => {
    const { outcome } = await hold()
    await service.stop()
    expect(await outcome).toMatchObject({ outcome: 'expired', reason: 'the gateway stopped while the statement was held' })
  })
})

describe('watchers', () => {
  it('get their list at once and again after every change, each its own view', async () => {
    const bobSees: ReviewView[][] = []
    const aliceSees: ReviewView[][] = []
    const stopBob = service.watch(bob, (v) => bobSees.push(v))
    service.watch({ ...alice, groups: ['agents'] }, (v) => aliceSees.push(v))
    await expect.poll(() => bobSees.length).toBe(1)
    expect(bobSees[0]).toEqual([])
    const { id } = await hold()
    await expect.poll(() => bobSees.at(-1)?.map((v) => [v.id, v.state, v.canApprove])).toEqual([[id, 'pending', true]])
    await service.decide(bob, id, { action: 'deny', reason: 'no' })
    await expect.poll(() => bobSees.at(-1)?.map((v) => [v.id, v.state])).toEqual([[id, 'denied']])
    // Alice is not a reviewer here (only agents) and did not ask: she sees nothing.
    expect(aliceSees.every((l) => l.length === 0)).toBe(true)
    stopBob()
  })
})
