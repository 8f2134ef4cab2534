/** The benchmark's results as data, and as bench/RESULTS.md. */
import type { BulkMethod, BulkResult } from './bulk.js'
import type { ProfileSummary } from './cpuprofile.js'
import type { PgbenchResult, Protocol } from './pgbench.js'
import type { ProcessUsage } from './procfs.js'
import type { BenchOptions } from './options.js'
import type { BenchConfig, Role } from '../targets/target.js'
import { median } from './stats.js'

export type Usage = Partial<Record<Role, ProcessUsage>>

export interface PgbenchCellResult {
  config: string
  protocol: Protocol
  clients: number
  round: number
  result: PgbenchResult
  usage: Usage
}

export interface BulkCellResult {
  config: string
  method: BulkMethod
  round: number
  rows: number
  result: BulkResult
  usage: Usage
}

export interface Machine {
  cpu: string
  cores: number
  memoryGb: number
  kernel: string
  node: string
  postgres: string
  pgbench: string
  pgbouncer: string
  agwCommit: string
  loadStart: number[]
  loadEnd?: number[]
}

export interface ProfileReport {
  cell: string
  gateway?: ProfileSummary
  agent?: ProfileSummary
  error?: string
}

export interface BenchReport {
  startedAt: string
  finishedAt?: string
  command: string
  options: BenchOptions
  machine: Machine
  configs: BenchConfig[]
  baseline: string
  ratioClients: number
  pgbench: PgbenchCellResult[]
  bulk: BulkCellResult[]
  /** Per configuration: what its processes reported when stopped (events recorded, odd exits). */
  notes: Record<string, string[]>
  auditVerify?: { events: number; eventsPerSecond: number; rates: Record<string, number> } | { skipped: string }
  /** The cost of each policy stage on the hot path, in-process (bench/policy-stages.ts). */
  policyStages?: Array<{ stage: string; microseconds: number; perSecond: number }>
  profile?: ProfileReport
  errors: string[]
}

const fmt = (n: number | undefined, digits = 0): string => (n === undefined || !Number.isFinite(n) ? '–' : n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }))

/** [peak RSS, CPU %] of one role over repeated cells; with `start`, the peak reads "peak (start)". */
function usageCells(usages: Usage[], role: Role, start = false): [string, string] {
  const u = usages.map((x) => x[role]).filter((x): x is ProcessUsage => x !== undefined)
  if (u.length === 0) return ['', '']
  const peak = Math.max(...u.map((x) => x.peakRssMb))
  const cpu = median(u.map((x) => x.cpuPercent))
  const approx = u.some((x) => !x.exactPeak) ? '~' : ''
  const from = start ? ` (${fmt(Math.min(...u.map((x) => x.startRssMb)))})` : ''
  return [`${approx}${fmt(peak)}${from}`, fmt(cpu)]
}

interface Summary {
  tps: number
  tpsRange: string
  avgMs: number
  p99Ms: number
  errors: string[]
  usages: Usage[]
}

function summarize(cells: PgbenchCellResult[]): Summary {
  const tps = cells.map((c) => c.result.tps)
  const finite = tps.filter(Number.isFinite)
  return {
    tps: median(tps),
    tpsRange: finite.length > 1 ? `${fmt(Math.min(...finite))}–${fmt(Math.max(...finite))}` : '',
    avgMs: median(cells.map((c) => c.result.avgMs)),
    p99Ms: median(cells.map((c) => c.result.p99Ms)),
    errors: cells.flatMap((c) => (c.result.error ? [c.result.error] : [])),
    usages: cells.map((c) => c.usage),
  }
}

function pgbenchSummary(r: BenchReport, config: string, protocol: Protocol, clients: number): Summary | undefined {
  const cells = r.pgbench.filter((c) => c.config === config && c.protocol === protocol && c.clients === clients)
  return cells.length ? summarize(cells) : undefined
}

function bulkSummary(r: BenchReport, config: string, method: BulkMethod) {
  const cells = r.bulk.filter((c) => c.config === config && c.method === method)
  if (!cells.length) return undefined
  return {
    rows: cells[0]?.rows ?? 0,
    megabytes: cells[0]?.result.megabytes ?? Number.NaN,
    seconds: median(cells.map((c) => c.result.seconds)),
    mbPerSec: median(cells.map((c) => c.result.mbPerSec)),
    errors: cells.flatMap((c) => (c.result.error ? [c.result.error] : [])),
    usages: cells.map((c) => c.usage),
  }
}

const ratio = (a: number | undefined, b: number | undefined): string => (a !== undefined && b !== undefined && Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${fmt((100 * a) / b)} %` : '–')

function table(head: string[], rows: string[][], align: ('l' | 'r')[]): string {
  const sep = align.map((a) => (a === 'r' ? '---:' : '---'))
  return [head, sep, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n')
}

function profileTable(title: string, s: ProfileSummary): string {
  const areas = table(['area', 'self ms', '% of busy'], s.areas.map((e) => [e.name, fmt(e.ms), fmt(e.percent, 1)]), ['l', 'r', 'r'])
  const fns = table(['function', 'self ms', '% of busy'], s.topFunctions.map((e) => [`\`${e.name}\``, fmt(e.ms), fmt(e.percent, 1)]), ['l', 'r', 'r'])
  return `#### ${title}: busy ${fmt(s.busyMs)} ms of ${fmt(s.wallMs)} ms profiled\n\nBy area (self time):\n\n${areas}\n\nTop functions (self time):\n\n${fns}`
}

export function renderMarkdown(r: BenchReport): string {
  const o = r.options
  const m = r.machine
  const label = (id: string) => r.configs.find((c) => c.id === id)?.label ?? id
  const out: string[] = []
  out.push('# agw benchmark results', '')
  out.push(`Run ${r.startedAt}${r.finishedAt ? ` to ${r.finishedAt}` : ''} with \`${r.command}\`${o.quick ? ' (**quick smoke run: short cells, small bulk table; do not quote these numbers**)' : ''}.`)
  out.push(`Each pgbench cell ran ${o.durationSec} s${o.rounds > 1 ? `, ${o.rounds} rounds (medians shown, TPS range of the rounds in brackets)` : ''}; configurations alternate cell by cell.`, '')

  out.push('## Machine', '')
  out.push(
    table(
      ['', ''],
      [
        ['CPU', `${m.cpu}, ${m.cores} cores`],
        ['memory', `${fmt(m.memoryGb, 1)} GB`],
        ['kernel', m.kernel],
        ['Node.js', m.node],
        ['PostgreSQL', m.postgres],
        ['pgbench', m.pgbench],
        ['pgbouncer', m.pgbouncer],
        ['agw', m.agwCommit],
        ['load average (1/5/15 min) at start', m.loadStart.map((x) => x.toFixed(2)).join(' / ')],
        ...(m.loadEnd ? [['load average at end', m.loadEnd.map((x) => x.toFixed(2)).join(' / ')]] : []),
      ],
      ['l', 'l'],
    ),
    '',
  )

  out.push('## Configurations', '')
  for (const c of r.configs) out.push(`- **${c.label}** (\`${c.id}\`): ${c.description}`)
  out.push('')

  if (r.pgbench.length) {
    out.push(`## pgbench select-only (\`-S\`, scale ${o.scale})`, '')
    const rows: string[][] = []
    for (const protocol of o.protocols) {
      for (const clients of o.clients) {
        for (const c of r.configs) {
          const s = pgbenchSummary(r, c.id, protocol, clients)
          if (!s) continue
          const [proxyRss, proxyCpu] = usageCells(s.usages, 'proxy')
          const [agentRss, agentCpu] = usageCells(s.usages, 'agent')
          const tps = s.errors.length ? `${fmt(s.tps)} ⚠` : fmt(s.tps)
          rows.push([protocol, String(clients), c.label, s.tpsRange ? `${tps} (${s.tpsRange})` : tps, fmt(s.avgMs, 3), fmt(s.p99Ms, 3), proxyRss, proxyCpu, agentRss, agentCpu])
        }
      }
    }
    out.push(
      table(
        ['protocol', 'clients', 'configuration', 'TPS', 'avg ms', 'p99 ms', 'proxy peak RSS MB', 'proxy CPU %', 'agent peak RSS MB', 'agent CPU %'],
        rows,
        ['l', 'r', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
      ),
      '',
    )

    const agws = r.configs.filter((c) => c.kind === 'agw')
    if (agws.length && o.clients.includes(r.ratioClients)) {
      out.push(`### agw compared at ${r.ratioClients} clients`, '')
      const ratioRows: string[][] = []
      for (const c of agws) {
        for (const protocol of o.protocols) {
          const a = pgbenchSummary(r, c.id, protocol, r.ratioClients)
          const b = pgbenchSummary(r, r.baseline, protocol, r.ratioClients)
          const d = pgbenchSummary(r, 'direct', protocol, r.ratioClients)
          ratioRows.push([c.label, protocol, ratio(a?.tps, b?.tps), ratio(a?.tps, d?.tps), ratio(a?.p99Ms, b?.p99Ms)])
        }
      }
      out.push(table(['configuration', 'protocol', `TPS / ${label(r.baseline)}`, 'TPS / direct', `p99 / ${label(r.baseline)}`], ratioRows, ['l', 'l', 'r', 'r', 'r']), '')
    }
  }

  if (r.bulk.length) {
    const rows = r.bulk[0]?.rows ?? 0
    out.push(`## Bulk read (${fmt(rows)} rows of about 1 kB)`, '')
    const bulkRows: string[][] = []
    for (const method of o.bulkMethods) {
      const direct = bulkSummary(r, 'direct', method)
      for (const c of r.configs) {
        const s = bulkSummary(r, c.id, method)
        if (!s) continue
        const [proxyRss, proxyCpu] = usageCells(s.usages, 'proxy', true)
        const [agentRss, agentCpu] = usageCells(s.usages, 'agent', true)
        bulkRows.push([
          method === 'select' ? 'SELECT (DataRow)' : 'COPY TO STDOUT (CopyData)',
          c.label,
          fmt(s.megabytes),
          `${fmt(s.seconds, 2)}${s.errors.length ? ' ⚠' : ''}`,
          fmt(s.mbPerSec),
          ratio(s.mbPerSec, direct?.mbPerSec),
          proxyRss,
          proxyCpu,
          agentRss,
          agentCpu,
        ])
      }
    }
    out.push(
      table(
        ['method', 'configuration', 'MB on the wire', 'wall s', 'MB/s', '/ direct', 'proxy peak RSS MB (at start)', 'proxy CPU %', 'agent peak RSS MB (at start)', 'agent CPU %'],
        bulkRows,
        ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
      ),
      '',
    )
  }

  if (r.auditVerify) {
    out.push('## Audit verify', '')
    if ('skipped' in r.auditVerify) out.push(`Skipped: ${r.auditVerify.skipped}.`, '')
    else {
      const a = r.auditVerify
      const others = Object.entries(a.rates).filter(([k]) => k !== 'eventsPerSecond' && k !== 'verifyEventsPerSecond')
      out.push(`\`benchAuditVerify(${fmt(a.events)})\` (bench/audit-verify.ts): **${fmt(a.eventsPerSecond)} events/s verified**${others.map(([k, v]) => `; ${k}: ${fmt(v)}`).join('')}.`, '')
    }
  }

  if (r.policyStages?.length) {
    out.push('## Policy stages on the hot path', '')
    out.push('In-process, no sockets (bench/policy-stages.ts): what each stage costs per statement or per row, so the next optimisation is aimed. A statement seen before costs an LRU lookup, not a parse.', '')
    out.push('| stage | µs per operation | operations/s |', '| --- | ---: | ---: |')
    for (const st of r.policyStages) out.push(`| ${st.stage} | ${fmt(st.microseconds, 2)} | ${fmt(st.perSecond)} |`)
    out.push('')
  }

  if (r.profile) {
    out.push(`## Where the time goes (CPU profile of ${r.profile.cell})`, '')
    out.push('V8 sampling profiles (`node --cpu-prof`) of the gateway and the local agent, taken in an extra cell after the measured ones (profiling slows them a little; the cell is not in the tables above). Self time: time spent in the function itself, not in what it calls.', '')
    if (r.profile.error) out.push(`Profile incomplete: ${r.profile.error}`, '')
    if (r.profile.gateway) out.push(profileTable('gateway', r.profile.gateway), '')
    if (r.profile.agent) out.push(profileTable('local agent (agw connect)', r.profile.agent), '')
  }

  const notes = Object.entries(r.notes).filter(([, n]) => n.length)
  if (notes.length || r.errors.length) {
    out.push('## Notes from this run', '')
    for (const [id, n] of notes) for (const line of n) out.push(`- ${label(id)}: ${line}`)
    for (const c of [...r.pgbench, ...r.bulk]) {
      if (c.result.error) out.push(`- ⚠ ${label(c.config)}, ${'protocol' in c ? `${c.protocol} ${c.clients} clients` : `bulk ${c.method}`}, round ${c.round}: ${c.result.error}`)
    }
    for (const e of r.errors) out.push(`- ⚠ ${e}`)
    out.push('')
  }

  out.push('## How to read this', '')
  out.push(
    [
      '- **Everything shares one machine.** pgbench, psql, PostgreSQL, pgbouncer, the gateway and the local agent all run on the same cores. Through agw a query crosses two extra Node.js processes (agent and gateway) that compete with pgbench and PostgreSQL for CPU, so at high client counts the figures measure CPU per transaction more than network latency. On separate hosts agw gains relative to this; pgbouncer gains less (it is already cheap).',
      '- **Noise.** Anything else running on the machine (see the load average) moves the numbers. Configurations alternate cell by cell so drift hits all of them alike; compare configurations within one run, not across runs. Use `--rounds 3` for medians and a range.',
      '- **TPS** is pgbench\'s figure without initial connection time (connecting through agw costs a WebSocket, a token check and a target login per connection, which this excludes). **avg / p99 ms** are computed from pgbench\'s per-transaction logs (`-l`) over every transaction of every client; p99 is nearest-rank.',
      '- **Peak RSS** is per cell: the kernel\'s high-water mark (VmHWM) after resetting it (`/proc/PID/clear_refs`) at the start of the cell, combined with 100 ms samples of VmRSS; `~` marks figures from sampling only. **CPU %** is user+system time over the cell\'s wall time, in percent of one core (200 % = both cores of a 2-core machine). "proxy" is the gateway for agw and pgbouncer itself for pgbouncer; "agent" is `agw connect`.',
      '- **The bulk read** is one psql per path and method, wall time including connection set-up. `SELECT` streams DataRow messages, psql holds the result in its own memory (the same for every path); `COPY TO STDOUT` streams CopyData, which psql writes out as it goes. MB are 10^6 bytes of protocol messages (computed from the table, identical for every path). The RSS when the read began is in brackets: a peak close to it means results stream through rather than being buffered.',
      '- **Recording is on** for agw: every query and its first rows are written to the gateway\'s SQLite store (see the notes for what each gateway recorded).',
      '- A ⚠ marks a cell whose client reported an error; see the notes. Performance is measured, never asserted: no figure here fails a build.',
    ].join('\n'),
    '',
  )
  return out.join('\n')
}
