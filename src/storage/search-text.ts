/**
 * What the search index sees of an event: the text of queries and of output (rows, terminal and
 * SSH output, HTTP requests), as recorded, which is after masking. Names, ids and numbers that are
 * not text are left out. Capped per event so a huge result cannot stall a batch write.
 */
import type { AuditEvent, EventType } from '../recording/events.js'

const INDEXED = new Set<EventType>([
  'session.start',
  'query',
  'query.result',
  'query.denied',
  'review.requested',
  'ssh.exec',
  'ssh.output',
  'terminal.output',
  'http.request',
  'http.response',
  'k8s.request',
])

/** Keys whose values are identifiers or bookkeeping, not searchable text. */
const SKIP = new Set(['queryId', 'protocol', 'kind', 'identityKind', 'tag', 'time', 'remote'])

export const MAX_INDEXED_CHARS = 64 * 1024

function collect(v: unknown, out: string[], budget: { left: number }): void {
  if (budget.left <= 0) return
  if (typeof v === 'string') {
    const s = v.length > budget.left ? v.slice(0, budget.left) : v
    budget.left -= s.length
    out.push(s)
  } else if (Array.isArray(v)) {
    for (const x of v) collect(x, out, budget)
  } else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) if (!SKIP.has(k)) collect(x, out, budget)
  }
}

/** The searchable text of an event, or '' when it has none. */
export function searchText(e: AuditEvent): string {
  if (!INDEXED.has(e.type)) return ''
  if (e.type === 'terminal.output' && e.data.kind === 'r') return ''
  const out: string[] = []
  collect(e.data, out, { left: MAX_INDEXED_CHARS })
  return out.join('\n')
}
