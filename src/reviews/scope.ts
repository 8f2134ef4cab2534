/**
 * What an approval "for DURATION" lets through (SPEC 4, issue 10): later statements of the same
 * session that the same rule holds, and only when they do what the approved one did: the same
 * statement kinds on the same tables. `UPDATE public.accounts` approved for 10m lets the next
 * `UPDATE public.accounts ...` run; an `UPDATE public.users` or a `DELETE FROM public.accounts`
 * is held for a review of its own. Pure.
 */
import type { ReviewScope, ScopePart } from '../policy/reviews.js'

function samePart(a: ScopePart, b: ScopePart): boolean {
  if (a.kind !== b.kind || a.tables.length !== b.tables.length) return false
  const tables = new Set(a.tables)
  return b.tables.every((t) => tables.has(t))
}

/**
 * Whether a grant whose review had scope `grant` covers a statement of scope `held` (the rule
 * and session are matched by the caller). Every part of the held statement must be a part of the
 * approved one: same kind, same set of tables. Fails closed: a scope that is missing (a review
 * stored before scopes were kept), empty or opaque (what the statement does cannot be read) is
 * covered by nothing and covers nothing.
 */
export function grantCovers(grant: ReviewScope | undefined, held: ReviewScope | undefined): boolean {
  if (!grant || !held || grant.opaque || held.opaque) return false
  if (grant.parts.length === 0 || held.parts.length === 0) return false
  return held.parts.every((p) => grant.parts.some((g) => samePart(g, p)))
}

/** "UPDATE on public.accounts", "DELETE on a, b; INSERT on c", "DO (no table)". */
export function describeScope(scope: ReviewScope | undefined): string | undefined {
  if (!scope || scope.parts.length === 0) return undefined
  return scope.parts.map((p) => (p.tables.length > 0 ? `${p.kind} on ${p.tables.join(', ')}` : `${p.kind} (no table)`)).join('; ')
}

/** What an approval "for DURATION" of this review lets through, in words (the CLI and the TUI say it). */
export function grantCoverage(rule: string, scope: ReviewScope | undefined): string {
  const what = describeScope(scope)
  if (!what || !scope || scope.opaque) return `nothing else: rule "${rule}" held a statement agw cannot read, so each one is reviewed`
  return `same rule "${rule}", ${what}`
}
