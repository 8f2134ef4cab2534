/**
 * agw's own event format: one JSON object per line, the event as stored (docs/events.md), keys in a
 * fixed order. `id` (UUIDv7) makes a redelivered event recognisable; `seq` is its position in the
 * store, so a consumer can also see gaps.
 */
import type { AuditEvent } from '../../recording/events.js'

/** The event as a plain object with a stable key order (undefined fields left out). */
export function eventObject(e: AuditEvent): Record<string, unknown> {
  const o: Record<string, unknown> = { id: e.id }
  if (e.seq !== undefined) o.seq = e.seq
  o.time = e.time
  o.type = e.type
  if (e.sessionId !== undefined) o.sessionId = e.sessionId
  if (e.connectionId !== undefined) o.connectionId = e.connectionId
  if (e.connection !== undefined) o.connection = e.connection
  if (e.actor !== undefined) o.actor = e.actor
  o.data = e.data
  return o
}

/** One line of JSON, without the newline. */
export function toJsonLine(e: AuditEvent): string {
  return JSON.stringify(eventObject(e))
}

/**
 * JSON with every character outside printable ASCII as a JSON \u escape (four hex digits): still
 * valid JSON, parses to the same value, and safe for transports that are not 8-bit clean or that want plain ASCII
 * (syslog MSG without a BOM).
 */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}
