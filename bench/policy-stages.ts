/**
 * Cost of each policy stage on the proxy's hot path, in-process (no sockets): parse (classify a
 * new text), a repeated statement (LRU lookup), decide, and masking of DataRows (nothing to mask:
 * the fast path; a detector hit; a masked column). Run: npx tsx bench/policy-stages.ts
 */
import { classify, compilePolicy, decide, loadParser, MaskCounts, Masker, sharedClassifier, type OutputInfo } from '../src/policy/index.js'
import { encodeDataRow, type RowDescriptionField } from '../src/protocols/postgres/codec/index.js'
import { maskDataRow, rowPlan } from '../src/protocols/postgres/masking.js'

import { pathToFileURL } from 'node:url'

export interface StageCost {
  stage: string
  microseconds: number
  perSecond: number
}

/** Times each stage; `scale` shrinks the iteration counts (1 = the standalone run). */
export async function policyStageCosts(scale = 1): Promise<StageCost[]> {
  await loadParser()
  const results: StageCost[] = []
  function time(label: string, n0: number, fn: (i: number) => void): void {
    const n = Math.max(1000, Math.round(n0 * scale))
    for (let i = 0; i < Math.min(n, 2000); i++) fn(i)
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < n; i++) fn(i)
    const ns = Number(process.hrtime.bigint() - t0) / n
    results.push({ stage: label, microseconds: ns / 1000, perSecond: Math.round(1e9 / ns) })
}

const pgbench = 'SELECT abalance FROM pgbench_accounts WHERE aid = $1;'
const complex = "WITH d AS (SELECT id, upper(name) AS n FROM users WHERE id IN (SELECT user_id FROM orders WHERE total > 10)) SELECT d.n, count(*) FROM d JOIN audit_log a ON a.user_id = d.id WHERE a.kind = 'login' GROUP BY d.n ORDER BY 2 DESC LIMIT 10"
const policy = compilePolicy({
  name: 'pg',
  allowUnparsed: false,
  dangerousFunctions: undefined,
  rules: [
    { name: 'no-ddl', match: { statement: ['DROP', 'TRUNCATE', 'ALTER'] }, action: 'deny', message: 'migrations' },
    { match: { statement: ['DELETE', 'UPDATE'], where: 'absent' }, action: 'deny' },
    { match: { statement: ['INSERT', 'UPDATE', 'DELETE'] }, action: 'review', reviewers: ['sre'], timeout: '10m' },
    { match: { tables: ['secrets'] }, action: 'deny' },
  ],
})

time('parse+classify, pgbench statement (new text each time)', 20_000, (i) => classify(`${pgbench} -- ${i}`))
time('parse+classify, 3-table CTE statement (new text each time)', 5_000, (i) => classify(`${complex} -- ${i}`))
sharedClassifier.classify(pgbench)
time('classify, repeated statement (LRU hit)', 1_000_000, () => sharedClassifier.classify(pgbench))
time("classify, pgbench -M simple text (a new aid each time: one parse)", 500_000, (i) => sharedClassifier.classify(`SELECT abalance FROM pgbench_accounts WHERE aid = ${(i * 7919) % 100000 + 1};`))
const c1 = sharedClassifier.classify(pgbench)
const c2 = sharedClassifier.classify(complex)
time('decide, pgbench statement, 4 rules + built-in', 1_000_000, () => decide(c1, policy))
time('decide, CTE statement, 4 rules + built-in', 500_000, () => decide(c2, policy))

const masker = new Masker({ columns: ['password', 'ssn', '*_token', 'api_key'], detectors: ['email', 'credit_card', 'aws_access_key', 'jwt', 'private_key', 'bearer_token', 'us_ssn', 'phone'], style: 'redact' }, Buffer.alloc(32))
const f = (name: string, typeOid = 25): RowDescriptionField => ({ name, tableOid: 0, columnAttr: 0, typeOid, typeSize: -1, typeMod: -1, format: 0 })
const out = (sql: string): OutputInfo[] => {
  const c = classify(sql)
  return c.ok && c.statements[0]?.output ? [c.statements[0].output] : []
}
const plain = rowPlan([f('aid', 23), f('bid', 23), f('abalance', 23), f('filler', 1042)], undefined, out('SELECT * FROM pgbench_accounts'), masker, new Set())
const plainRow = encodeDataRow(['123456', '2', '-4711', ' '.repeat(84)]).subarray(5)
const bulkRow = encodeDataRow(['42', 'x'.repeat(1000)]).subarray(5)
const bulkPlan = rowPlan([f('id', 23), f('filler')], undefined, out('SELECT id, filler FROM bulk'), masker, new Set())
const hitRow = encodeDataRow(['7', 'Ada Lovelace', 'write to ada@example.com or call +1 415 555 0132']).subarray(5)
const hitPlan = rowPlan([f('id', 23), f('name'), f('note')], undefined, out('SELECT id, name, note FROM users'), masker, new Set())
const colRow = encodeDataRow(['7', 'Ada Lovelace', 'hunter2']).subarray(5)
const colPlan = rowPlan([f('id', 23), f('name'), f('password')], undefined, out('SELECT id, name, password FROM users'), masker, new Set())
const counts = new MaskCounts()
time('mask DataRow, pgbench_accounts row, nothing to mask', 1_000_000, () => maskDataRow(plainRow, plain, masker, counts))
time('mask DataRow, 1 KB text row, nothing to mask', 500_000, () => maskDataRow(bulkRow, bulkPlan, masker, counts))
time('mask DataRow, detector hits (email + phone), re-encoded', 200_000, () => maskDataRow(hitRow, hitPlan, masker, counts))
time('mask DataRow, one masked column, re-encoded', 500_000, () => maskDataRow(colRow, colPlan, masker, counts))
return results
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log('stage                                                        cost        rate')
  for (const r of await policyStageCosts()) {
    console.log(`${r.stage.padEnd(58)} ${r.microseconds.toFixed(2).padStart(9)} µs/op ${r.perSecond.toLocaleString('en-US').padStart(12)} op/s`)
  }
}
