/**
 * One pgbench measurement: select-only (-S), a protocol (-M simple|prepared), N clients for a fixed
 * duration, with per-transaction logs (-l) from which the average and p99 latency are computed
 * over every transaction of every client. TPS is pgbench's own figure "without initial connection
 * time", so connection set-up (slower through a gateway) does not count against throughput.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { run } from './proc.js'
import { mean, percentileSorted } from './stats.js'

export type Protocol = 'simple' | 'prepared'

export interface Endpoint {
  host: string
  port: number
  user: string
  database: string
  /** Given to the client as PGPASSWORD (environment only, never on a command line or on disk). */
  password?: string
}

export interface PgbenchCell {
  protocol: Protocol
  clients: number
  durationSec: number
}

export interface PgbenchResult {
  tps: number
  transactions: number
  failed: number
  avgMs: number
  p50Ms: number
  p99Ms: number
  maxMs: number
  /** Set when pgbench did not finish cleanly; the other figures may then be partial or NaN. */
  error?: string
}

export interface PgbenchSummary {
  tps?: number
  transactions?: number
  failed?: number
  aborted: boolean
}

/** Reads the figures from pgbench's (PostgreSQL 13+) report on stdout. */
export function parsePgbenchSummary(stdout: string): PgbenchSummary {
  const num = (re: RegExp): number | undefined => {
    const m = re.exec(stdout)
    return m ? Number(m[1]) : undefined
  }
  const out: PgbenchSummary = { aborted: /Run was aborted/.test(stdout) }
  // "tps = 1234.567890 (without initial connection time)"; older releases printed two tps lines.
  const tps = num(/^tps = ([\d.]+) \(without initial connection time\)/m) ?? num(/^tps = ([\d.]+) \(excluding connections establishing\)/m)
  if (tps !== undefined) out.tps = tps
  const tx = num(/^number of transactions actually processed: (\d+)/m)
  if (tx !== undefined) out.transactions = tx
  const failed = num(/^number of failed transactions: (\d+)/m)
  if (failed !== undefined) out.failed = failed
  return out
}

/**
 * Appends the latencies (microseconds) of one per-transaction log to `into`.
 * Line format: client_id transaction_no time script_no time_epoch time_us [schedule_lag] [retries];
 * `time` is the transaction's latency in µs, or a word ("failed", "skipped") for ones that did not run.
 */
export function parseLatencyLog(text: string, into: number[]): void {
  let start = 0
  while (start < text.length) {
    let end = text.indexOf('\n', start)
    if (end < 0) end = text.length
    const line = text.slice(start, end)
    start = end + 1
    const a = line.indexOf(' ')
    const b = a < 0 ? -1 : line.indexOf(' ', a + 1)
    const c = b < 0 ? -1 : line.indexOf(' ', b + 1)
    if (c < 0) continue
    const us = Number(line.slice(b + 1, c))
    if (Number.isFinite(us)) into.push(us)
  }
}

export function latencyFigures(latenciesUs: number[]): Pick<PgbenchResult, 'avgMs' | 'p50Ms' | 'p99Ms' | 'maxMs'> {
  const sorted = Float64Array.from(latenciesUs).sort()
  return {
    avgMs: mean(sorted) / 1000,
    p50Ms: percentileSorted(sorted, 50) / 1000,
    p99Ms: percentileSorted(sorted, 99) / 1000,
    maxMs: sorted.length ? (sorted[sorted.length - 1] as number) / 1000 : Number.NaN,
  }
}

export function pgEnv(e: Endpoint): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PGSSLMODE: 'disable', PGAPPNAME: 'agw-bench', PGCONNECT_TIMEOUT: '30' }
  delete env.PGPASSWORD
  delete env.PGSERVICE
  if (e.password !== undefined) env.PGPASSWORD = e.password
  return env
}

export async function runPgbench(endpoint: Endpoint, cell: PgbenchCell, opts: { logDir: string; cores: number }): Promise<PgbenchResult> {
  rmSync(opts.logDir, { recursive: true, force: true })
  mkdirSync(opts.logDir, { recursive: true })
  const threads = Math.max(1, Math.min(cell.clients, opts.cores))
  const args = [
    '-n', // no VACUUM before the run (done once at set-up)
    '-S',
    '-M', cell.protocol,
    '-c', String(cell.clients),
    '-j', String(threads),
    '-T', String(cell.durationSec),
    '-l', '--log-prefix', join(opts.logDir, 'tx'),
    '-h', endpoint.host,
    '-p', String(endpoint.port),
    '-U', endpoint.user,
    endpoint.database,
  ]
  const r = await run('pgbench', args, { env: pgEnv(endpoint), timeoutMs: (cell.durationSec + 120) * 1000 })
  const summary = parsePgbenchSummary(`${r.stdout}\n${r.stderr}`)
  const latencies: number[] = []
  for (const f of readdirSync(opts.logDir)) parseLatencyLog(readFileSync(join(opts.logDir, f), 'utf8'), latencies)
  rmSync(opts.logDir, { recursive: true, force: true })
  const result: PgbenchResult = {
    tps: summary.tps ?? Number.NaN,
    transactions: summary.transactions ?? latencies.length,
    failed: summary.failed ?? 0,
    ...latencyFigures(latencies),
  }
  if (r.code !== 0 || summary.aborted || summary.tps === undefined) {
    const why = r.timedOut ? 'timed out' : r.signal ? `killed by ${r.signal}` : `exit ${r.code}`
    const detail = r.stderr.trim().split('\n').filter((l) => l.trim() !== '').slice(-3).join(' | ')
    result.error = `pgbench ${why}${detail ? `: ${detail}` : ''}`
  }
  return result
}
