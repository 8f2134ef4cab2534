/**
 * Append cost per event at a given batch size, with pgbench-shaped events (`query` with a
 * parameter, `query.result` with one row): what the gateway's writer thread pays per query.
 *
 *   npx tsx bench/append-batches.ts [EVENTS=40000] [BATCH=8]    prints {N, B, usPerEvent}
 *   node --import tsx --cpu-prof bench/append-batches.ts ...    to see where it goes
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { uuidv7 } from '../src/ids.js'
import type { AuditEvent } from '../src/recording/events.js'
import { SqliteStore } from '../src/storage/sqlite.js'

const N = Number(process.argv[2] ?? 40000)
const B = Number(process.argv[3] ?? 8)
function event(sessionId: string, i: number): AuditEvent {
  const query = i % 2 === 0
  return {
    id: uuidv7(), time: new Date().toISOString(), type: query ? 'query' : 'query.result', sessionId,
    connectionId: 'c1', connection: 'pg',
    actor: { kind: 'agent', subject: 'ci-agent', issuer: 'https://idp.example' },
    data: query ? { queryId: i, sql: 'SELECT abalance FROM pgbench_accounts WHERE aid = $1;', protocol: 'extended', params: [String(i * 7919 % 1000000)] }
      : { queryId: i - 1, tag: 'SELECT 1', rowCount: 1, columns: ['abalance'], rows: [['0']] },
  }
}
const dir = mkdtempSync(join(tmpdir(), 'agw-ap-'))
const store = new SqliteStore(join(dir, 'agw.db'), { masterKey: randomBytes(32) })
const sid = uuidv7()
await store.createSession({ id: sid, startedAt: new Date().toISOString(), status: 'active', identity: { kind: 'agent', subject: 'x', issuer: 'y', groups: [] }, agent: 'b', host: 'h', connections: ['pg'] })
const t0 = process.hrtime.bigint()
for (let i = 0; i < N; i += B) {
  const batch: AuditEvent[] = []
  for (let j = i; j < i + B; j++) batch.push(event(sid, j))
  await store.appendEvents(batch)
}
const s = Number(process.hrtime.bigint() - t0) / 1e9
console.log(JSON.stringify({ N, B, usPerEvent: (s * 1e6) / N }))
await store.close()
rmSync(dir, { recursive: true, force: true })
