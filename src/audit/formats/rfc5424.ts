/**
 * Syslog messages (RFC 5424) for agw events, and the octet-counting frame of RFC 6587 / RFC 5425
 * used over TCP and TLS:
 *
 *   <PRI>1 TIMESTAMP HOSTNAME agw PROCID MSGID [agw@32473 id="…" seq="…" …] {"id":…}
 *
 * - PRI: facility authpriv (10) by default; severity warning (4) for auth.failed, notice (5) for
 *   refusals (query.denied, review.denied, review.expired), informational (6) otherwise.
 * - MSGID: the event type (`query.result`), so a receiver can route on it without parsing MSG.
 * - Structured data: one SD-ELEMENT `agw@32473` with the event's id, seq, type, session,
 *   connection and subject. 32473 is the placeholder private enterprise number that RFC 5612
 *   reserves for documentation; it becomes agw's own IANA PEN once one is assigned
 *   (docs/audit-sinks.md).
 * - MSG: the event as JSON (docs/events.md), ASCII only (non-ASCII as JSON \u escapes), so it needs
 *   no BOM and survives receivers that are not 8-bit clean.
 *
 * A message longer than `maxBytes` keeps its header and structured data and loses the bulky parts
 * of its payload (result rows, parameters, long strings), marked `"truncated": true`; the full
 * event stays in the store (`agw audit export`).
 */
import type { AuditEvent } from '../../recording/events.js'
import { asciiJson, eventObject } from './jsonl.js'

/** RFC 5612: the enterprise number reserved for documentation. A placeholder until agw has its own. */
export const SD_ENTERPRISE_NUMBER = 32473
export const SD_ID = `agw@${SD_ENTERPRISE_NUMBER}`

export const FACILITY_AUTHPRIV = 10

export interface SyslogFormatOptions {
  hostname: string
  appName?: string
  procId?: string
  facility?: number
  /** Longest message (without the frame) in bytes; larger payloads are trimmed. */
  maxBytes?: number
}

export function severityOf(e: AuditEvent): number {
  if (e.type === 'auth.failed') return 4
  if (e.type === 'query.denied' || e.type === 'review.denied' || e.type === 'review.expired') return 5
  return 6
}

/** PRINTUSASCII without spaces, at most `max` characters; '-' (NILVALUE) when empty. */
function headerField(value: string | undefined, max: number): string {
  const v = (value ?? '').replace(/[^\x21-\x7e]/g, '_').slice(0, max)
  return v.length > 0 ? v : '-'
}

/** PARAM-VALUE escaping (RFC 5424 section 6.3.3): '"', '\' and ']' get a backslash. */
export function sdEscape(value: string): string {
  return value.replace(/[\\"\]]/g, (c) => `\\${c}`)
}

export function structuredData(e: AuditEvent): string {
  const params: [string, string | undefined][] = [
    ['id', e.id],
    ['seq', e.seq !== undefined ? String(e.seq) : undefined],
    ['type', e.type],
    ['session', e.sessionId],
    ['connection', e.connection],
    ['connectionId', e.connectionId],
    ['subject', e.actor?.subject],
    ['kind', e.actor?.kind],
  ]
  const body = params
    .filter((p): p is [string, string] => p[1] !== undefined)
    .map(([k, v]) => `${k}="${sdEscape(v)}"`)
    .join(' ')
  return `[${SD_ID} ${body}]`
}

/** The payload with bulky values removed, for a message that would be too long. */
function trimmedData(data: Record<string, unknown>, level: 1 | 2): Record<string, unknown> {
  if (level === 2) return { truncated: true }
  const out: Record<string, unknown> = { truncated: true }
  for (const [k, v] of Object.entries(data)) {
    if (typeof v === 'string') out[k] = v.length > 1024 ? `${v.slice(0, 1024)}…` : v
    else if (typeof v === 'number' || typeof v === 'boolean' || v === null) out[k] = v
  }
  return out
}

export function formatRfc5424(e: AuditEvent, opts: SyslogFormatOptions): string {
  const pri = (opts.facility ?? FACILITY_AUTHPRIV) * 8 + severityOf(e)
  const header = [
    `<${pri}>1`,
    headerField(e.time, 64),
    headerField(opts.hostname, 255),
    headerField(opts.appName ?? 'agw', 48),
    headerField(opts.procId ?? String(process.pid), 128),
    headerField(e.type, 32),
    structuredData(e),
  ].join(' ')
  const max = opts.maxBytes ?? Infinity
  const obj = eventObject(e)
  let msg = `${header} ${asciiJson(obj)}`
  for (const level of [1, 2] as const) {
    if (Buffer.byteLength(msg) <= max) break
    msg = `${header} ${asciiJson({ ...obj, data: trimmedData(e.data, level) })}`
  }
  return msg
}

/** RFC 6587 section 3.4.1 octet counting: "LEN SP MSG", LEN the length of MSG in bytes. */
export function octetFrame(msg: string): Buffer {
  const body = Buffer.from(msg, 'utf8')
  return Buffer.concat([Buffer.from(`${body.length} `, 'ascii'), body])
}
