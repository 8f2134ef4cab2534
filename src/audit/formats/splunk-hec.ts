/**
 * Splunk HTTP Event Collector (HEC) event envelope, for POST /services/collector/event. Several
 * envelopes go in one request body, one after another (HEC's batch form); the event itself is agw's
 * JSON event (docs/events.md), so Splunk's JSON extraction gives the same fields as the file sink.
 * `fields` are indexed fields (strings only, as HEC requires) for fast filtering by type and session.
 */
import { hostname } from 'node:os'
import type { AuditEvent } from '../../recording/events.js'
import { eventObject } from './jsonl.js'

export const HEC_SOURCE = 'agw'
export const HEC_SOURCETYPE = 'agw:audit'

export interface HecEnvelope {
  /** Seconds since the epoch, with milliseconds. */
  time: number
  host: string
  source: string
  sourcetype: string
  event: Record<string, unknown>
  fields: Record<string, string>
}

export function toHecEnvelope(e: AuditEvent, host = hostname()): HecEnvelope {
  const fields: Record<string, string> = { agw_type: e.type, agw_event_id: e.id }
  if (e.sessionId) fields.agw_session = e.sessionId
  if (e.connection) fields.agw_connection = e.connection
  if (e.actor) fields.agw_subject = e.actor.subject
  return {
    time: Date.parse(e.time) / 1000,
    host,
    source: HEC_SOURCE,
    sourcetype: HEC_SOURCETYPE,
    event: eventObject(e),
    fields,
  }
}

export function toHecLine(e: AuditEvent, host?: string): string {
  return JSON.stringify(toHecEnvelope(e, host))
}
