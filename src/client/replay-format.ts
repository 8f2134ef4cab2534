/**
 * Recordings as people and tools read them: the terminal as asciicast v2 (what `asciinema play`
 * takes), database sessions as a transcript of queries and their (masked) results, and small
 * tables for listings. Pure functions over the events the gateway returns.
 */
import type { AuditEvent } from '../recording/events.js'
import type { SessionRecord } from '../storage/store.js'

export interface TerminalFrame {
  n: number
  time: number
  kind: 'o' | 'i' | 'r'
  data: string
}

/** The session's terminal chunks in order, each once (a chunk resent after an outage is dropped). */
export function terminalFrames(events: AuditEvent[]): TerminalFrame[] {
  const seen = new Set<number>()
  const frames: TerminalFrame[] = []
  for (const e of events) {
    if (e.type !== 'terminal.output') continue
    const d = e.data as Partial<TerminalFrame>
    if (typeof d.time !== 'number' || typeof d.data !== 'string' || (d.kind !== 'o' && d.kind !== 'i' && d.kind !== 'r')) continue
    const n = typeof d.n === 'number' ? d.n : frames.length + 1
    if (seen.has(n)) continue
    seen.add(n)
    frames.push({ n, time: d.time, kind: d.kind, data: d.data })
  }
  // Late chunks (sent after an outage) are stored after newer events: put them back in place.
  return frames.sort((a, b) => a.n - b.n)
}

export function sizeOf(frames: TerminalFrame[]): { width: number; height: number } {
  const r = frames.find((f) => f.kind === 'r')
  const m = r ? /^(\d+)x(\d+)$/.exec(r.data) : null
  return m ? { width: Number(m[1]), height: Number(m[2]) } : { width: 80, height: 24 }
}

/**
 * asciicast v2: a header line, then one `[time, code, data]` line per frame. The first resize
 * (the size at start) goes into the header; later ones stay as "r" events.
 */
export function toAsciicast(session: SessionRecord, frames: TerminalFrame[]): string {
  const { width, height } = sizeOf(frames)
  const header = {
    version: 2,
    width,
    height,
    timestamp: Math.floor(Date.parse(session.startedAt) / 1000),
    title: `agw session ${session.id}: ${session.command ?? session.agent}`,
    env: { TERM: 'xterm-256color' },
  }
  const firstResize = frames.findIndex((f) => f.kind === 'r')
  const lines = [JSON.stringify(header)]
  frames.forEach((f, i) => {
    if (i === firstResize) return
    lines.push(JSON.stringify([Math.round(f.time * 1e6) / 1e6, f.kind, f.data]))
  })
  return `${lines.join('\n')}\n`
}

export function toJsonl(events: AuditEvent[]): string {
  return events.map((e) => JSON.stringify(e)).join('\n') + (events.length ? '\n' : '')
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return ''
  return typeof v === 'string' ? v : JSON.stringify(v)
}

/** Rows as psql's aligned format would show them (without its borders). */
export function table(columns: string[], rows: unknown[][]): string[] {
  const text = rows.map((r) => columns.map((_, i) => cell(r[i]).replace(/\n/g, '\\n')))
  const widths = columns.map((c, i) => Math.min(60, Math.max(c.length, ...text.map((r) => (r[i] as string).length))))
  const fit = (s: string, w: number) => (s.length > w ? `${s.slice(0, w - 1)}…` : s.padEnd(w))
  const out = [columns.map((c, i) => fit(c, widths[i] as number)).join(' | ').trimEnd(), widths.map((w) => '-'.repeat(w)).join('-+-')]
  for (const r of text) out.push(r.map((v, i) => fit(v, widths[i] as number)).join(' | ').trimEnd())
  return out
}

function offset(startMs: number, time: string): string {
  return `+${((Date.parse(time) - startMs) / 1000).toFixed(3)}s`
}

/**
 * A database session as a transcript: each statement with the result the agent got, in order;
 * denials, reviews and connections in between.
 */
export function transcript(session: SessionRecord, events: AuditEvent[]): string[] {
  return transcriptBlocks(session, events).flatMap((b) => b.lines)
}

/** The transcript in blocks, one per event that shows, with the event's time (ms since epoch). */
export function transcriptBlocks(session: SessionRecord, events: AuditEvent[]): { time: number; lines: string[] }[] {
  const start = Date.parse(session.startedAt)
  const blocks: { time: number; lines: string[] }[] = []
  const conn = new Map<string, string>()
  for (const e of events) {
    const out: string[] = []
    blocks.push({ time: Date.parse(e.time), lines: out })
    const at = offset(start, e.time)
    const d = e.data
    const where = e.connection ?? conn.get(e.connectionId ?? '') ?? ''
    switch (e.type) {
      case 'connection.open':
        if (e.connectionId && e.connection) conn.set(e.connectionId, e.connection)
        out.push(`[${at}] -- connected to ${e.connection}`)
        break
      case 'connection.close':
        out.push(`[${at}] -- ${e.connection} closed (${cell(d.reason)})`)
        break
      case 'query': {
        const params = Array.isArray(d.params) && d.params.length > 0 ? `   -- params: ${JSON.stringify(d.params)}` : ''
        out.push(`[${at}] ${where}=> ${cell(d.sql).trim()}${params}`)
        break
      }
      case 'query.result': {
        if (d.error && typeof d.error === 'object') {
          const err = d.error as { code?: string; message?: string; severity?: string }
          out.push(`${err.severity ?? 'ERROR'}:  ${err.message ?? ''}${err.code ? ` (SQLSTATE ${err.code})` : ''}`)
        } else if (d.skipped) {
          out.push(`(not run: ${cell(d.reason)})`)
        } else {
          const columns = Array.isArray(d.columns) ? (d.columns as string[]) : undefined
          const rows = Array.isArray(d.rows) ? (d.rows as unknown[][]) : []
          if (columns) out.push(...table(columns, rows))
          else for (const r of rows) out.push(r.map(cell).join('\t'))
          const count = typeof d.rowCount === 'number' ? d.rowCount : rows.length
          const more = d.truncated ? `, ${count - rows.length} more not recorded` : ''
          const ms = typeof d.durationMs === 'number' ? `, ${d.durationMs.toFixed(1)} ms` : ''
          out.push(`(${columns ? `${count} row${count === 1 ? '' : 's'}` : cell(d.tag)}${columns && d.tag ? `, ${cell(d.tag)}` : ''}${more}${ms})`)
        }
        out.push('')
        break
      }
      case 'query.denied':
        out.push(`[${at}] ${where}=> ${cell(d.sql).trim()}`, `DENIED: ${cell(d.message ?? d.reason ?? d.rule)}`, '')
        break
      case 'review.requested':
      case 'review.approved':
      case 'review.denied':
      case 'review.expired':
        out.push(`[${at}] -- ${e.type}${d.reviewId ? ` ${cell(d.reviewId)}` : ''}${d.by ? ` by ${cell(d.by)}` : ''}${d.reason ? `: ${cell(d.reason)}` : ''}`)
        break
      case 'masking.applied':
        out.push(`[${at}] -- masked: ${cell(d.columns ?? d.detectors ?? d)}`)
        break
      case 'session.end':
        out.push(`[${at}] -- session ${cell(d.status)}${d.exitCode !== undefined ? `, exit ${cell(d.exitCode)}` : ''}${d.error ? ` (${cell(d.error)})` : ''}`)
        break
      default:
        break
    }
  }
  return blocks.filter((b) => b.lines.length > 0)
}

export function who(s: SessionRecord): string {
  return s.identity.email ?? s.identity.subject
}

/** `agw sessions show`: who, what, where, and the timeline. */
export function describeSession(session: SessionRecord, events: AuditEvent[]): string[] {
  const s = session
  const out = [
    `session    ${s.id}`,
    `status     ${s.status}${s.exitCode !== undefined ? ` (exit ${s.exitCode})` : ''}${s.error ? `: ${s.error}` : ''}`,
    `identity   ${who(s)} (${s.identity.kind}, subject ${s.identity.subject}, issuer ${s.identity.issuer})`,
    `groups     ${s.identity.groups.join(', ') || '-'}`,
  ]
  if (s.identity.clientId) out.push(`client     ${s.identity.clientId}`)
  out.push(`agent      ${s.agent} on ${s.host}`)
  if (s.command) out.push(`command    ${s.command}`)
  out.push(`connections ${s.connections.join(', ') || '-'}`)
  out.push(`started    ${s.startedAt}`)
  if (s.endedAt) out.push(`ended      ${s.endedAt} (${((Date.parse(s.endedAt) - Date.parse(s.startedAt)) / 1000).toFixed(1)} s)`)
  const counts = new Map<string, number>()
  for (const e of events) counts.set(e.type, (counts.get(e.type) ?? 0) + 1)
  out.push(`events     ${events.length}${counts.size ? ` (${[...counts].map(([t, n]) => `${t} ${n}`).join(', ')})` : ''}`)
  out.push('', 'timeline')
  const start = Date.parse(s.startedAt)
  for (const e of events) {
    if (e.type === 'terminal.output') continue
    const d = e.data
    const what =
      e.type === 'query' || e.type === 'query.denied'
        ? cell(d.sql).replace(/\s+/g, ' ').slice(0, 100)
        : e.type === 'query.result'
          ? d.error
            ? `error ${cell((d.error as { code?: string }).code)}`
            : `${cell(d.tag)} ${typeof d.rowCount === 'number' ? `(${d.rowCount} rows)` : ''}`
          : e.type === 'session.end'
            ? `${cell(d.status)}${d.exitCode !== undefined ? ` exit ${cell(d.exitCode)}` : ''}`
            : e.type === 'connection.close'
              ? cell(d.reason)
              : ''
    out.push(`  ${offset(start, e.time).padStart(10)}  ${e.type.padEnd(16)} ${(e.connection ?? '').padEnd(10)} ${what}`.trimEnd())
  }
  const terminal = events.filter((e) => e.type === 'terminal.output').length
  if (terminal > 0) out.push(`  (${terminal} terminal chunks: \`agw sessions replay ${s.id}\`)`)
  return out
}

export function sessionRows(sessions: SessionRecord[]): string[] {
  const rows = sessions.map((s) => [
    s.id,
    s.startedAt.replace('T', ' ').slice(0, 19),
    who(s),
    s.agent,
    s.connections.join(',') || '-',
    s.status,
    s.endedAt ? `${((Date.parse(s.endedAt) - Date.parse(s.startedAt)) / 1000).toFixed(1)}s` : '-',
  ])
  const head = ['ID', 'STARTED (UTC)', 'USER', 'AGENT', 'CONNECTIONS', 'STATUS', 'DURATION']
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)))
  return [head, ...rows].map((r) => r.map((v, i) => v.padEnd(widths[i] as number)).join('  ').trimEnd())
}
