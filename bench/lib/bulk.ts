/**
 * The bulk read: the whole bulk table through one path, with psql, output thrown away.
 *
 * - `select`: `SELECT * FROM t` with `-o /dev/null`: one query whose result streams as about a
 *   million DataRow messages without a pause (the gateway's per-message path and its flow control).
 *   psql (libpq) holds the whole result in its own memory before printing it, the same for every
 *   path; that client cost is part of the wall time.
 * - `copy`: `\copy (SELECT * FROM t) TO /dev/null`, i.e. `COPY ... TO STDOUT`: CopyData messages,
 *   which psql writes out as they arrive (the COPY OUT path, which masking must also cover).
 *
 * Throughput is wire bytes of those messages (computed from the table, see postgres.ts) per second
 * of psql's wall time, connection set-up included; MB = 10^6 bytes.
 */
import type { Endpoint } from './pgbench.js'
import { pgEnv } from './pgbench.js'
import type { BulkTable } from './postgres.js'
import { run } from './proc.js'

export type BulkMethod = 'select' | 'copy'

export interface BulkResult {
  seconds: number
  megabytes: number
  mbPerSec: number
  error?: string
}

export function bulkArgs(e: Endpoint, table: BulkTable, method: BulkMethod): string[] {
  const conn = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', e.host, '-p', String(e.port), '-U', e.user, '-d', e.database]
  if (method === 'select') return [...conn, '-At', '-o', '/dev/null', '-c', `select * from ${table.name}`]
  return [...conn, '-c', `\\copy (select * from ${table.name}) to '/dev/null'`]
}

export async function runBulk(e: Endpoint, table: BulkTable, method: BulkMethod, timeoutMs = 900_000): Promise<BulkResult> {
  const r = await run('psql', bulkArgs(e, table, method), { env: pgEnv(e), timeoutMs })
  const seconds = r.ms / 1000
  const megabytes = (method === 'select' ? table.dataRowBytes : table.copyDataBytes) / 1e6
  const out: BulkResult = { seconds, megabytes, mbPerSec: megabytes / seconds }
  if (r.code !== 0) {
    const why = r.timedOut ? 'timed out' : r.signal ? `killed by ${r.signal}` : `exit ${r.code}`
    out.error = `psql ${why}: ${r.stderr.trim().split('\n').slice(-2).join(' | ')}`
    out.mbPerSec = Number.NaN
  }
  return out
}
