/**
 * The benchmark's readers of other programs' output (bench/): pgbench's report and per-transaction
 * logs, /proc status and stat, V8 CPU profiles, and the SCRAM verifier written for pgbouncer.
 * Fixtures are real output of pgbench 15 and PostgreSQL 15.
 */
import { describe, expect, it } from 'vitest'
import { areaOf, summarizeProfile, type CpuProfile } from '../../../bench/lib/cpuprofile.js'
import { latencyFigures, parseLatencyLog, parsePgbenchSummary } from '../../../bench/lib/pgbench.js'
import { parseCpuSeconds, parseStatus } from '../../../bench/lib/procfs.js'
import { median, percentileSorted } from '../../../bench/lib/stats.js'
import { pgbouncerIni, scramVerifier } from '../../../bench/targets/pgbouncer.js'

const PGBENCH_15 = `pgbench (15.20 (Debian 15.20-0+deb12u1))
transaction type: <builtin: select only>
scaling factor: 10
query mode: prepared
number of clients: 2
number of threads: 2
maximum number of tries: 1
duration: 1 s
number of transactions actually processed: 18410
number of failed transactions: 0 (0.000%)
latency average = 0.108 ms
initial connection time = 9.225 ms
tps = 18534.458891 (without initial connection time)
`

describe('pgbench report', () => {
  it('gives TPS without connection time, transactions and failures', () => {
    expect(parsePgbenchSummary(PGBENCH_15)).toEqual({ tps: 18534.458891, transactions: 18410, failed: 0, aborted: false })
  })

  it('notices an aborted run (pgbench prints it on stderr)', () => {
    const out = `${PGBENCH_15}\npgbench: error: Run was aborted; the above results are incomplete.\n`
    expect(parsePgbenchSummary(out).aborted).toBe(true)
  })

  it('has no TPS when pgbench could not connect', () => {
    const s = parsePgbenchSummary('pgbench: error: connection to server at "127.0.0.1", port 1 failed: Connection refused\n')
    expect(s.tps).toBeUndefined()
  })
})

describe('pgbench per-transaction log', () => {
  it('reads the latency column (µs) of every line, skipping failed transactions and blank lines', () => {
    const into: number[] = []
    parseLatencyLog('0 1 3654 0 1795672974 861002\n0 2 99 0 1795672974 861109\n1 3 failed 0 1795672974 862000\n\n', into)
    parseLatencyLog('1 1 1067 0 1795672974 858399', into)
    expect(into).toEqual([3654, 99, 1067])
  })

  it('gives average and nearest-rank p99 in ms over all clients', () => {
    const us = Array.from({ length: 1000 }, (_, i) => (i + 1) * 10) // 10 µs .. 10 ms
    const f = latencyFigures(us.reverse())
    expect(f.avgMs).toBeCloseTo(5.005, 6)
    expect(f.p99Ms).toBe(9.9)
    expect(f.p50Ms).toBe(5)
    expect(f.maxMs).toBe(10)
  })

  it('is NaN, not zero, without samples', () => {
    expect(latencyFigures([]).p99Ms).toBeNaN()
  })
})

describe('stats', () => {
  it('nearest-rank percentiles', () => {
    expect(percentileSorted([1, 2, 3, 4], 50)).toBe(2)
    expect(percentileSorted([1, 2, 3, 4], 99)).toBe(4)
    expect(percentileSorted([7], 99)).toBe(7)
  })

  it('median ignores failed (NaN) rounds', () => {
    expect(median([3, Number.NaN, 1, 2])).toBe(2)
    expect(median([1, 2, 3, 4])).toBe(2.5)
    expect(median([Number.NaN])).toBeNaN()
  })
})

describe('/proc', () => {
  it('reads VmRSS and VmHWM from status', () => {
    const status = 'Name:\tnode\nVmPeak:\t 1234 kB\nVmHWM:\t  153600 kB\nVmRSS:\t  102400 kB\nThreads:\t11\n'
    expect(parseStatus(status)).toEqual({ rssKb: 102400, hwmKb: 153600 })
    expect(parseStatus('Name:\tzombie\n')).toBeUndefined()
  })

  it('reads utime + stime from stat, even when the command name holds spaces and parentheses', () => {
    const stat = '4242 (node (agw) x) S 1 4242 4242 0 -1 4194560 5000 0 0 0 250 50 0 0 20 0 11 0 100 1000000 25000'
    expect(parseCpuSeconds(stat)).toBe(3)
  })
})

describe('pgbouncer set-up', () => {
  it('writes the SCRAM verifier PostgreSQL itself stores for the same password and salt', () => {
    // From PostgreSQL 15: SET password_encryption = 'scram-sha-256'; CREATE ROLE ... PASSWORD 'pencil'
    const fromPostgres = 'SCRAM-SHA-256$4096:0z00e5QD9+4+op5jmC2h9Q==$0Y0+FayiDb0tCDuxYbk+6l3AACY85mXAz0XSOJ3UjAA=:mgfiGqhk/LdPDsjv71SnFgIN1SK1ghnAaEma/p3/EF4='
    expect(scramVerifier('pencil', Buffer.from('0z00e5QD9+4+op5jmC2h9Q==', 'base64'))).toBe(fromPostgres)
  })

  it('a random salt each time, and never the password itself', () => {
    const a = scramVerifier('secret-password')
    expect(a).not.toBe(scramVerifier('secret-password'))
    expect(a).not.toContain('secret-password')
  })

  it('ini: session pooling on loopback, no unix socket, a pool as large as the most clients', () => {
    const ini = pgbouncerIni({ port: 40001, database: 'agwbench', server: { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'agwbench' }, authFile: '/tmp/x/userlist.txt', maxClients: 32 })
    expect(ini).toContain('agwbench = host=127.0.0.1 port=5432 dbname=agwbench user=postgres')
    expect(ini).toMatch(/^pool_mode = session$/m)
    expect(ini).toMatch(/^listen_addr = 127\.0\.0\.1$/m)
    expect(ini).toMatch(/^unix_socket_dir =$/m)
    expect(ini).toMatch(/^default_pool_size = 34$/m)
  })
})

describe('CPU profile summary', () => {
  const frame = (functionName: string, url = '', lineNumber = 0) => ({ functionName, url, lineNumber })
  const profile: CpuProfile = {
    nodes: [
      { id: 1, callFrame: frame('(root)') },
      { id: 2, callFrame: frame('(idle)') },
      { id: 3, callFrame: frame('onTargetFrame', 'file:///repo/dist/src/protocols/postgres/proxy.js', 207) },
      { id: 4, callFrame: frame('sqliteTransaction', 'file:///repo/node_modules/better-sqlite3/lib/methods/transaction.js', 51) },
      { id: 5, callFrame: frame('(garbage collector)') },
    ],
    samples: [2, 3, 3, 4, 2, 5, 3],
    timeDeltas: [1000, 1000, 1000, 2000, 5000, 1000, 1000],
    startTime: 0,
    endTime: 12000,
  }

  it('self time by function and by area, idle left out of the busy total', () => {
    const s = summarizeProfile(profile)
    expect(s.busyMs).toBe(6)
    expect(s.wallMs).toBe(12)
    expect(s.topFunctions[0]).toEqual({ name: 'onTargetFrame dist/src/protocols/postgres/proxy.js:208', ms: 3, percent: 50 })
    expect(s.areas.map((a) => a.name)).toEqual(['agw src/protocols/postgres/proxy', 'better-sqlite3', 'GC'])
  })

  it('names areas for Node core, scoped packages and agw run from sources', () => {
    expect(areaOf(frame('f', 'node:internal/streams/readable'))).toBe('node streams')
    expect(areaOf(frame('f', 'node:net'))).toBe('node net')
    expect(areaOf(frame('f', 'file:///r/node_modules/@napi-rs/keyring/index.js'))).toBe('@napi-rs/keyring')
    expect(areaOf(frame('f', 'file:///r/src/recording/event-log.ts'))).toBe('agw src/recording/event-log')
    expect(areaOf(frame('writev'))).toBe('socket writes (native)')
    expect(areaOf(frame('writeBuffer'))).toBe('socket writes (native)')
    expect(areaOf(frame('(garbage collector)'))).toBe('GC')
  })
})
