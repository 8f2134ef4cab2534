/**
 * ArcSight Common Event Format (CEF) 0, one line per event:
 *
 *   CEF:0|agw|agw|VERSION|<event type>|<name>|<severity 0-10>|<extension>
 *
 * Escaping follows the CEF specification: in the header a backslash and a pipe are escaped with a
 * backslash (and a line break, which the header may not contain, becomes a space); in the
 * extension a backslash and an equals sign are escaped, and line breaks are written as \n and \r.
 * The extension keys are standard CEF keys; agw's own fields go to the labelled custom fields
 * cs1..cs6 and cn1..cn2 (the table is in docs/events.md).
 */
import { hostname } from 'node:os'
import { isIP } from 'node:net'
import type { AuditEvent, EventType } from '../../recording/events.js'
import { VERSION } from '../../version.js'

export function cefHeaderEscape(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r\n|\r|\n/g, ' ')
}

export function cefExtensionEscape(value: string): string {
  return value
    .replace(/\\/g, '\\\\')
    .replace(/=/g, '\\=')
    .replace(/\n/g, '\\n')
    .replace(/\r/g, '\\r')
}

/** CEF severity (0-10) and a readable name for each event type. */
const CEF_EVENTS: Record<EventType, { name: string; severity: number }> = {
  'auth.login': { name: 'Login', severity: 3 },
  'auth.failed': { name: 'Authentication failed', severity: 7 },
  'session.start': { name: 'Session started', severity: 3 },
  'session.end': { name: 'Session ended', severity: 3 },
  'connection.open': { name: 'Connection opened', severity: 3 },
  'connection.close': { name: 'Connection closed', severity: 3 },
  query: { name: 'Query', severity: 3 },
  'query.result': { name: 'Query result', severity: 2 },
  'query.denied': { name: 'Query denied', severity: 6 },
  'review.requested': { name: 'Review requested', severity: 4 },
  'review.approved': { name: 'Review approved', severity: 4 },
  'review.denied': { name: 'Review denied', severity: 5 },
  'review.expired': { name: 'Review expired', severity: 5 },
  'ssh.exec': { name: 'SSH command', severity: 3 },
  'ssh.output': { name: 'SSH output', severity: 2 },
  'terminal.output': { name: 'Terminal output', severity: 2 },
  'http.request': { name: 'HTTP request', severity: 3 },
  'http.response': { name: 'HTTP response', severity: 2 },
  'k8s.request': { name: 'Kubernetes request', severity: 3 },
  'masking.applied': { name: 'Masking applied', severity: 3 },
}

/** Longest value CEF consumers accept for the keys used here (ArcSight's limits). */
const LIMITS: Record<string, number> = { msg: 1023, request: 1023, reason: 1023, suser: 1023, suid: 1023, shost: 1023, dvchost: 100, externalId: 40, act: 63, outcome: 63, requestMethod: 1023 }
const CUSTOM_STRING_LIMIT = 4000

function text(v: unknown): string | undefined {
  if (typeof v === 'string') return v.length > 0 ? v : undefined
  if (typeof v === 'number' || typeof v === 'boolean') return String(v)
  return undefined
}

function clip(value: string, max: number): string {
  return value.length > max ? `${value.slice(0, max - 1)}…` : value
}

/** One CEF line for an event, without the newline. */
export function toCef(e: AuditEvent, host = hostname()): string {
  const meta = CEF_EVENTS[e.type] ?? { name: e.type, severity: 3 }
  const d = e.data
  const ext: [string, string | undefined][] = [
    ['rt', String(Date.parse(e.time))],
    ['externalId', e.id],
    ['dvchost', host],
    ['cat', `agw/${e.type.split('.')[0]}`],
    ['suser', e.actor?.email ?? e.actor?.subject],
    ['suid', e.actor?.subject],
  ]
  const remote = text(d.remote)?.replace(/^::ffff:/, '')
  if (remote && isIP(remote)) ext.push(['src', remote])
  if (e.type === 'session.start') ext.push(['shost', text(d.host)])
  const custom: [label: string, value: string | undefined][] = [
    ['sessionId', e.sessionId],
    ['connection', e.connection],
    ['connectionId', e.connectionId],
    ['sql', text(d.sql) ?? text(d.command)],
    ['issuer', e.actor?.issuer],
    ['groups', e.actor?.groups?.join(',')],
  ]
  custom.forEach(([label, value], i) => {
    if (value === undefined) return
    ext.push([`cs${i + 1}Label`, label], [`cs${i + 1}`, clip(value, CUSTOM_STRING_LIMIT)])
  })
  if (e.seq !== undefined) ext.push(['cn1Label', 'seq'], ['cn1', String(e.seq)])
  const rows = typeof d.rowCount === 'number' ? d.rowCount : undefined
  if (rows !== undefined) ext.push(['cn2Label', 'rowCount'], ['cn2', String(rows)])
  const error = d.error !== null && typeof d.error === 'object' ? text((d.error as Record<string, unknown>).message) : text(d.error)
  if (e.type === 'query.denied' || e.type === 'review.denied' || e.type === 'review.expired' || e.type === 'auth.failed') {
    ext.push(['act', e.type === 'review.expired' ? 'expired' : 'denied'], ['outcome', 'failure'])
    ext.push(['reason', text(d.message) ?? text(d.reason)])
  } else if (e.type === 'review.approved') {
    ext.push(['act', 'approved'], ['outcome', 'success'])
  } else if (error) {
    ext.push(['outcome', 'failure'], ['reason', error])
  }
  if (e.type.startsWith('http.') || e.type === 'k8s.request') {
    ext.push(['requestMethod', text(d.method) ?? text(d.verb)], ['request', text(d.url) ?? text(d.path)])
  }
  ext.push(['msg', text(d.status) ?? text(d.tag) ?? text(d.reason)])
  const extension = ext
    .filter((kv): kv is [string, string] => kv[1] !== undefined && kv[1] !== '')
    .map(([k, v]) => `${k}=${cefExtensionEscape(clip(v, LIMITS[k] ?? CUSTOM_STRING_LIMIT))}`)
    .join(' ')
  const header = ['CEF:0', 'agw', 'agw', VERSION, e.type, meta.name, String(meta.severity)].map(cefHeaderEscape).join('|')
  return `${header}|${extension}`
}
