/**
 * The guardrail corpus (test/unit/policy/guardrail-corpus.ts) through a real gateway against the
 * machine's PostgreSQL: every statement with real psql (simple protocol) and with node-postgres
 * (extended protocol: Parse/Bind/Describe/Execute/Sync, with parameters), both run as the command
 * of `agw exec`. A deny is SQLSTATE 42501 naming the rule; a review shows the "held for review"
 * notice and then runs (the test gate approves); an allowed statement is never refused by agw.
 */
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { runAgw } from '../support/gateway.js'
import { connectTestIssuer } from '../support/oidc.js'
import { ScriptedGate, startPolicyGateway, writeRunner, type ClientResult, type PolicyGateway } from '../unit/policy/fixtures.js'
import { CORPUS, CORPUS_RULES, CORPUS_SETUP, CORPUS_TEARDOWN, type CorpusEntry, type Expect } from '../unit/policy/guardrail-corpus.js'

const idp = connectTestIssuer(inject('issuerUrl'))
const gate = new ScriptedGate()
let gw: PolicyGateway

/** Direct to the machine's PostgreSQL (trust), for setup and for checking what really happened. */
function direct(sql: string): string {
  return execFileSync('psql', ['-X', '-At', '-h', '127.0.0.1', '-U', 'postgres', '-d', 'test', '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8' }).trim()
}

interface Job {
  client: 'psql' | 'pg'
  sql: string
  params?: unknown[]
}

const jobs: { entry: CorpusEntry; job: Job; expect: Expect }[] = []
for (const entry of CORPUS) {
  if (!entry.params) jobs.push({ entry, job: { client: 'psql', sql: entry.sql }, expect: entry.expect })
  const ext = entry.extended ?? entry.expect
  if (!entry.psqlOnly && ext !== 'skip') jobs.push({ entry, job: { client: 'pg', sql: entry.sql, params: entry.params ?? [] }, expect: ext })
}

let results: ClientResult[] = []

beforeAll(async () => {
  for (const s of CORPUS_SETUP) direct(s)
  gw = await startPolicyGateway(
    `
identity:
  issuers: [{ issuer: ${idp.issuer}, audience: agw }]
connections:
  - name: pg
    type: postgres
    target: { host: 127.0.0.1, port: 5432, database: test, user: postgres }
    allow: [agents]
${CORPUS_RULES}`,
    gate,
  )
  const runner = writeRunner(gw.dir)
  const file = join(gw.dir, 'jobs.json')
  writeFileSync(file, JSON.stringify(jobs.map((j) => j.job)))
  const r = await runAgw(['exec', '-c', 'pg', '--', process.execPath, runner, file], { AGW_GATEWAY: gw.url, AGW_TOKEN: await idp.agentToken() }, { timeoutMs: 120_000 })
  if (r.code !== 0) throw new Error(`the corpus runner failed (${r.code}): ${r.stderr}`)
  results = JSON.parse(r.stdout.trim().split('\n').at(-1) as string) as ClientResult[]
}, 180_000)

afterAll(async () => {
  await gw?.stop()
  for (const s of CORPUS_TEARDOWN) direct(s)
})

const HELD = /^agw: held for review rev-\d+ by rule "([^"]+)"; waiting for sre$/

describe('the guardrail corpus through the gateway', () => {
  it.each(jobs.map((j, i) => [`${j.job.client.padEnd(4)} ${j.expect.padEnd(6)} ${j.entry.sql.replace(/\s+/g, ' ').slice(0, 80)}`, i] as const))('%s', (_, i) => {
    const { entry, expect: want } = jobs[i]!
    const got = results[i]!
    const refused = got.code === '42501' && /^agw /.test(got.message ?? '')
    const held = got.notices.find((n) => HELD.test(n))
    if (want === 'deny') {
      expect(refused, JSON.stringify(got)).toBe(true)
      expect(got.message).toMatch(/^agw denied /)
      if (entry.rule) expect(got.message).toContain(`rule "${entry.rule}"`)
      expect(held).toBeUndefined()
    } else if (want === 'review') {
      expect(held, JSON.stringify(got)).toBeDefined()
      if (entry.rule) expect(HELD.exec(held!)?.[1]).toBe(entry.rule)
      expect(refused, JSON.stringify(got)).toBe(false)
    } else {
      expect(refused, JSON.stringify(got)).toBe(false)
      expect(held).toBeUndefined()
    }
  })

  it('ran nothing it refused: the tables and their rows are all still there', () => {
    expect(direct('SELECT count(*) FROM agw_corpus.drop_log')).toBe('1')
    expect(direct('SELECT string_agg(id::text, \',\' ORDER BY id) FROM agw_corpus.items WHERE id < 100')).toBe('1,2')
    expect(direct("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'agw_corpus' AND table_name = 'items'")).toBe('2')
    expect(direct("SELECT count(*) FROM pg_roles WHERE rolname = 'agw_corpus_role'")).toBe('0')
  })

  it('ran what reviewers approved: the reviewed inserts are there, with their parameters', () => {
    expect(direct('SELECT string_agg(id::text, \',\' ORDER BY id) FROM agw_corpus.items WHERE id >= 100')).toBe('100,101,102,103,104,105,106')
    const params = gate.requests.filter((r) => r.params.length > 0).map((r) => r.params)
    expect(params).toContainEqual(['p', '100'])
    expect(params).toContainEqual(['106', 'g'])
  })

  it('recorded a query.denied event for every refusal, naming the rule', async () => {
    await gw.gateway.events.flush()
    const events = await gw.gateway.store.listEvents({ types: ['query.denied'] })
    const denied = jobs.filter((j, i) => j.expect === 'deny' && results[i]?.code === '42501')
    expect(events.length).toBe(denied.length)
    const drop = events.find((e) => e.data.sql === 'DROP TABLE agw_corpus.items')
    expect(drop?.data).toMatchObject({ rule: 'no-ddl', action: 'deny', protocol: 'simple' })
  })
})
