/**
 * Benchmarks for the audit store (issue 5): how fast events are appended (encrypted, chained and
 * indexed, in EventLog-sized batches) and how fast `agw audit verify` walks them.
 *
 *   npx tsx bench/audit-verify.ts [N]       prints both rates as JSON
 *   import { benchAuditVerify } from './audit-verify.js'   for bench/run.ts
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { verifyChain } from '../src/audit/verify.js'
import { uuidv7 } from '../src/ids.js'
import type { AuditEvent } from '../src/recording/events.js'
import { SqliteChainSource } from '../src/storage/sqlite-chain.js'
import { SqliteStore } from '../src/storage/sqlite.js'

export interface AuditBenchResult {
  events: number
  appendSeconds: number
  appendEventsPerSecond: number
  verifySeconds: number
  verifyEventsPerSecond: number
  /** `agw sessions search` on the store: a word in one event, and a word in every query event. */
  searchRareMs: number
  searchCommonMs: number
  ok: boolean
}

function event(sessionId: string, i: number): AuditEvent {
  const query = i % 2 === 0
  return {
    id: uuidv7(),
    time: new Date().toISOString(),
    type: query ? 'query' : 'query.result',
    sessionId,
    connectionId: 'bench-connection',
    connection: 'pg',
    actor: { kind: 'agent', subject: 'ci-agent', issuer: 'https://idp.example' },
    data: query
      ? { queryId: i, sql: `select id, email, created_at from accounts where id = ${i} -- w${i}`, protocol: 'simple' }
      : { queryId: i - 1, tag: 'SELECT 1', rowCount: 1, columns: ['id', 'email', 'created_at'], rows: [[String(i), '[masked]', '2026-01-01']] },
  }
}

/** Builds `n` events in a temp store (500 per batch, as the EventLog writes), then verifies them. */
export async function benchAuditVerify(n = 200_000): Promise<AuditBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'agw-bench-'))
  const path = join(dir, 'agw.db')
  const key = randomBytes(32)
  try {
    const store = new SqliteStore(path, { masterKey: key })
    const sessions: string[] = []
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < n; i += 500) {
      if (i % 5000 === 0) {
        const id = uuidv7()
        await store.createSession({
          id,
          startedAt: new Date().toISOString(),
          status: 'active',
          identity: { kind: 'agent', subject: 'ci-agent', issuer: 'https://idp.example', groups: ['agents'] },
          agent: 'bench',
          host: 'bench',
          connections: ['pg'],
        })
        sessions.push(id)
      }
      const batch: AuditEvent[] = []
      for (let j = i; j < Math.min(n, i + 500); j++) batch.push(event(sessions.at(-1)!, j))
      await store.appendEvents(batch)
    }
    const appendSeconds = Number(process.hrtime.bigint() - t0) / 1e9
    const timed = async (text: string) => {
      const s = process.hrtime.bigint()
      await store.searchEvents({ text, limit: 50 })
      return Number(process.hrtime.bigint() - s) / 1e6
    }
    const searchRareMs = await timed(`w${Math.floor(n / 2) & ~1}`)
    const searchCommonMs = await timed('accounts')
    await store.close()
    const source = new SqliteChainSource(path, key)
    const report = verifyChain(source)
    source.close()
    return {
      events: n,
      appendSeconds,
      appendEventsPerSecond: Math.round(n / appendSeconds),
      verifySeconds: report.seconds,
      verifyEventsPerSecond: report.eventsPerSecond,
      searchRareMs,
      searchCommonMs,
      ok: report.ok && report.events === n,
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const n = Number(process.argv[2] ?? 200_000)
  console.log(JSON.stringify(await benchAuditVerify(n), null, 2))
}
