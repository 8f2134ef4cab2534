/**
 * Who may decide a review, and what each caller sees of it. Pure: no store, no clock except the
 * `now` passed in, table-tested (test/unit/reviews/rules.test.ts).
 *
 * Deciding (docs/policy.md, "Reviews"):
 * - only members of one of the rule's `reviewers` groups decide;
 * - the requester never decides its own review (same subject and issuer);
 * - nor does a reviewer who is, as far as the gateway can tell, the person behind the requesting
 *   identity (see `sameHumanBehind`);
 * - approving takes a person: an agent identity in a reviewer group may deny, never approve.
 */
import { inAnyGroup, type Principal } from '../identity/principal.js'
import type { ReviewRecord, ReviewState } from '../storage/store.js'
import type { ReviewSummary } from '../tunnel/protocol.js'
import { grantCoverage } from './scope.js'

/** A review as the API shows it to one caller. */
export interface ReviewView {
  id: string
  state: ReviewState
  connection: string
  rule: string
  reviewers: string[]
  statement: string
  params: (string | null)[]
  /** What an approval is bound to; `agw reviews` sends it back with the approval. */
  fingerprint: string
  requester: { kind: Principal['kind']; subject: string; issuer: string; email?: string; name?: string; clientId?: string }
  agent?: string
  sessionId: string
  createdAt: string
  expiresAt: string
  decidedAt?: string
  decidedBy?: string
  reason?: string
  grantUntil?: string
  /** What an approval "for DURATION" covers besides this statement, in words ("same rule "r", UPDATE on public.accounts"). */
  grantCovers: string
  /** The caller requested it. */
  mine: boolean
  canApprove: boolean
  canDeny: boolean
  /** Why the caller may not decide it, when it is pending and the caller may not. */
  why?: string
}

/**
 * Claims (as the issuer config maps them into `Principal.claims`) that name the person an agent
 * token acts for: RFC 8693 `act`, GitHub Actions' `actor`, and the names issuers commonly use.
 */
export const ACTOR_CLAIMS = ['act', 'act_sub', 'actor', 'on_behalf_of', 'owner', 'triggered_by', 'user', 'email', 'sub'] as const

const norm = (s: string | undefined): string | undefined => (s === undefined ? undefined : s.trim().toLowerCase() || undefined)

/** The requester's name for people: email, else subject. */
export function displayName(p: { email?: string | undefined; subject: string }): string {
  return p.email ?? p.subject
}

export function sameIdentity(a: { subject: string; issuer: string }, b: { subject: string; issuer: string }): boolean {
  return a.subject === b.subject && a.issuer === b.issuer
}

/**
 * Whether `reviewer` is, as far as the gateway can tell, the person behind `requester` (an agent
 * token a person runs, or the same person under another issuer). Returns what links them, or
 * undefined. Errs towards refusing: a false link only means another reviewer must decide.
 *
 *   - the same email address (case-insensitive), whatever the issuers;
 *   - a claim of the requester that names the person it acts for (ACTOR_CLAIMS, when the issuer
 *     config maps it) equal to the reviewer's subject, email or name.
 */
export function sameHumanBehind(reviewer: Principal, requester: ReviewView['requester'] & { claims?: Record<string, string> }): string | undefined {
  const email = norm(reviewer.email)
  if (email && norm(requester.email) === email) return `has your email address (${reviewer.email})`
  const mine = new Set([norm(reviewer.subject), email, norm(reviewer.name)].filter((x): x is string => x !== undefined))
  for (const key of ACTOR_CLAIMS) {
    const v = norm(requester.claims?.[key])
    if (v && mine.has(v)) return `acts for you (its "${key}" claim is ${requester.claims?.[key]})`
  }
  return undefined
}

/** Why `caller` may not take `action` on `review` (a pending one), or undefined when it may. */
export function refusal(caller: Principal, review: ReviewRecord, action: 'approve' | 'deny'): string | undefined {
  const groups = review.reviewers.join(', ')
  if (sameIdentity(caller, review.requester)) {
    return `you requested review ${review.id} yourself: the requester can never ${action} its own review; another member of ${groups} must decide it (to withdraw it, cancel the statement, e.g. Ctrl-C)`
  }
  if (!inAnyGroup(caller, review.reviewers)) {
    return `${displayName(caller)} is not in a reviewer group of review ${review.id} (${groups}); ask a member of ${groups}`
  }
  const link = sameHumanBehind(caller, review.requester)
  if (link) return `review ${review.id} was requested by ${displayName(review.requester)}, which ${link}: another member of ${groups} must decide it`
  if (action === 'approve' && caller.kind !== 'human') return `${displayName(caller)} is an agent identity: only a person in ${groups} can approve review ${review.id}`
  return undefined
}

/** Whether `caller` sees `review` at all: its requester, or a member of its reviewer groups. */
export function visibleTo(caller: Principal, review: ReviewRecord): boolean {
  return sameIdentity(caller, review.requester) || inAnyGroup(caller, review.reviewers)
}

export function toView(caller: Principal, r: ReviewRecord): ReviewView {
  const q = r.requester
  const requester: ReviewView['requester'] = { kind: q.kind, subject: q.subject, issuer: q.issuer }
  if (q.email !== undefined) requester.email = q.email
  if (q.name !== undefined) requester.name = q.name
  if (q.clientId !== undefined) requester.clientId = q.clientId
  const pending = r.state === 'pending'
  const noApprove = pending ? refusal(caller, r, 'approve') : undefined
  const noDeny = pending ? refusal(caller, r, 'deny') : undefined
  const v: ReviewView = {
    id: r.id,
    state: r.state,
    connection: r.connection,
    rule: r.rule,
    reviewers: r.reviewers,
    statement: r.statement,
    params: r.params,
    fingerprint: r.fingerprint,
    requester,
    sessionId: r.sessionId,
    createdAt: r.createdAt,
    expiresAt: r.expiresAt,
    grantCovers: grantCoverage(r.rule, r.scope),
    mine: sameIdentity(caller, q),
    canApprove: pending && noApprove === undefined,
    canDeny: pending && noDeny === undefined,
  }
  if (r.agent !== undefined) v.agent = r.agent
  if (r.decidedAt !== undefined) v.decidedAt = r.decidedAt
  if (r.decidedBy !== undefined) v.decidedBy = displayName(r.decidedBy)
  if (r.reason !== undefined) v.reason = r.reason
  if (r.grantUntil !== undefined) v.grantUntil = r.grantUntil
  if (pending && noApprove !== undefined) v.why = noApprove
  return v
}

/** What the requester's `agw exec` is told (a `{t: 'review'}` push). */
export function toSummary(r: ReviewRecord): ReviewSummary {
  const s: ReviewSummary = {
    id: r.id,
    connection: r.connection,
    rule: r.rule,
    reviewers: r.reviewers,
    statement: r.statement,
    requester: displayName(r.requester),
    expiresAt: r.expiresAt,
    state: r.state,
  }
  if (r.reason !== undefined) s.reason = r.reason
  if (r.decidedBy !== undefined) s.decidedBy = displayName(r.decidedBy)
  if (r.grantUntil !== undefined) s.until = r.grantUntil
  return s
}
