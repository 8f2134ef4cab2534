/**
 * Webhook sink: batched HTTP POSTs, one event per line in the chosen format (jsonl | ocsf |
 * splunk-hec | cef; formats/index.ts). A batch counts as delivered when every request for it was
 * answered 2xx; anything else (an error status, a timeout, a refused connection) fails it and the
 * runner retries. A 429 or 503 with Retry-After is honoured (capped by the retry policy's maximum).
 *
 * Authentication: `token` is sent as `Authorization: Splunk <token>` for splunk-hec and as
 * `Authorization: Bearer <token>` otherwise; it never appears in messages or logs. The URL must be
 * https, except on a loopback address; redirects are refused (a redirect could downgrade to plain
 * http or carry the token elsewhere).
 */
import { AgwError, describeError } from '../../errors.js'
import { isLoopbackHost } from '../../net.js'
import type { AuditEvent } from '../../recording/events.js'
import { contentTypeOf, lineFormatter, type LineFormat } from '../formats/index.js'
import type { Sink } from './sink.js'
import { SinkError } from './sink.js'

export interface WebhookSinkOptions {
  name: string
  url: string
  format: LineFormat
  /** The resolved secret (config `token: env:NAME`). */
  token?: string
  /** Per request (default 10 s). */
  timeoutMs?: number
  /** Largest request body; a batch is split into several requests above it (default 1 MiB). */
  maxBodyBytes?: number
}

/** The URL without credentials or query, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    return `${u.protocol}//${u.host}${u.pathname}${u.search ? '?…' : ''}`
  } catch {
    return '(invalid URL)'
  }
}

/** https, or http on a loopback address only (SPEC: plain HTTP only on loopback). */
export function checkWebhookUrl(url: string, where: string): URL {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    throw new AgwError('bad_input', `${where}: "${redactUrl(url)}" is not a URL`)
  }
  if (u.protocol === 'https:') return u
  if (u.protocol === 'http:' && isLoopbackHost(u.hostname)) return u
  throw new AgwError('bad_input', `${where}: a webhook must use https (plain http only on a loopback address), got ${redactUrl(url)}`)
}

function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined
  const seconds = Number(header)
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000
  const at = Date.parse(header)
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined
}

export class WebhookSink implements Sink {
  readonly name: string
  readonly maxBatch = 500
  private readonly url: string
  private readonly shown: string
  private readonly headers: Record<string, string>
  private readonly line: (e: AuditEvent) => string
  private readonly timeoutMs: number
  private readonly maxBodyBytes: number

  constructor(opts: WebhookSinkOptions) {
    this.name = opts.name
    checkWebhookUrl(opts.url, 'webhook sink')
    this.url = opts.url
    this.shown = redactUrl(opts.url)
    this.line = lineFormatter(opts.format)
    this.timeoutMs = opts.timeoutMs ?? 10_000
    this.maxBodyBytes = opts.maxBodyBytes ?? 1024 * 1024
    this.headers = { 'content-type': contentTypeOf(opts.format), 'user-agent': 'agw-audit-sink' }
    if (opts.token !== undefined) this.headers.authorization = `${opts.format === 'splunk-hec' ? 'Splunk' : 'Bearer'} ${opts.token}`
  }

  async deliver(events: readonly AuditEvent[], signal: AbortSignal): Promise<void> {
    let body: string[] = []
    let bytes = 0
    for (const e of events) {
      const line = this.line(e)
      const size = Buffer.byteLength(line) + 1
      if (body.length > 0 && bytes + size > this.maxBodyBytes) {
        await this.post(body, signal)
        body = []
        bytes = 0
      }
      body.push(line)
      bytes += size
    }
    if (body.length > 0) await this.post(body, signal)
  }

  private async post(lines: string[], signal: AbortSignal): Promise<void> {
    let res: Response
    try {
      res = await fetch(this.url, {
        method: 'POST',
        headers: this.headers,
        body: `${lines.join('\n')}\n`,
        redirect: 'error',
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.timeoutMs)]),
      })
    } catch (err) {
      const timedOut = err instanceof Error && err.name === 'TimeoutError'
      const why = timedOut ? `no answer within ${this.timeoutMs} ms` : describeError((err as Error).cause ?? err)
      throw new SinkError(`POST ${this.shown} failed: ${why}`, { cause: err })
    }
    // Read the body so the connection can be reused; keep a little of it for the message.
    const text = await res.text().catch(() => '')
    if (res.ok) return
    const hint = res.status === 401 || res.status === 403 ? ' (check the sink token)' : ''
    const detail = text.replace(/\s+/g, ' ').trim().slice(0, 200)
    const opts: { retryAfterMs?: number } = {}
    const after = res.status === 429 || res.status === 503 ? retryAfterMs(res.headers.get('retry-after')) : undefined
    if (after !== undefined) opts.retryAfterMs = after
    throw new SinkError(`POST ${this.shown} answered ${res.status}${hint}${detail ? `: ${detail}` : ''}`, opts)
  }

  async close(): Promise<void> {}
}
