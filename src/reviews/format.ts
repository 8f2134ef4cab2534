/**
 * Reviews as text: the sections `agw reviews` shows (in its table and in the live view), and the
 * small pieces both use (countdowns, one-line SQL, who asked).
 */
import type { ReviewView } from './rules.js'

export interface ReviewSections {
  /** Pending, and the caller may decide them. */
  decide: ReviewView[]
  /** Pending, the caller sees them (a reviewer group) but may not decide them (`why`). */
  blocked: ReviewView[]
  /** The caller's own requests, any state. */
  mine: ReviewView[]
  /** Decided in the last hour, not the caller's. */
  recent: ReviewView[]
}

export function sections(reviews: readonly ReviewView[]): ReviewSections {
  const s: ReviewSections = { decide: [], blocked: [], mine: [], recent: [] }
  for (const r of reviews) {
    if (r.mine) s.mine.push(r)
    else if (r.state !== 'pending') s.recent.push(r)
    else if (r.canApprove || r.canDeny) s.decide.push(r)
    else s.blocked.push(r)
  }
  // Oldest pending first (it expires first); newest decisions first.
  const byExpiry = (a: ReviewView, b: ReviewView) => a.expiresAt.localeCompare(b.expiresAt)
  s.decide.sort(byExpiry)
  s.blocked.sort(byExpiry)
  s.recent.sort((a, b) => (b.decidedAt ?? '').localeCompare(a.decidedAt ?? ''))
  return s
}

/** 3725000 -> "1h2m", 252000 -> "4m12s", 9000 -> "9s". */
export function shortDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
}

/** "in 4m12s" for a pending review, else its state and who settled it. */
export function status(r: ReviewView, now: number): string {
  if (r.state === 'pending') {
    const left = Date.parse(r.expiresAt) - now
    return left > 0 ? `expires in ${shortDuration(left)}` : 'expiring'
  }
  const by = r.decidedBy ? ` by ${r.decidedBy}` : ''
  const until = r.state === 'approved' && r.grantUntil && Date.parse(r.grantUntil) > now ? ` (matching statements until ${new Date(r.grantUntil).toLocaleTimeString()})` : ''
  return `${r.state}${by}${until}`
}

export function oneLine(sql: string, max: number): string {
  const t = sql.replace(/\s+/g, ' ').trim()
  return t.length > max ? `${t.slice(0, Math.max(0, max - 1))}…` : t
}

export function requesterName(r: ReviewView): string {
  const q = r.requester
  return `${q.email ?? q.subject}${q.kind === 'agent' ? ' (agent)' : ''}`
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length)
}

function rows(list: ReviewView[], now: number, withWhy: boolean): string[] {
  const cells = list.map((r) => [r.id, r.connection, r.rule, requesterName(r), status(r, now)])
  const widths = [0, 1, 2, 3, 4].map((i) => Math.max(...cells.map((c) => (c[i] as string).length)))
  const out: string[] = []
  list.forEach((r, i) => {
    out.push(`  ${cells[i]!.map((c, j) => pad(c, widths[j] as number)).join('  ')}`)
    out.push(`      ${oneLine(r.statement, 100)}${r.params.length > 0 ? `   -- params: ${JSON.stringify(r.params)}` : ''}`)
    if (r.reason && r.state !== 'pending') out.push(`      reason: ${oneLine(r.reason, 100)}`)
    if (withWhy && r.why) out.push(`      (${r.why})`)
  })
  return out
}

/** `agw reviews` without --watch: the sections as text, one review per two lines. */
export function reviewTable(reviews: readonly ReviewView[], now: number): string[] {
  const s = sections(reviews)
  const out: string[] = []
  const block = (title: string, list: ReviewView[], withWhy = false) => {
    if (list.length === 0) return
    if (out.length > 0) out.push('')
    out.push(`${title} (${list.length})`, ...rows(list, now, withWhy))
  }
  block('Waiting for your decision', s.decide)
  block('Pending, not yours to decide', s.blocked, true)
  block('Your requests', s.mine)
  block('Decided in the last hour', s.recent)
  if (out.length === 0) out.push('no reviews: nothing is waiting for you, and you have no requests')
  else if (s.decide.length > 0) out.push('', 'Decide with `agw review approve|deny ID [--reason TEXT] [--for 10m]`, or live with `agw reviews --watch`.')
  return out
}
