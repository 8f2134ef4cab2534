/** Command-line flags and BENCH_* environment variables of `npm run bench`; flags win. */
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import type { BulkMethod } from './bulk.js'
import type { Protocol } from './pgbench.js'

export interface BenchOptions {
  quick: boolean
  /** Seconds per pgbench cell. */
  durationSec: number
  /** Seconds of unrecorded pgbench per configuration before the first cell (0: none). */
  warmupSec: number
  clients: number[]
  protocols: Protocol[]
  /** The whole matrix is repeated this many times; the report shows medians. */
  rounds: number
  /** Configuration ids to run (default: all in bench/configs.ts). */
  configs?: string[]
  pgbench: boolean
  bulk: boolean
  bulkRows: number
  bulkMethods: BulkMethod[]
  /** pgbench -i scale factor (100,000 pgbench_accounts rows per unit). */
  scale: number
  database: string
  /** Also profile the gateway and the agent for one extra cell (node --cpu-prof). */
  profile: boolean
  auditEvents: number
  /** Where the report goes. */
  out: string
  help: boolean
}

export const USAGE = `npm run bench [-- FLAGS]   (runs: npm run build && tsx bench/run.ts FLAGS)

  --quick               a one-minute smoke run (3 s cells, 1 and 8 clients, a 50,000-row bulk table);
                        writes bench/work/RESULTS-quick.md unless --out is given
  --duration SECONDS    per pgbench cell (BENCH_DURATION, default 15)
  --warmup SECONDS      unrecorded pgbench per configuration first (BENCH_WARMUP, default 3)
  --clients LIST        e.g. 1,8,32 (BENCH_CLIENTS)
  --protocols LIST      simple,prepared (BENCH_PROTOCOLS)
  --rounds N            repeat the matrix, report medians (BENCH_ROUNDS, default 1)
  --configs LIST        configuration ids from bench/configs.ts (BENCH_CONFIGS, default all)
  --skip-pgbench        no pgbench cells (bulk read only)
  --skip-bulk           no bulk read
  --bulk-rows N         rows of the bulk table, about 1 kB each (BENCH_BULK_ROWS, default 1000000)
  --bulk-methods LIST   select,copy (BENCH_BULK_METHODS)
  --scale N             pgbench -i scale (BENCH_SCALE, default 10)
  --profile             profile gateway and agent (node --cpu-prof) for one extra agw cell
  --audit-events N      events for bench/audit-verify.ts when it exists (BENCH_AUDIT_EVENTS)
  --out FILE            the report (BENCH_OUT, default bench/RESULTS.md)

The target PostgreSQL: BENCH_PGHOST (127.0.0.1), BENCH_PGPORT (5432), BENCH_PGUSER (postgres, trust),
database BENCH_DATABASE (agwbench; created and initialised when missing, kept afterwards).`

function list(text: string, what: string): string[] {
  const items = text.split(',').map((s) => s.trim()).filter((s) => s !== '')
  if (items.length === 0) throw new Error(`${what}: give a comma-separated list`)
  return items
}

function positiveInt(text: string, what: string, min = 1): number {
  const n = Number(text)
  if (!Number.isInteger(n) || n < min) throw new Error(`${what}: expected an integer >= ${min}, got "${text}"`)
  return n
}

function oneOf<T extends string>(items: string[], allowed: readonly T[], what: string): T[] {
  for (const i of items) if (!allowed.includes(i as T)) throw new Error(`${what}: "${i}" is not one of ${allowed.join(', ')}`)
  return items as T[]
}

export function parseOptions(argv: string[], env: NodeJS.ProcessEnv, benchDir: string): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      quick: { type: 'boolean' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      clients: { type: 'string' },
      protocols: { type: 'string' },
      rounds: { type: 'string' },
      configs: { type: 'string' },
      'skip-pgbench': { type: 'boolean' },
      'skip-bulk': { type: 'boolean' },
      'bulk-rows': { type: 'string' },
      'bulk-methods': { type: 'string' },
      scale: { type: 'string' },
      profile: { type: 'boolean' },
      'audit-events': { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  const quick = values.quick ?? false
  const pick = (flag: string | undefined, name: string, dflt: string): string => flag ?? env[name] ?? dflt
  const configs = values.configs ?? env.BENCH_CONFIGS
  const opts: BenchOptions = {
    quick,
    durationSec: positiveInt(pick(values.duration, 'BENCH_DURATION', quick ? '3' : '15'), '--duration'),
    warmupSec: positiveInt(pick(values.warmup, 'BENCH_WARMUP', quick ? '1' : '3'), '--warmup', 0),
    clients: list(pick(values.clients, 'BENCH_CLIENTS', quick ? '1,8' : '1,8,32'), '--clients').map((c) => positiveInt(c, '--clients')),
    protocols: oneOf(list(pick(values.protocols, 'BENCH_PROTOCOLS', 'simple,prepared'), '--protocols'), ['simple', 'prepared'] as const, '--protocols'),
    rounds: positiveInt(pick(values.rounds, 'BENCH_ROUNDS', '1'), '--rounds'),
    pgbench: !(values['skip-pgbench'] ?? false),
    bulk: !(values['skip-bulk'] ?? false),
    bulkRows: positiveInt(pick(values['bulk-rows'], 'BENCH_BULK_ROWS', quick ? '50000' : '1000000'), '--bulk-rows'),
    bulkMethods: oneOf(list(pick(values['bulk-methods'], 'BENCH_BULK_METHODS', 'select,copy'), '--bulk-methods'), ['select', 'copy'] as const, '--bulk-methods'),
    scale: positiveInt(pick(values.scale, 'BENCH_SCALE', '10'), '--scale'),
    database: env.BENCH_DATABASE ?? 'agwbench',
    profile: values.profile ?? false,
    auditEvents: positiveInt(pick(values['audit-events'], 'BENCH_AUDIT_EVENTS', quick ? '10000' : '100000'), '--audit-events'),
    out: pick(values.out, 'BENCH_OUT', join(benchDir, quick ? 'work/RESULTS-quick.md' : 'RESULTS.md')),
    help: values.help ?? false,
  }
  if (configs !== undefined) opts.configs = list(configs, '--configs')
  return opts
}
