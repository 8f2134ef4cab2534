/**
 * `npm run bench`: pgbench select-only and a bulk read, directly, through agw and through
 * pgbouncer, alternating between them cell by cell in one run; writes bench/RESULTS.md.
 * See docs/benchmarks.md for what is measured and how, and `--help` for the flags.
 */
import { randomBytes } from 'node:crypto'
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus, loadavg, release, tmpdir, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { startIssuer, type RunningIssuer } from '../src/demo/issuer.js'
import { BASELINE, CONFIGS, RATIO_CLIENTS } from './configs.js'
import { runBulk, type BulkMethod } from './lib/bulk.js'
import { readProfile, summarizeProfile } from './lib/cpuprofile.js'
import { parseOptions, USAGE, type BenchOptions } from './lib/options.js'
import { runPgbench, type PgbenchCell, type Protocol } from './lib/pgbench.js'
import { adminEndpoint, ensureBenchDatabase, ensureBulkTable, psql, serverVersion, waitForConnectionSlots, type BulkTable } from './lib/postgres.js'
import { run, signalAll, stopAll } from './lib/proc.js'
import { UsageMonitor } from './lib/procfs.js'
import { renderMarkdown, type BenchReport, type Machine, type ProfileReport, type Usage } from './lib/report.js'
import { AGENT_GROUP, startAgw, type AgwContext } from './targets/agw.js'
import { startDirect } from './targets/direct.js'
import { pgbouncerVersion, startPgbouncer } from './targets/pgbouncer.js'
import type { BenchConfig, RunningTarget } from './targets/target.js'

const BENCH_DIR = dirname(fileURLToPath(import.meta.url))
const ROOT = join(BENCH_DIR, '..')
const WORK_DIR = join(BENCH_DIR, 'work')
const AUDIENCE = 'agw-bench'

const say = (s: string) => process.stderr.write(`bench: ${s}\n`)
const fmt = (n: number, d = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: d }) : '–')
const message = (err: unknown) => (err instanceof Error ? err.message : String(err))

let aborted = false
function checkAborted(): void {
  if (aborted) throw new Error('interrupted')
}

function selectConfigs(opts: BenchOptions): BenchConfig[] {
  if (!opts.configs) return CONFIGS
  const unknown = opts.configs.filter((id) => !CONFIGS.some((c) => c.id === id))
  if (unknown.length) throw new Error(`--configs: no configuration ${unknown.join(', ')} (have: ${CONFIGS.map((c) => c.id).join(', ')})`)
  return CONFIGS.filter((c) => opts.configs?.includes(c.id))
}

async function preflight(configs: BenchConfig[]): Promise<void> {
  const missing: string[] = []
  for (const tool of ['psql', 'pgbench']) if ((await run(tool, ['--version'])).code !== 0) missing.push(`${tool} (apt-get install -y postgresql-client postgresql-contrib)`)
  if (configs.some((c) => c.kind === 'pgbouncer') && (await run('pgbouncer', ['--version'])).code !== 0) missing.push('pgbouncer (apt-get install -y pgbouncer)')
  if (missing.length) throw new Error(`missing tools: ${missing.join('; ')}`)
  if (configs.some((c) => c.kind === 'agw') && !existsSync(join(ROOT, 'dist', 'commands'))) {
    throw new Error('the CLI is not built: run `npm run build` first (`npm run bench` does it)')
  }
}

async function machineFacts(): Promise<Machine> {
  const git = await run('git', ['-C', ROOT, 'describe', '--always', '--dirty'])
  const pgbench = await run('pgbench', ['--version'])
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    memoryGb: totalmem() / 1024 ** 3,
    kernel: release(),
    node: process.version,
    postgres: await serverVersion(adminEndpoint('postgres')),
    pgbench: pgbench.stdout.trim(),
    pgbouncer: await pgbouncerVersion(),
    agwCommit: git.code === 0 ? git.stdout.trim() : 'unknown',
    loadStart: loadavg(),
  }
}

/** Runs `work` while watching the target's processes. */
async function measure<T>(target: RunningTarget, work: () => Promise<T>): Promise<{ result: T; usage: Usage }> {
  const monitor = new UsageMonitor(target.processes)
  monitor.start()
  try {
    const result = await work()
    return { result, usage: Object.fromEntries(monitor.stop()) }
  } catch (err) {
    monitor.stop()
    throw err
  }
}

/** The targets in a different order for each cell, so that no configuration always goes first. */
function rotate<T>(items: T[], by: number): T[] {
  const k = by % items.length
  return [...items.slice(k), ...items.slice(0, k)]
}

function usageText(u: Usage): string {
  const parts: string[] = []
  if (u.proxy) parts.push(`proxy ${fmt(u.proxy.peakRssMb)} MB ${fmt(u.proxy.cpuPercent)}% CPU`)
  if (u.agent) parts.push(`agent ${fmt(u.agent.peakRssMb)} MB ${fmt(u.agent.cpuPercent)}% CPU`)
  return parts.length ? `, ${parts.join(', ')}` : ''
}

async function startTarget(config: BenchConfig, opts: BenchOptions, dir: string, agw: Omit<AgwContext, 'dir' | 'database'>): Promise<RunningTarget> {
  switch (config.kind) {
    case 'direct':
      return startDirect(config, opts.database)
    case 'pgbouncer':
      return startPgbouncer(config, { dir, database: opts.database, maxClients: Math.max(...opts.clients, 8) })
    case 'agw':
      return startAgw(config, { ...agw, dir, database: opts.database, ...(process.env.BENCH_PROFILE_DIR ? { profileDir: process.env.BENCH_PROFILE_DIR } : {}) })
  }
}

/**
 * The audit-verify throughput line, from bench/audit-verify.ts when it exists. The agreed shape is
 * `benchAuditVerify(n): Promise<{ eventsPerSecond }>`; `verifyEventsPerSecond` is read as the same,
 * and every other `...PerSecond` figure it returns is reported beside it.
 */
async function auditVerify(opts: BenchOptions, report: BenchReport): Promise<void> {
  const file = join(BENCH_DIR, 'audit-verify.ts')
  if (!existsSync(file)) {
    report.auditVerify = { skipped: 'bench/audit-verify.ts does not exist yet' }
    return
  }
  try {
    const mod = (await import(pathToFileURL(file).href)) as { benchAuditVerify?: (n: number) => Promise<Record<string, unknown>> }
    if (typeof mod.benchAuditVerify !== 'function') throw new Error('bench/audit-verify.ts does not export benchAuditVerify(n)')
    say(`audit verify over ${fmt(opts.auditEvents)} events`)
    const r = await mod.benchAuditVerify(opts.auditEvents)
    const rates: Record<string, number> = {}
    for (const [k, v] of Object.entries(r)) if (/PerSecond$/.test(k) && typeof v === 'number') rates[k] = v
    const verify = rates['eventsPerSecond'] ?? rates['verifyEventsPerSecond']
    if (verify === undefined) throw new Error(`benchAuditVerify returned no eventsPerSecond (got ${Object.keys(r).join(', ')})`)
    report.auditVerify = { events: opts.auditEvents, eventsPerSecond: verify, rates }
    if (r['ok'] === false) report.errors.push('audit verify: benchAuditVerify reported ok: false (the chain did not verify)')
    say(`audit verify: ${Object.entries(rates).map(([k, v]) => `${k} ${fmt(v)}`).join(', ')}`)
  } catch (err) {
    report.errors.push(`audit verify: ${message(err)}`)
  }
}

/** One extra agw cell with the gateway and the agent under `node --cpu-prof`. */
async function profileCell(opts: BenchOptions, configs: BenchConfig[], dir: string, agw: Omit<AgwContext, 'dir' | 'database'>, stamp: string): Promise<ProfileReport | undefined> {
  const base = configs.find((c) => c.kind === 'agw')
  if (!base) return undefined
  const protocol: Protocol = opts.protocols.includes('prepared') ? 'prepared' : (opts.protocols[0] as Protocol)
  const clients = opts.clients.includes(RATIO_CLIENTS) ? RATIO_CLIENTS : Math.max(...opts.clients)
  const cell: PgbenchCell = { protocol, clients, durationSec: opts.durationSec }
  const profileDir = join(WORK_DIR, 'profiles', stamp)
  mkdirSync(profileDir, { recursive: true })
  const config: BenchConfig = { ...base, id: `${base.id}-profile` }
  const report: ProfileReport = { cell: `${base.label}, pgbench ${protocol} ${clients} clients, ${opts.durationSec} s` }
  say(`profiling: ${report.cell}`)
  const target = await startAgw(config, { ...agw, dir, database: opts.database, profileDir })
  try {
    const r = await runPgbench(target.endpoint, cell, { logDir: join(dir, 'pgbench-log'), cores: availableParallelism() })
    report.cell += ` (${fmt(r.tps)} TPS while profiled)`
    if (r.error) report.error = r.error
  } finally {
    await target.stop()
  }
  for (const [role, key] of [
    ['gateway', 'gateway'],
    ['agent', 'agent'],
  ] as const) {
    const file = join(profileDir, `${key}-${config.id}.cpuprofile`)
    if (existsSync(file)) report[role] = summarizeProfile(readProfile(file))
    else report.error = `${report.error ? `${report.error}; ` : ''}no profile written for the ${role} (${file})`
  }
  say(`profiles in ${profileDir}`)
  return report
}

function keepLogs(dir: string, stamp: string): void {
  const dest = join(WORK_DIR, 'logs', stamp)
  try {
    for (const sub of readdirSync(dir)) {
      const log = join(dir, sub, 'gateway.log')
      if (!existsSync(log)) continue
      mkdirSync(dest, { recursive: true })
      copyFileSync(log, join(dest, `${sub}.log`))
    }
  } catch {
    // logs are a convenience
  }
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2)
  let opts: BenchOptions
  let configs: BenchConfig[]
  try {
    opts = parseOptions(argv, process.env, BENCH_DIR)
    configs = selectConfigs(opts)
  } catch (err) {
    say(message(err))
    process.stderr.write(`${USAGE}\n`)
    return 65
  }
  if (opts.help) {
    process.stdout.write(`${USAGE}\n`)
    return 0
  }
  await preflight(configs)

  const stamp = new Date().toISOString().replace(/[:.]/g, '-')
  const cellCount = opts.pgbench ? configs.length * opts.protocols.length * opts.clients.length * opts.rounds : 0
  const estimate = cellCount * (opts.durationSec + 1.5) + configs.length * opts.warmupSec + (opts.bulk ? configs.length * opts.bulkMethods.length * opts.rounds * (opts.bulkRows / 1e6) * 15 : 0)
  say(`${cellCount} pgbench cells of ${opts.durationSec} s over ${configs.map((c) => c.id).join(', ')}; about ${estimate < 120 ? `${Math.ceil(estimate / 10) * 10} s` : `${Math.ceil(estimate / 60)} min`}`)

  const dir = mkdtempSync(join(tmpdir(), 'agw-bench-'))
  chmodSync(dir, 0o711) // pgbouncer, run as the postgres user, reaches its own folder inside
  const targets: RunningTarget[] = []
  let issuer: RunningIssuer | undefined
  const report: BenchReport = {
    startedAt: new Date().toISOString(),
    command: `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`,
    options: opts,
    machine: { cpu: '', cores: 0, memoryGb: 0, kernel: '', node: '', postgres: '', pgbench: '', pgbouncer: '', agwCommit: '', loadStart: [] },
    configs,
    baseline: BASELINE,
    ratioClients: RATIO_CLIENTS,
    pgbench: [],
    bulk: [],
    notes: {},
    errors: [],
  }
  const onSignal = (sig: NodeJS.Signals) => {
    if (aborted) return
    aborted = true
    say(`${sig}: stopping`)
    signalAll('SIGINT')
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  let failure: unknown
  try {
    report.machine = await machineFacts()
    say(`PostgreSQL ${report.machine.postgres}, ${report.machine.cores} cores, load ${report.machine.loadStart.map((x) => x.toFixed(2)).join(' ')}`)
    await ensureBenchDatabase(opts.database, opts.scale, say)
    await psql(adminEndpoint(opts.database), 'vacuum analyze pgbench_accounts, pgbench_branches, pgbench_tellers, pgbench_history')
    let bulkTable: BulkTable | undefined
    if (opts.bulk) bulkTable = await ensureBulkTable(opts.database, opts.bulkRows, say)
    checkAborted()

    const agentClient = { id: 'agw-bench-agent', secret: randomBytes(24).toString('base64url') }
    issuer = await startIssuer({
      audience: AUDIENCE,
      users: [],
      clients: [{ clientId: agentClient.id, clientSecret: agentClient.secret, groups: [AGENT_GROUP], grants: ['client_credentials'] }],
      accessTokenTtlSec: 12 * 3600,
    })
    const agwCtx = { issuer, client: agentClient }
    for (const c of configs) {
      say(`starting ${c.label}`)
      targets.push(await startTarget(c, opts, dir, agwCtx))
      checkAborted()
    }

    const cores = availableParallelism()
    const logDir = join(dir, 'pgbench-log')
    if (opts.pgbench && opts.warmupSec > 0) {
      for (const t of targets) {
        say(`warm-up: ${t.config.label}, ${opts.warmupSec} s`)
        const w = await runPgbench(t.endpoint, { protocol: 'prepared', clients: 8, durationSec: opts.warmupSec }, { logDir, cores })
        if (w.error) report.errors.push(`warm-up of ${t.config.label}: ${w.error}`)
        checkAborted()
      }
    }

    let index = 0
    const total = cellCount
    for (let round = 1; round <= opts.rounds; round++) {
      for (const protocol of opts.pgbench ? opts.protocols : []) {
        for (const clients of opts.clients) {
          for (const t of rotate(targets, index)) {
            checkAborted()
            const cell: PgbenchCell = { protocol, clients, durationSec: opts.durationSec }
            const waited = await waitForConnectionSlots(clients)
            if (waited > 1000) say(`waited ${fmt(waited / 1000, 1)} s for free PostgreSQL connection slots`)
            const { result, usage } = await measure(t, () => runPgbench(t.endpoint, cell, { logDir, cores }))
            report.pgbench.push({ config: t.config.id, protocol, clients, round, result, usage })
            const n = report.pgbench.length
            say(
              `[${n}/${total}] ${protocol} ${clients}c ${t.config.label}: ${fmt(result.tps)} TPS, avg ${fmt(result.avgMs, 3)} ms, p99 ${fmt(result.p99Ms, 3)} ms${usageText(usage)}${result.error ? ` ⚠ ${result.error}` : ''}`,
            )
          }
          index++
        }
      }

      if (bulkTable) {
        // Untimed: bring the table into the page cache so the first timed read is not the cold one.
        if (round === 1) await psql(adminEndpoint(opts.database), `select count(*) from ${bulkTable.name}`)
        for (const method of opts.bulkMethods as BulkMethod[]) {
          for (const t of rotate(targets.filter((x) => x.config.bulk !== false), index++)) {
            checkAborted()
            const table = bulkTable
            const { result, usage } = await measure(t, () => runBulk(t.endpoint, table, method))
            report.bulk.push({ config: t.config.id, method, round, rows: table.rows, result, usage })
            say(`bulk ${method} ${t.config.label}: ${fmt(result.megabytes)} MB in ${fmt(result.seconds, 2)} s = ${fmt(result.mbPerSec)} MB/s${usageText(usage)}${result.error ? ` ⚠ ${result.error}` : ''}`)
          }
        }
      }
    }

    await auditVerify(opts, report)
    try {
      say('policy stage costs')
      const { policyStageCosts } = await import('./policy-stages.js')
      report.policyStages = await policyStageCosts(opts.quick ? 0.1 : 1)
    } catch (err) {
      report.errors.push(`policy stages: ${message(err)}`)
    }
    if (opts.profile) {
      checkAborted()
      try {
        const p = await profileCell(opts, configs, dir, agwCtx, stamp)
        if (p) report.profile = p
      } catch (err) {
        report.errors.push(`profile: ${message(err)}`)
      }
    }
  } catch (err) {
    failure = err
  } finally {
    for (const t of targets) {
      try {
        report.notes[t.config.id] = await t.stop()
      } catch (err) {
        report.errors.push(`stopping ${t.config.label}: ${message(err)}`)
      }
    }
    await issuer?.close().catch(() => undefined)
    await stopAll()
    keepLogs(dir, stamp)
    rmSync(dir, { recursive: true, force: true })
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }

  report.finishedAt = new Date().toISOString()
  report.machine.loadEnd = loadavg()
  mkdirSync(WORK_DIR, { recursive: true })
  writeFileSync(join(WORK_DIR, `results-${stamp}.json`), `${JSON.stringify(report, null, 2)}\n`)
  if (failure !== undefined) {
    report.errors.push(`the run stopped early: ${message(failure)}`)
    const partial = join(WORK_DIR, 'RESULTS-partial.md')
    writeFileSync(partial, renderMarkdown(report))
    say(`failed: ${message(failure)}; partial results in ${partial}`)
    return aborted ? 130 : 1
  }
  mkdirSync(dirname(opts.out), { recursive: true })
  writeFileSync(opts.out, renderMarkdown(report))
  say(`wrote ${opts.out}`)
  return 0
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    say(message(err))
    void stopAll().finally(() => process.exit(1))
  },
)
