/**
 * The machine's PostgreSQL as the benchmark's target: the `agwbench` database initialised by
 * `pgbench -i` at a small scale, and the bulk-read table. Both are kept between runs (creating
 * the bulk table writes about 1 GB) and rebuilt only when their size is not the one asked for.
 */
import type { Endpoint } from './pgbench.js'
import { pgEnv } from './pgbench.js'
import { runOk } from './proc.js'

export interface BulkTable {
  name: string
  rows: number
  /** Bytes of DataRow messages for `SELECT *` (type, length, column count, per column length + text). */
  dataRowBytes: number
  /** Bytes of CopyData messages for `COPY ... TO STDOUT` (text format: tab, newline). */
  copyDataBytes: number
}

/** Payload per row: 31 md5 hex strings, 992 bytes (stored inline: below the 2 kB TOAST threshold). */
const PAYLOAD_SQL = 'repeat(md5(i::text), 31)'

export function adminEndpoint(database: string): Endpoint {
  return {
    host: process.env.BENCH_PGHOST ?? '127.0.0.1',
    port: Number(process.env.BENCH_PGPORT ?? 5432),
    user: process.env.BENCH_PGUSER ?? 'postgres',
    database,
  }
}

/** Runs SQL with psql (no psqlrc, stop on error) and returns the unaligned, tuples-only output. */
export async function psql(e: Endpoint, sql: string, timeoutMs = 600_000): Promise<string> {
  const r = await runOk('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-h', e.host, '-p', String(e.port), '-U', e.user, '-d', e.database, '-c', sql], {
    env: pgEnv(e),
    timeoutMs,
  })
  return r.stdout.trim()
}

export async function serverVersion(e: Endpoint): Promise<string> {
  return psql(e, 'show server_version')
}

export async function ensureBenchDatabase(database: string, scale: number, say: (s: string) => void): Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(database)) throw new Error(`database name ${database} must be a plain lower-case identifier`)
  const admin = adminEndpoint('postgres')
  const exists = await psql(admin, `select 1 from pg_database where datname = '${database}'`)
  if (exists !== '1') {
    say(`creating database ${database}`)
    await psql(admin, `create database ${database}`)
  }
  const db = adminEndpoint(database)
  const initialised = (await psql(db, `select to_regclass('pgbench_branches') is not null and to_regclass('pgbench_accounts') is not null`)) === 't'
  const current = initialised ? await psql(db, 'select count(*) from pgbench_branches') : '0'
  if (Number(current) !== scale) {
    say(`pgbench -i -s ${scale} ${database} (the previous scale was ${current})`)
    await runOk('pgbench', ['-i', '-q', '-s', String(scale), '-h', db.host, '-p', String(db.port), '-U', db.user, database], { env: pgEnv(db), timeoutMs: 900_000 })
  }
}

export async function ensureBulkTable(database: string, rows: number, say: (s: string) => void): Promise<BulkTable> {
  const db = adminEndpoint(database)
  const name = `agw_bulk_${rows}`
  // The table's comment records that it was completed, with its size: {"rows": N, "textBytes": B}.
  const comment = await psql(db, `select coalesce(obj_description(to_regclass('${name}'), 'pg_class'), '')`)
  let meta: { rows?: number; textBytes?: number } = {}
  try {
    meta = comment ? (JSON.parse(comment) as typeof meta) : {}
  } catch {
    meta = {}
  }
  if (meta.rows !== rows || typeof meta.textBytes !== 'number') {
    say(`creating ${name}: ${rows} rows of about 1 kB (once; kept for later runs)`)
    await psql(db, `drop table if exists ${name}`)
    await psql(db, `create table ${name} as select i as id, ${PAYLOAD_SQL} as payload from generate_series(1, ${rows}) as i`, 1_800_000)
    // Sets hint bits and statistics now, so the first timed read does not write the table.
    await psql(db, `vacuum (analyze, freeze) ${name}`, 1_800_000)
    const [count, textBytes] = (await psql(db, `select count(*), sum(octet_length(id::text) + octet_length(payload)) from ${name}`)).split('|').map(Number)
    if (count !== rows || textBytes === undefined || !Number.isFinite(textBytes)) throw new Error(`${name} holds ${count} rows, expected ${rows}`)
    meta = { rows, textBytes }
    await psql(db, `comment on table ${name} is '${JSON.stringify(meta)}'`)
  }
  const textBytes = meta.textBytes as number
  return {
    name,
    rows,
    dataRowBytes: rows * (1 + 4 + 2 + 4 + 4) + textBytes,
    copyDataBytes: rows * (1 + 4 + 2) + textBytes,
  }
}

/**
 * Waits until the server has room for `clients` more connections (backends of a previous cell
 * still exiting, pgbouncer's idle server connections, other users of the machine's PostgreSQL).
 * Resolves with the milliseconds waited; rejects after `timeoutMs`.
 */
export async function waitForConnectionSlots(clients: number, timeoutMs = 30_000): Promise<number> {
  const admin = adminEndpoint('postgres')
  const started = Date.now()
  const sql = `select current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int - (select count(*) from pg_stat_activity where backend_type = 'client backend')`
  for (;;) {
    const free = Number(await psql(admin, sql, 10_000))
    // +2: the check itself, and a margin for whoever else uses this server.
    if (free >= clients + 2) return Date.now() - started
    if (Date.now() - started > timeoutMs) throw new Error(`PostgreSQL has ${free} free connection slots, ${clients + 2} are needed; raise max_connections or run with fewer clients`)
    await new Promise((r) => setTimeout(r, 200))
  }
}
