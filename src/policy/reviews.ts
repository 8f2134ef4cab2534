/**
 * The review gate: how a held statement asks for a human decision. The PostgreSQL engine calls it
 * for a statement a `review` rule matched and carries out the outcome (approved: run it; anything
 * else: refuse it with SQLSTATE 42501). The review service (storage, `agw reviews`, approvals)
 * implements it; with no gate configured a review rule fails closed.
 */
import { createHash } from 'node:crypto'
import type { Principal } from '../identity/principal.js'
import type { Decision } from './decide.js'

export interface ReviewRequest {
  sessionId: string
  connectionId: string
  /** The connection's name. */
  connection: string
  principal: Principal
  rule: { name: string; reviewers: string[]; timeoutMs: number }
  /** The SQL as the client sent it (the whole Query, or the prepared statement's text). */
  statement: string
  /** Bind parameters as text (binary ones as \x-hex), for the extended protocol; [] otherwise. */
  params: (string | null)[]
  /** sha256 over statement, params, session id and policy version: an approval releases exactly this. */
  fingerprint: string
  /** What the rule matched in it; an approval "for DURATION" covers later statements of this scope only. */
  scope?: ReviewScope
}

/** One part a rule matched: its statement kind and the relations it names (sorted, no repeats). */
export interface ScopePart {
  kind: string
  tables: string[]
}

/**
 * What a review rule matched in a held statement (one part per statement, or nested part, it
 * matched). `opaque`: at least one of them cannot be read, so no grant may stand for it.
 */
export interface ReviewScope {
  parts: ScopePart[]
  opaque?: true
}

/** The scope of a held statement: the parts the deciding rule matched. */
export function reviewScope(d: Decision): ReviewScope {
  const parts = new Map<string, ScopePart>()
  let opaque = false
  for (const m of d.matches) {
    if (!d.rule || m.rule.name !== d.rule.name) continue
    if (m.opaque) opaque = true
    const part = { kind: m.kind, tables: [...new Set(m.tables)].sort() }
    parts.set(JSON.stringify(part), part)
  }
  const scope: ReviewScope = { parts: [...parts.values()] }
  if (opaque) scope.opaque = true
  return scope
}

export type ReviewOutcome = {
  outcome: 'approved' | 'denied' | 'expired' | 'withdrawn'
  reviewId: string
  reason?: string
  decidedBy?: string
}

export interface ReviewGate {
  /**
   * Stores the review and resolves with its outcome. Calls `onPending(reviewId)` as soon as the
   * review exists (the engine then tells the client it is held). `signal` aborts when the client
   * goes away or cancels: the review is then withdrawn.
   */
  request(req: ReviewRequest, signal: AbortSignal, onPending: (reviewId: string) => void): Promise<ReviewOutcome>
}

/** The fingerprint of a held statement (hex SHA-256 over length-prefixed parts, so parts cannot run together). */
export function reviewFingerprint(statement: string, params: readonly (string | null)[], sessionId: string, policyVersion: string): string {
  const h = createHash('sha256')
  const part = (s: string | null): void => {
    if (s === null) {
      h.update('N')
      return
    }
    const b = Buffer.from(s, 'utf8')
    h.update(`S${b.length}:`)
    h.update(b)
  }
  part(statement)
  h.update(`P${params.length}:`)
  for (const p of params) part(p)
  part(sessionId)
  part(policyVersion)
  return h.digest('hex')
}
