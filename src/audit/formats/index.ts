/** The SIEM formats by name: each turns one event into one line of text (no newline). */
import { hostname } from 'node:os'
import type { AuditEvent } from '../../recording/events.js'
import { toCef } from './cef.js'
import { toJsonLine } from './jsonl.js'
import { toOcsf } from './ocsf.js'
import { toHecLine } from './splunk-hec.js'

export type LineFormat = 'jsonl' | 'ocsf' | 'splunk-hec' | 'cef'

export const LINE_FORMATS: readonly LineFormat[] = ['jsonl', 'ocsf', 'splunk-hec', 'cef']

export function lineFormatter(format: LineFormat, host = hostname()): (e: AuditEvent) => string {
  switch (format) {
    case 'jsonl':
      return toJsonLine
    case 'ocsf':
      return (e) => JSON.stringify(toOcsf(e))
    case 'splunk-hec':
      return (e) => toHecLine(e, host)
    case 'cef':
      return (e) => toCef(e, host)
  }
}

/** The Content-Type of a body made of such lines joined by newlines. */
export function contentTypeOf(format: LineFormat): string {
  switch (format) {
    case 'jsonl':
    case 'ocsf':
      return 'application/x-ndjson'
    case 'splunk-hec':
      return 'application/json'
    case 'cef':
      return 'text/plain; charset=utf-8'
  }
}
