/**
 * The review gate: how a held statement asks for a human decision. The PostgreSQL engine calls it
 * for a statement a `review` rule matched and carries out the outcome (approved: run it; anything
 * else: refuse it with SQLSTATE 42501). The review service (storage, `agw reviews`, approvals)
 * implements it; with no gate configured a review rule fails closed.
 */
import { createHash } from 'node:crypto'
import type { Principal } from '../identity/principal.js'

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
