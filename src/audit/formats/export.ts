/**
 * `agw audit export`: the events of the store since a time, one line each in a SIEM format, in
 * store order. Reads in pages through `Store.listEvents` (decrypted), writes with backpressure, so a
 * large store streams in bounded memory.
 */
import type { Writable } from 'node:stream'
import { loadConfig } from '../../config/load.js'
import { parseDuration } from '../../config/schema.js'
import { AgwError } from '../../errors.js'
import { openConfiguredStore } from '../../storage/open.js'
import type { Store } from '../../storage/store.js'
import { lineFormatter, type LineFormat } from './index.js'

export type ExportFormat = Extract<LineFormat, 'jsonl' | 'ocsf' | 'cef'>
export const EXPORT_FORMATS: readonly ExportFormat[] = ['jsonl', 'ocsf', 'cef']

/**
 * `--since`: an ISO 8601 date or date-time ("2024-05-01", "2024-05-01T12:00:00Z"), or a duration
 * back from now ("90m", "24h", "7d"). Returns an ISO date-time.
 */
export function parseSince(text: string, now = Date.now()): string {
  const t = text.trim()
  if (/^\d+(ms|s|m|h|d)$/.test(t)) return new Date(now - parseDuration(t)).toISOString()
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(t)) {
    const ms = Date.parse(t.length === 10 ? `${t}T00:00:00Z` : t.replace(' ', 'T'))
    if (Number.isFinite(ms)) return new Date(ms).toISOString()
  }
  throw new AgwError('bad_input', `--since "${text}" is neither a time (2024-05-01, 2024-05-01T12:00:00Z) nor a duration back from now (30m, 24h, 7d)`)
}

export interface ExportOptions {
  format: ExportFormat
  /** ISO date-time: events at or after it. */
  since: string
  pageSize?: number
}

function write(out: Writable, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err)
    out.once('error', onError)
    const ok = out.write(text, (err) => {
      if (err) reject(err)
    })
    const done = () => {
      out.off('error', onError)
      resolve()
    }
    if (ok) done()
    else out.once('drain', done)
  })
}

/** Writes the events since `since` to `out`; returns how many. */
export async function exportEvents(store: Pick<Store, 'listEvents'>, opts: ExportOptions, out: Writable): Promise<number> {
  const line = lineFormatter(opts.format)
  const since = Date.parse(opts.since)
  const limit = opts.pageSize ?? 2000
  let after = 0
  let count = 0
  for (;;) {
    const page = await store.listEvents({ afterSeq: after, limit })
    if (page.length === 0) break
    let chunk = ''
    for (const e of page) {
      // Times are compared as instants (stored times are ISO with a Z, but be exact anyway).
      if (Date.parse(e.time) >= since) {
        chunk += `${line(e)}\n`
        count++
      }
    }
    if (chunk) await write(out, chunk)
    const last = page[page.length - 1]?.seq
    if (last === undefined || last <= after) throw new AgwError('internal', 'the store returned events out of order')
    after = last
    if (page.length < limit) break
  }
  return count
}

/**
 * Opens the store a gateway config names (on the gateway host, gateway running or not; the config's
 * secret references are not resolved, export needs none of them) and exports from it.
 */
export async function exportFromConfig(configPath: string, opts: ExportOptions, out: Writable): Promise<number> {
  const { config } = loadConfig(configPath, { resolveSecrets: false })
  const store = openConfiguredStore(config)
  try {
    return await exportEvents(store, opts, out)
  } finally {
    await store.close()
  }
}
