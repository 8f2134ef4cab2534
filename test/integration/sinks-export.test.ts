/**
 * `agw audit export` through the built CLI, on a store a gateway wrote (encrypted at rest): the
 * formats, --since, exit codes, and a config whose secret references are not set in the shell.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { parseConfig } from '../../src/config/load.js'
import { createGateway } from '../../src/gateway/start.js'
import { uuidv7 } from '../../src/ids.js'
import { silentLogger } from '../../src/log.js'
import type { AuditEvent } from '../../src/recording/events.js'
import { runAgw } from '../support/gateway.js'

const dir = mkdtempSync(join(tmpdir(), 'agw-export-'))
const configFile = join(dir, 'agw.yaml')
let stored: AuditEvent[]

const common = (secret: string) => `storage: sqlite:./agw.db
encryption: { keyFile: ./agw.key }
identity:
  issuers: [{ issuer: ${inject('issuerUrl')}, audience: agw }]
connections:
  - name: pg
    type: postgres
    target: { host: 127.0.0.1, port: 5432, database: test, user: postgres, password: ${secret} }
    allow: [agents]
audit:
  sinks:
    - { type: webhook, url: "https://siem.example/hec", format: splunk-hec, token: ${secret} }
`

beforeAll(async () => {
  // The gateway runs with literal secrets; the operator's config names variables that are not set here.
  writeFileSync(configFile, `listen: 127.0.0.1:0\n${common('env:AGW_TEST_EXPORT_UNSET_SECRET')}`)
  const config = parseConfig(`listen: 127.0.0.1:0\n${common('literal-secret')}`, 'gateway.yaml', dir)
  const gw = createGateway(config, { logger: silentLogger, sinks: { drainMs: 0 } })
  await gw.start()
  const old = uuidv7()
  for (let i = 0; i < 3; i++) gw.events.emit({ type: 'query', sessionId: old, time: `2020-01-0${i + 1}T00:00:00.000Z`, connection: 'pg', data: { queryId: i, sql: `select ${i} -- old` } })
  const recent = uuidv7()
  gw.events.emit({ type: 'session.start', sessionId: recent, actor: { kind: 'agent', subject: 'ci-agent', issuer: 'https://idp', groups: ['agents'] }, data: { agent: 'ci', host: 'runner-1' } })
  for (let i = 0; i < 5; i++) gw.events.emit({ type: 'query', sessionId: recent, connection: 'pg', data: { queryId: i, sql: `SELECT ${i} AS "a=b|c"` } })
  gw.events.emit({ type: 'query.denied', sessionId: recent, connection: 'pg', data: { sql: 'DROP TABLE t', message: 'no DDL' } })
  await gw.stop()
})

afterAll(() => rmSync(dir, { recursive: true, force: true }))

async function exportLines(args: string[]): Promise<{ code: number | null; lines: string[]; stderr: string }> {
  const r = await runAgw(['audit', 'export', '--config', configFile, ...args], { AGW_TEST_EXPORT_UNSET_SECRET: undefined })
  return { code: r.code, lines: r.stdout.split('\n').filter(Boolean), stderr: r.stderr }
}

describe('agw audit export', () => {
  it('jsonl: the events since --since, in store order, as stored', async () => {
    const r = await exportLines(['--format', 'jsonl', '--since', '2021-01-01'])
    expect(r.stderr).toMatch(/exported 7 events since 2021-01-01T00:00:00.000Z/)
    expect(r.code).toBe(0)
    const events = r.lines.map((l) => JSON.parse(l) as AuditEvent)
    expect(events.map((e) => e.type)).toEqual(['session.start', 'query', 'query', 'query', 'query', 'query', 'query.denied'])
    const seqs = events.map((e) => e.seq as number)
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b))
    expect(events[1]?.data).toMatchObject({ sql: 'SELECT 0 AS "a=b|c"' })
    stored = events
  })

  it('an old --since includes the older events too; a future one exports nothing', async () => {
    expect((await exportLines(['--since', '2019-12-31'])).lines).toHaveLength(10)
    const none = await exportLines(['--since', '2999-01-01'])
    expect(none).toMatchObject({ code: 0, lines: [] })
    expect(none.stderr).toMatch(/exported 0 events/)
  })

  it('--since also takes a duration back from now', async () => {
    expect((await exportLines(['--since', '1h'])).lines).toHaveLength(7)
  })

  it('ocsf: one OCSF event per line with the agw id as metadata.uid', async () => {
    const r = await exportLines(['--format', 'ocsf', '--since', '2021-01-01'])
    expect(r.code).toBe(0)
    const o = r.lines.map((l) => JSON.parse(l) as { class_uid: number; type_uid: number; activity_id: number; metadata: { uid: string } })
    expect(o.map((x) => x.class_uid)).toEqual([3002, 6005, 6005, 6005, 6005, 6005, 6005])
    for (const x of o) expect(x.type_uid).toBe(x.class_uid * 100 + x.activity_id)
    expect(o.map((x) => x.metadata.uid)).toEqual(stored.map((e) => e.id))
  })

  it('cef: one CEF line per event', async () => {
    const r = await exportLines(['--format', 'cef', '--since', '2021-01-01'])
    expect(r.code).toBe(0)
    expect(r.lines).toHaveLength(7)
    expect(r.lines[6]).toMatch(/^CEF:0\|agw\|agw\|[^|]+\|query\.denied\|Query denied\|6\|/)
    expect(r.lines[1]).toContain('cs4=SELECT 0 AS "a\\=b|c"')
  })

  it('refuses a --since it cannot read, and a missing config, with exit 65', async () => {
    const bad = await exportLines(['--since', 'last tuesday'])
    expect(bad.code).toBe(65)
    expect(bad.stderr).toMatch(/--since "last tuesday"/)
    const missing = await runAgw(['audit', 'export', '--config', join(dir, 'nope.yaml'), '--since', '1h'], {})
    expect(missing.code).toBe(65)
    expect(missing.stderr).toMatch(/cannot read config file/)
  })

  it('refuses an unknown format', async () => {
    const r = await exportLines(['--format', 'xml', '--since', '1h'])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toMatch(/jsonl, ocsf, cef|xml/)
  })
})
