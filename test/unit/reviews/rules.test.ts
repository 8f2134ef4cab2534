/** Who may decide a review (docs/policy.md, "Reviews"), and how a caller's list is sorted into sections. */
import { describe, expect, it } from 'vitest'
import type { Principal } from '../../../src/identity/principal.js'
import { sections } from '../../../src/reviews/format.js'
import { refusal, sameHumanBehind, toView, visibleTo } from '../../../src/reviews/rules.js'
import type { ReviewRecord } from '../../../src/storage/store.js'

const ISS = 'https://idp.example.com'
const alice: Principal = { kind: 'human', subject: 'alice', email: 'alice@example.com', issuer: ISS, groups: ['sre', 'agents'] }
const bob: Principal = { kind: 'human', subject: 'bob', email: 'bob@example.com', name: 'bob', issuer: ISS, groups: ['sre'] }
const mallory: Principal = { kind: 'human', subject: 'mallory', email: 'mallory@example.com', issuer: ISS, groups: [] }
const ciAgent: Principal = { kind: 'agent', subject: 'ci-agent', clientId: 'ci-agent', issuer: ISS, groups: ['agents'] }
const robot: Principal = { kind: 'agent', subject: 'robot', clientId: 'robot', issuer: ISS, groups: ['sre'] }

function review(requester: Principal, over: Partial<ReviewRecord> = {}): ReviewRecord {
  return {
    id: '0192f3a0-0000-7000-8000-000000000001',
    sessionId: 's1',
    connectionId: 'c1',
    connection: 'pg',
    requester,
    rule: 'writes',
    reviewers: ['sre'],
    statement: 'update t set x = 1 where id = 2',
    params: [],
    fingerprint: 'f'.repeat(64),
    createdAt: '2026-01-01T00:00:00.000Z',
    expiresAt: '2026-01-01T00:10:00.000Z',
    state: 'pending',
    ...over,
  }
}

describe('refusal', () => {
  const cases: Array<[string, Principal, Principal, 'approve' | 'deny', RegExp | undefined]> = [
    ['a reviewer approves an agent', bob, ciAgent, 'approve', undefined],
    ['a reviewer denies an agent', bob, ciAgent, 'deny', undefined],
    ['a reviewer approves another person', bob, alice, 'approve', undefined],
    ['the requester approves its own', alice, alice, 'approve', /you requested review \S+ yourself: the requester can never approve its own review/],
    ['the requester denies its own', alice, alice, 'deny', /yourself/],
    ['someone in no reviewer group', mallory, ciAgent, 'approve', /mallory@example.com is not in a reviewer group of review \S+ \(sre\)/],
    ['an agent identity in the group approves', robot, ciAgent, 'approve', /robot is an agent identity: only a person in sre can approve/],
    ['an agent identity in the group denies', robot, ciAgent, 'deny', undefined],
    ['the same person under another issuer (same email)', bob, { ...bob, issuer: 'https://other.example.com' }, 'approve', /has your email address \(bob@example.com\)/],
    ['an agent token carrying the reviewer’s email', bob, { ...ciAgent, email: 'BOB@example.com' }, 'approve', /has your email address/],
    ['an agent acting for the reviewer (actor claim = subject)', bob, { ...ciAgent, claims: { actor: 'bob' } }, 'approve', /acts for you \(its "actor" claim is bob\)/],
    ['an agent acting for the reviewer (act claim = email)', bob, { ...ciAgent, claims: { act: 'bob@example.com' } }, 'deny', /acts for you/],
    ['an agent acting for someone else', bob, { ...ciAgent, claims: { actor: 'alice' } }, 'approve', undefined],
    ['a claim that does not name a person', bob, { ...ciAgent, claims: { repository: 'bob' } }, 'approve', undefined],
  ]
  it.each(cases)('%s', (_name, caller, requester, action, expected) => {
    const why = refusal(caller, review(requester), action)
    if (expected) expect(why).toMatch(expected)
    else expect(why).toBeUndefined()
  })

  it('uses any of several reviewer groups', () => {
    expect(refusal(mallory, review(ciAgent, { reviewers: ['dba', 'security'] }), 'approve')).toMatch(/dba, security/)
    expect(refusal({ ...mallory, groups: ['security'] }, review(ciAgent, { reviewers: ['dba', 'security'] }), 'approve')).toBeUndefined()
  })

  it('sameHumanBehind needs a real match, not an empty one', () => {
    expect(sameHumanBehind({ ...bob, email: '' }, { ...ciAgent, email: '' })).toBeUndefined()
    expect(sameHumanBehind(bob, { kind: 'agent', subject: 'x', issuer: ISS, claims: { user: '  ' } })).toBeUndefined()
  })
})

describe('what a caller sees', () => {
  it('requester and reviewers see a review; others do not', () => {
    const r = review(ciAgent)
    expect(visibleTo(bob, r)).toBe(true)
    expect(visibleTo(ciAgent, r)).toBe(true)
    expect(visibleTo(mallory, r)).toBe(false)
  })

  it('marks what the caller may do, and why not', () => {
    expect(toView(bob, review(ciAgent))).toMatchObject({ mine: false, canApprove: true, canDeny: true })
    const own = toView(alice, review(alice))
    expect(own).toMatchObject({ mine: true, canApprove: false, canDeny: false })
    expect(own.why).toMatch(/yourself/)
    const settled = toView(bob, review(ciAgent, { state: 'approved', decidedBy: { kind: 'human', subject: 'bob', email: 'bob@example.com', issuer: ISS } }))
    expect(settled).toMatchObject({ canApprove: false, canDeny: false, decidedBy: 'bob@example.com' })
    expect(settled.why).toBeUndefined()
  })

  it('sorts a list into sections: to decide, not decidable, mine, recent', () => {
    const views = [
      toView(bob, review(ciAgent, { id: 'a', expiresAt: '2026-01-01T00:09:00.000Z' })),
      toView(bob, review(ciAgent, { id: 'b', expiresAt: '2026-01-01T00:05:00.000Z' })),
      toView(bob, review({ ...ciAgent, claims: { actor: 'bob' } }, { id: 'c' })),
      toView(bob, review(bob, { id: 'd' })),
      toView(bob, review(ciAgent, { id: 'e', state: 'denied', decidedAt: '2026-01-01T00:01:00.000Z' })),
    ]
    const s = sections(views)
    expect(s.decide.map((v) => v.id)).toEqual(['b', 'a'])
    expect(s.blocked.map((v) => v.id)).toEqual(['c'])
    expect(s.mine.map((v) => v.id)).toEqual(['d'])
    expect(s.recent.map((v) => v.id)).toEqual(['e'])
  })
})
