/**
 * `agw sessions ...`: find, read, replay and export recordings through the gateway's API (the
 * gateway decides who may read what), or `--local` from this machine's session cache.
 */
import type { SearchHitView } from '../gateway/api/sessions.js'
import { AgwError } from '../errors.js'
import type { AuditEvent } from '../recording/events.js'
import type { SessionRecord } from '../storage/store.js'
import { SessionCache } from './cache.js'
import type { GatewayClient } from './gateway-client.js'
import { terminalFrames, toAsciicast, toJsonl, transcriptBlocks, type TerminalFrame } from './replay-format.js'

export interface ListOptions {
  user?: string
  connection?: string
  since?: string
  limit?: number
}

const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

function checkId(id: string): string {
  const v = id.trim().toLowerCase()
  if (!ID.test(v)) throw new AgwError('bad_input', `"${id}" is not a session id (a UUID, as \`agw sessions list\` shows)`)
  return v
}

/** "2h", "7d", "30m" ago, or an ISO time. */
export function parseSince(text: string, now = Date.now()): string {
  const m = /^(\d+)\s*(m|h|d)$/.exec(text.trim())
  if (m) return new Date(now - Number(m[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'm' | 'h' | 'd']).toISOString()
  const t = Date.parse(text)
  if (Number.isNaN(t)) throw new AgwError('bad_input', `--since "${text}" is not a time: use 30m, 2h, 7d or an ISO time such as 2026-01-31T12:00:00Z`)
  return new Date(t).toISOString()
}

export async function listSessions(client: GatewayClient, opts: ListOptions): Promise<SessionRecord[]> {
  const q = new URLSearchParams()
  if (opts.user) q.set('user', opts.user)
  if (opts.connection) q.set('connection', opts.connection)
  if (opts.since) q.set('since', parseSince(opts.since))
  if (opts.limit) q.set('limit', String(opts.limit))
  return (await client.get<{ sessions: SessionRecord[] }>(`/v1/sessions?${q}`)).sessions
}

/** A session with all of its events (paged from the gateway). */
export async function getSession(client: GatewayClient, id: string): Promise<{ session: SessionRecord; events: AuditEvent[] }> {
  const sid = checkId(id)
  const events: AuditEvent[] = []
  let after = 0
  for (;;) {
    const page = await client.get<{ session: SessionRecord; events: AuditEvent[]; more: boolean }>(`/v1/sessions/${sid}?afterSeq=${after}`)
    events.push(...page.events)
    if (!page.more || page.events.length === 0) return { session: page.session, events }
    after = page.events.at(-1)?.seq ?? after
  }
}

export async function searchSessions(client: GatewayClient, query: string, opts: { session?: string; limit?: number } = {}): Promise<SearchHitView[]> {
  const q = new URLSearchParams({ q: query })
  if (opts.session) q.set('session', checkId(opts.session))
  if (opts.limit) q.set('limit', String(opts.limit))
  return (await client.get<{ hits: SearchHitView[] }>(`/v1/search?${q}`)).hits
}

export async function exportSession(client: GatewayClient, id: string, format: 'asciicast' | 'jsonl'): Promise<string> {
  const { session, events } = await getSession(client, id)
  if (format === 'jsonl') return toJsonl(events)
  const frames = terminalFrames(events)
  if (frames.length === 0) {
    throw new AgwError('bad_input', `session ${session.id} has no terminal recording (it ran without a terminal); export it with --format jsonl, or replay its queries with \`agw sessions replay ${session.id}\``)
  }
  return toAsciicast(session, frames)
}

export interface ReplayOptions {
  /** Playback speed: 2 is twice as fast. */
  speed: number
  /** Longest pause kept, in seconds (longer idle time is cut to this). */
  idleLimit: number
  /** Print everything at once. */
  instant: boolean
  /** 'auto': the terminal when there is one, else the query transcript. */
  mode: 'auto' | 'terminal' | 'queries'
  write: (text: string) => void
  sleep?: (ms: number) => Promise<void>
}

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** Plays terminal frames with their timing (output only; input and resizes are not replayed). */
export async function playFrames(frames: TerminalFrame[], opts: ReplayOptions): Promise<void> {
  const sleep = opts.sleep ?? realSleep
  let last = 0
  for (const f of frames) {
    if (f.kind !== 'o') continue
    if (!opts.instant) {
      const gap = Math.min(Math.max(f.time - last, 0), opts.idleLimit) / opts.speed
      if (gap > 0.001) await sleep(gap * 1000)
    }
    last = f.time
    opts.write(f.data)
  }
}

export async function replaySession(client: GatewayClient, id: string, opts: ReplayOptions): Promise<'terminal' | 'queries'> {
  const { session, events } = await getSession(client, id)
  const frames = terminalFrames(events)
  const mode = opts.mode === 'auto' ? (frames.length > 0 ? 'terminal' : 'queries') : opts.mode
  if (mode === 'terminal') {
    if (frames.length === 0) throw new AgwError('bad_input', `session ${session.id} has no terminal recording; replay its queries with --queries`)
    await playFrames(frames, opts)
    return mode
  }
  const blocks = transcriptBlocks(session, events)
  if (blocks.length === 0) opts.write(`session ${session.id} recorded no queries\n`)
  const sleep = opts.sleep ?? realSleep
  let last = Date.parse(session.startedAt)
  for (const b of blocks) {
    if (!opts.instant) {
      const gap = Math.min(Math.max(b.time - last, 0) / 1000, opts.idleLimit) / opts.speed
      if (gap > 0.001) await sleep(gap * 1000)
    }
    last = b.time
    opts.write(`${b.lines.join('\n')}\n`)
  }
  return mode
}

/** `agw sessions replay --local ID`: the terminal as this machine's cache holds it. */
export async function replayLocal(id: string, opts: ReplayOptions, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const cache = await SessionCache.open(env)
  try {
    const frames = cache.frames(checkId(id))
    if (frames.length === 0) {
      throw new AgwError('bad_input', `the local cache has no terminal recording of session ${id} (it keeps this machine's sessions for ${cache.keepDays} days); without --local the gateway is asked`)
    }
    await playFrames(frames, opts)
  } finally {
    cache.close()
  }
}
