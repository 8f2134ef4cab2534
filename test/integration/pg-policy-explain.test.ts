// `agw policy explain` as a user runs it (the built CLI): no database, no gateway, no secrets needed.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, it } from 'vitest'
import { runAgw } from '../support/gateway.js'

const dir = mkdtempSync(join(tmpdir(), 'agw-explain-'))
const config = join(dir, 'agw.yaml')
writeFileSync(
  config,
  `identity: { issuers: [{ issuer: https://idp.example.com, audience: agw }] }
connections:
  - name: pg-prod
    type: postgres
    target: { host: db.internal, port: 5432, database: app, user: agw, password: env:AGW_EXPLAIN_TEST_UNSET }
    allow: [agents]
    rules:
      - { name: no-ddl, match: { statement: [DROP, TRUNCATE, ALTER] }, action: deny, message: schema changes go through migrations }
      - { name: no-unbounded, match: { statement: [DELETE, UPDATE], where: absent }, action: deny }
      - { name: writes, match: { statement: [INSERT, UPDATE, DELETE] }, action: review, reviewers: [sre], timeout: 10m }
    masking:
      columns: [password]
`,
)
afterAll(() => rmSync(dir, { recursive: true, force: true }))

it('prints each statement, the rules that match and the decision', async () => {
  const r = await runAgw(['policy', 'explain', '--config', config, '-c', 'pg-prod', 'WITH d AS (DELETE FROM t RETURNING *) SELECT upper(password) AS p FROM users; SELECT 1'], {})
  expect(r.code).toBe(0)
  expect(r.stdout.split('\n')).toEqual([
    '1. SELECT: WITH d AS (DELETE FROM t RETURNING *) SELECT upper(password) AS p FROM users',
    '   also DELETE (WHERE absent) on t',
    '   WHERE: absent',
    '   tables: users, t',
    '   functions: upper',
    '   masked columns: p',
    '   rules: no-unbounded (deny), writes (review)',
    '2. SELECT: SELECT 1',
    '   WHERE: absent',
    '   rules: none match',
    'decision: deny by rule "no-unbounded"',
    '  the client is told: agw denied DELETE inside SELECT on connection "pg-prod" by rule "no-unbounded"',
    '',
  ])
})

it('--json gives the same as an object', async () => {
  const r = await runAgw(['policy', 'explain', '-f', config, '-c', 'pg-prod', '--json', 'UPDATE t SET a = 1 WHERE id = 2'], {})
  expect(r.code).toBe(0)
  const x = JSON.parse(r.stdout)
  expect(x.decision).toEqual({ action: 'review', rule: 'writes', message: 'UPDATE is held for review by rule "writes"' })
  expect(x.statements[0]).toMatchObject({ kind: 'UPDATE', units: [{ kind: 'UPDATE', where: 'present', tables: ['t'] }], matches: [{ rule: 'writes', action: 'review' }] })
})

it('says what does not parse, and refuses an unknown connection with exit 65', async () => {
  const bad = await runAgw(['policy', 'explain', '-f', config, '-c', 'pg-prod', 'SELEC 1'], {})
  expect(bad.stdout).toContain('does not parse: syntax error at or near "SELEC"')
  expect(bad.stdout).toContain('decision: deny')
  const r = await runAgw(['policy', 'explain', '-f', config, '-c', 'nope', 'SELECT 1'], {})
  expect(r.code).toBe(65)
  expect(r.stderr).toContain('no connection "nope"')
})
