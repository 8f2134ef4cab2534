/**
 * Reading recordings back (`agw sessions ...`), and the agent's terminal recording coming in.
 * Every call is authenticated by the gateway; auditors (`roles.auditors`) read every session, anyone
 * else only their own (same subject and issuer). Someone else's session answers like a missing one.
 *
 *   GET  /v1/sessions?user&connection&since&limit        sessions, newest first
 *   GET  /v1/sessions/:id?afterSeq&limit                   the session and its events (paged)
 *   GET  /v1/search?q&session&limit                        events whose text matches, newest first
 *   POST /v1/sessions/:id/terminal {chunks: [...]}          late terminal chunks from the CLI's cache
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { words } from '../../audit/crypto.js'
import { AgwError } from '../../errors.js'
import type { Principal } from '../../identity/principal.js'
import type { EventLog } from '../../recording/event-log.js'
import type { AuditEvent } from '../../recording/events.js'
import { searchText } from '../../storage/search-text.js'
import type { SessionFilter, SessionRecord, Store } from '../../storage/store.js'
import { readJsonBody, sendJson } from '../http.js'
import { actorOf, sameIdentity } from '../sessions.js'

/** One chunk of the agent's terminal, asciicast-style: seconds since the recording started. */
export interface TerminalChunk {
  /** 1, 2, 3 ... per session: lets the CLI resend what was not acknowledged, and replay drop duplicates. */
  n: number
  time: number
  kind: 'o' | 'i' | 'r'
  data: string
}

export interface SearchHitView {
  seq: number
  time: string
  type: string
  sessionId?: string
  connection?: string
  user?: string
  snippet: string
}

const MAX_CHUNK = 1024 * 1024

export function parseChunk(v: unknown): TerminalChunk | undefined {
  if (!v || typeof v !== 'object') return undefined
  const c = v as Record<string, unknown>
  if (!Number.isInteger(c.n) || (c.n as number) < 1) return undefined
  if (typeof c.time !== 'number' || !Number.isFinite(c.time) || c.time < 0) return undefined
  if (c.kind !== 'o' && c.kind !== 'i' && c.kind !== 'r') return undefined
  if (typeof c.data !== 'string' || c.data.length > MAX_CHUNK) return undefined
  return { n: c.n as number, time: c.time, kind: c.kind, data: c.data }
}

/** ±70 characters around the first word of the query found in the event's text. */
export function snippet(e: AuditEvent, query: string): string {
  // eslint-disable-next-line no-control-regex
  const text = searchText(e).replace(/\u001b\[[0-?]*[ -/]*[@-~]/g, '').replace(/\s+/g, ' ').trim()
  const lower = text.toLowerCase()
  let at = -1
  for (const w of words(query)) {
    at = lower.indexOf(w)
    if (at >= 0) break
  }
  if (at < 0) return text.slice(0, 140)
  const from = Math.max(0, at - 70)
  return `${from > 0 ? '…' : ''}${text.slice(from, at + 70)}${at + 70 < text.length ? '…' : ''}`
}

export class SessionsApi {
  constructor(
    private readonly store: Store,
    private readonly events: EventLog,
    private readonly isAuditor: (p: Principal) => boolean,
  ) {}

  /** Answers the request when it is one of this module's routes; false otherwise. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL, principal: Principal): Promise<boolean> {
    const path = url.pathname
    if (req.method === 'GET' && path === '/v1/sessions') {
      sendJson(res, 200, await this.list(principal, url))
      return true
    }
    if (req.method === 'GET' && path === '/v1/search') {
      sendJson(res, 200, await this.search(principal, url))
      return true
    }
    const m = /^\/v1\/sessions\/([0-9a-f-]{36})(\/terminal)?$/.exec(path)
    if (!m) return false
    const id = m[1] as string
    if (req.method === 'GET' && !m[2]) {
      sendJson(res, 200, await this.show(principal, id, url))
      return true
    }
    if (req.method === 'POST' && m[2]) {
      const body = (await readJsonBody(req, 8 * 1024 * 1024)) as { chunks?: unknown }
      sendJson(res, 200, await this.upload(principal, id, body.chunks))
      return true
    }
    return false
  }

  private async readable(principal: Principal, id: string): Promise<SessionRecord> {
    const session = await this.store.getSession(id)
    if (!session || (!this.isAuditor(principal) && !sameIdentity(session.identity, principal))) {
      throw new AgwError('forbidden', `session ${id} does not exist or is not yours to read (see \`agw sessions list\`)`)
    }
    return session
  }

  async list(principal: Principal, url: URL): Promise<{ sessions: SessionRecord[] }> {
    const filter: SessionFilter = {}
    const limit = Number(url.searchParams.get('limit') ?? 50)
    filter.limit = Number.isFinite(limit) && limit > 0 ? Math.min(limit, 1000) : 50
    const since = url.searchParams.get('since')
    if (since) {
      if (Number.isNaN(Date.parse(since))) throw new AgwError('bad_input', `since "${since}" is not a time; use ISO 8601 (2026-01-31T12:00:00Z)`)
      filter.since = new Date(since).toISOString()
    }
    const connection = url.searchParams.get('connection')
    if (connection) filter.connection = connection
    const user = url.searchParams.get('user')
    if (this.isAuditor(principal)) {
      if (user) filter.subject = user
    } else {
      // Never answer a question about someone else with the caller's own sessions.
      if (user && user !== principal.subject && user !== principal.email) {
        throw new AgwError('forbidden', `only auditors (roles.auditors in the gateway's config) may list another user's sessions; you are ${principal.email ?? principal.subject}`)
      }
      filter.subject = principal.subject
      filter.issuer = principal.issuer
    }
    return { sessions: await this.store.listSessions(filter) }
  }

  async show(principal: Principal, id: string, url: URL): Promise<{ session: SessionRecord; events: AuditEvent[]; more: boolean }> {
    await this.events.flush()
    const session = await this.readable(principal, id)
    const limit = Math.min(Math.max(Number(url.searchParams.get('limit') ?? 10_000) || 10_000, 1), 10_000)
    const after = Number(url.searchParams.get('afterSeq') ?? 0) || 0
    const events = await this.store.listEvents({ sessionId: id, afterSeq: after, limit: limit + 1 })
    const more = events.length > limit
    return { session, events: more ? events.slice(0, limit) : events, more }
  }

  async search(principal: Principal, url: URL): Promise<{ hits: SearchHitView[] }> {
    const q = (url.searchParams.get('q') ?? '').trim()
    if (!q || words(q).length === 0) throw new AgwError('bad_input', 'search needs at least one word: agw sessions search "select * from users"')
    await this.events.flush()
    const limit = Math.min(Math.max(Number(url.searchParams.get('limit') ?? 50) || 50, 1), 1000)
    const query: Parameters<Store['searchEvents']>[0] = { text: q, limit }
    if (!this.isAuditor(principal)) query.owner = { subject: principal.subject, issuer: principal.issuer }
    const session = url.searchParams.get('session')
    if (session) query.sessionId = session
    const hits = await this.store.searchEvents(query)
    return {
      hits: hits.map((h) => {
        const v: SearchHitView = { seq: h.event.seq ?? 0, time: h.event.time, type: h.event.type, snippet: snippet(h.event, q) }
        if (h.event.sessionId) v.sessionId = h.event.sessionId
        if (h.event.connection) v.connection = h.event.connection
        if (h.session) v.user = h.session.identity.email ?? h.session.identity.subject
        return v
      }),
    }
  }

  /**
   * Records one terminal chunk of a session as a `terminal.output` event; resolves when it is in
   * the store, which is when the gateway acknowledges it to the CLI.
   */
  async recordTerminal(principal: Principal, sessionId: string, chunk: TerminalChunk): Promise<void> {
    await this.events.durable(this.emitTerminal(principal, sessionId, chunk, false))
  }

  private emitTerminal(principal: Principal, sessionId: string, chunk: TerminalChunk, late: boolean): AuditEvent {
    const data: Record<string, unknown> = { n: chunk.n, time: chunk.time, kind: chunk.kind, data: chunk.data }
    if (late) data.late = true
    return this.events.emit({ type: 'terminal.output', sessionId, actor: actorOf(principal), data })
  }

  /** Chunks the CLI kept while the gateway was away: the owner only, duplicates dropped. */
  async upload(principal: Principal, id: string, raw: unknown): Promise<{ acked: number[] }> {
    const session = await this.store.getSession(id)
    if (!session || !sameIdentity(session.identity, principal)) {
      throw new AgwError('forbidden', `session ${id} does not exist or is not yours: only its owner can add its terminal recording`)
    }
    if (!Array.isArray(raw) || raw.length > 5000) throw new AgwError('bad_input', 'expected {chunks: [{n, time, kind, data}, ...]} with at most 5000 chunks')
    const chunks = raw.map(parseChunk)
    if (chunks.some((c) => !c)) throw new AgwError('bad_input', 'a chunk is not {n, time, kind: o|i|r, data}')
    await this.events.flush()
    const have = new Set<number>()
    for (const e of await this.store.listEvents({ sessionId: id, types: ['terminal.output'], limit: 1_000_000 })) {
      if (typeof e.data.n === 'number') have.add(e.data.n)
    }
    const acked: number[] = []
    let last: AuditEvent | undefined
    for (const c of chunks as TerminalChunk[]) {
      if (!have.has(c.n)) {
        have.add(c.n)
        last = this.emitTerminal(principal, id, c, true)
      }
      acked.push(c.n)
    }
    // Events are written in order: the last one in the store means all are.
    if (last) await this.events.durable(last)
    return { acked }
  }
}
