/**
 * The masking corpus: real tables with real data shapes in a scratch schema of database `test`,
 * read through a real gateway with psql and with node-postgres (extended protocol) under
 * `agw exec`. Asserts what the clients received, and that the recording kept only masked values.
 */
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { runAgw } from '../support/gateway.js'
import { connectTestIssuer } from '../support/oidc.js'
import { startPolicyGateway, writeRunner, type ClientResult, type PolicyGateway } from '../unit/policy/fixtures.js'

const idp = connectTestIssuer(inject('issuerUrl'))
let gw: PolicyGateway
let runner: string

function direct(sql: string): string {
  return execFileSync('psql', ['-X', '-At', '-h', '127.0.0.1', '-U', 'postgres', '-d', 'test', '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8' }).trim()
}

// Values that must never reach the client or the recording.
const SECRETS = ['hunter2', 'correct-horse', 'ada@example.com', 'grace@example.org', '4111 1111 1111 1111', '123-45-6789', 'AKIAIOSFODNN7EXAMPLE', 'ghp_abcdefghijklmnopqrstuvwxyz0123456789', 'tok_live_0001']

const SETUP = `
DROP SCHEMA IF EXISTS agw_masking CASCADE;
CREATE SCHEMA agw_masking;
CREATE TABLE agw_masking.users (id int PRIMARY KEY, name text, email text, password text, ssn text, api_token text, note text, tags text[], profile jsonb);
INSERT INTO agw_masking.users VALUES
  (1, 'Ada Lovelace', 'ada@example.com', 'hunter2', '123-45-6789', 'tok_live_0001', 'card 4111 1111 1111 1111, call +1 415 555 0132', ARRAY['ada@example.com', 'math'], '{"email": "ada@example.com", "password": "hunter2", "plan": "pro"}'),
  (2, 'Grace Hopper', 'grace@example.org', 'correct-horse', NULL, NULL, 'key AKIAIOSFODNN7EXAMPLE and ghp_abcdefghijklmnopqrstuvwxyz0123456789', ARRAY['navy'], '{"plan": "free"}');
CREATE TABLE agw_masking.orders (id int, user_email text, total numeric);
INSERT INTO agw_masking.orders VALUES (10, 'ada@example.com', 12.50);
CREATE SEQUENCE agw_masking.probe_seq;
`

const MASKING = `
    masking:
      columns: [password, ssn, "*_token"]
      detectors: [email, credit_card, us_ssn, phone, aws_access_key, github_token, jwt, private_key, bearer_token]
      style: redact`

interface Job {
  client: 'psql' | 'pg'
  sql: string
  params?: unknown[]
  sequence?: { sql: string; simple?: boolean }[]
  /** psql: one session, each command its own Query, going on after an error. */
  commands?: string[]
}

async function run(connection: string, jobs: Job[]): Promise<ClientResult[]> {
  const file = join(gw.dir, `jobs-${connection}-${Math.random().toString(36).slice(2)}.json`)
  writeFileSync(file, JSON.stringify(jobs))
  const r = await runAgw(['exec', '-c', connection, '--', process.execPath, runner, file], { AGW_GATEWAY: gw.url, AGW_TOKEN: await idp.agentToken() }, { timeoutMs: 60_000 })
  if (r.code !== 0) throw new Error(`runner failed (${r.code}): ${r.stderr}`)
  return JSON.parse(r.stdout.trim().split('\n').at(-1) as string) as ClientResult[]
}

/** Runs `sql` with psql and with node-postgres; returns [psql output, node-postgres rows]. */
async function both(sql: string): Promise<[string, unknown[][]]> {
  const [p, n] = await run('pg', [
    { client: 'psql', sql },
    { client: 'pg', sql },
  ])
  if (!p!.ok || !n!.ok) throw new Error(`${sql}: ${p!.message ?? ''} ${n!.message ?? ''}`)
  return [p!.output, JSON.parse(n!.output) as unknown[][]]
}

beforeAll(async () => {
  direct(SETUP)
  const conn = (name: string, extra = '') => `
  - name: ${name}
    type: postgres
    target: { host: 127.0.0.1, port: 5432, database: test, user: postgres }
    allow: [agents]${extra}`
  gw = await startPolicyGateway(`
identity:
  issuers: [{ issuer: ${idp.issuer}, audience: agw }]
connections:${conn('pg', MASKING)}${conn('pghash', MASKING.replace('style: redact', 'style: hash'))}${conn('pgpartial', MASKING.replace('style: redact', 'style: partial'))}
`)
  runner = writeRunner(gw.dir)
}, 60_000)

afterAll(async () => {
  await gw?.stop()
  direct('DROP SCHEMA IF EXISTS agw_masking CASCADE')
})

describe('masked by column name', () => {
  it('plain columns, aliases, expressions, subqueries', async () => {
    const [p, n] = await both(
      "SELECT id, name, password, password AS p, upper(password) AS up, password || '' AS cat, (SELECT u2.ssn FROM agw_masking.users u2 WHERE u2.id = u.id) AS sub, api_token FROM agw_masking.users u ORDER BY id",
    )
    expect(p.split('\n')).toEqual(['1|Ada Lovelace|[redacted]|[redacted]|[redacted]|[redacted]|[redacted]|[redacted]', '2|Grace Hopper|[redacted]|[redacted]|[redacted]|[redacted]||'])
    expect(n).toEqual([
      [1, 'Ada Lovelace', '[redacted]', '[redacted]', '[redacted]', '[redacted]', '[redacted]', '[redacted]'],
      [2, 'Grace Hopper', '[redacted]', '[redacted]', '[redacted]', '[redacted]', null, null],
    ])
  })

  it('SELECT * and CTEs', async () => {
    const [p] = await both('WITH c AS (SELECT id, password AS secret FROM agw_masking.users) SELECT * FROM c ORDER BY id')
    expect(p).toBe('1|[redacted]\n2|[redacted]')
    const [, n] = await both('SELECT * FROM agw_masking.users WHERE id = 2')
    expect(n[0]).toEqual([2, 'Grace Hopper', '[redacted:email]', '[redacted]', null, null, 'key [redacted:aws_access_key] and [redacted:github_token]', ['navy'], { plan: 'free' }])
  })

  it('with parameters (extended protocol, Bind/Execute of an unnamed statement)', async () => {
    const [r] = await run('pg', [{ client: 'pg', sql: 'SELECT name, password FROM agw_masking.users WHERE id = $1', params: [1] }])
    expect(JSON.parse(r!.output)).toEqual([['Ada Lovelace', '[redacted]']])
  })
})

describe('masked by content', () => {
  it('text columns, arrays and JSON', async () => {
    const [p, n] = await both('SELECT email, note, tags, profile FROM agw_masking.users WHERE id = 1')
    expect(p).toBe('[redacted:email]|card [redacted:credit_card], call [redacted:phone]|{[redacted:email],math}|{"plan": "pro", "email": "[redacted:email]", "password": "[redacted]"}')
    expect(n[0]).toEqual(['[redacted:email]', 'card [redacted:credit_card], call [redacted:phone]', ['[redacted:email]', 'math'], { plan: 'pro', email: '[redacted:email]', password: '[redacted]' }])
  })

  it('row_to_json and json_agg: masked keys by name, the rest by content', async () => {
    const [p] = await both('SELECT row_to_json(u) FROM agw_masking.users u WHERE id = 1')
    const row = JSON.parse(p) as Record<string, unknown>
    expect(row).toMatchObject({ id: 1, name: 'Ada Lovelace', email: '[redacted:email]', password: '[redacted]', ssn: '[redacted]', api_token: '[redacted]' })
    expect((row.profile as Record<string, unknown>).password).toBe('[redacted]')
    const [, n] = await both('SELECT json_agg(u ORDER BY id) FROM agw_masking.users u')
    const all = n[0]![0] as Record<string, unknown>[]
    expect(all.map((r) => [r.name, r.password, r.email])).toEqual([
      ['Ada Lovelace', '[redacted]', '[redacted:email]'],
      ['Grace Hopper', '[redacted]', '[redacted:email]'],
    ])
  })

  it('a whole row as a record is masked whole (its fields have no names)', async () => {
    const [p] = await both('SELECT u FROM agw_masking.users u WHERE id = 1')
    expect(p).toBe('[redacted]')
  })
})

describe('COPY TO STDOUT', () => {
  it('of a table: agw learns its columns and masks by name and content', async () => {
    const [r] = await run('pg', [{ client: 'psql', sql: 'COPY (SELECT id, name, email, password FROM agw_masking.users ORDER BY id) TO STDOUT' }])
    expect(r!.output).toBe('1\tAda Lovelace\t[redacted:email]\t[redacted]\n2\tGrace Hopper\t[redacted:email]\t[redacted]')
    const [t] = await run('pg', [{ client: 'psql', sql: 'COPY agw_masking.users TO STDOUT' }])
    const rows = t!.output.split('\n').map((l) => l.split('\t'))
    expect(rows[0]!.slice(0, 6)).toEqual(['1', 'Ada Lovelace', '[redacted:email]', '[redacted]', '[redacted]', '[redacted]'])
    expect(rows[1]!.slice(0, 4)).toEqual(['2', 'Grace Hopper', '[redacted:email]', '[redacted]'])
  })

  it('of SELECT *: agw asks the server for the columns without running the query', async () => {
    const [r] = await run('pg', [{ client: 'psql', sql: "COPY (SELECT *, nextval('agw_masking.probe_seq') AS n FROM agw_masking.users ORDER BY id) TO STDOUT" }])
    const rows = r!.output.split('\n').map((l) => l.split('\t'))
    expect(rows[0]!.slice(0, 6)).toEqual(['1', 'Ada Lovelace', '[redacted:email]', '[redacted]', '[redacted]', '[redacted]'])
    expect(rows[1]!.slice(0, 4)).toEqual(['2', 'Grace Hopper', '[redacted:email]', '[redacted]'])
    // The describe did not run the query: the sequence moved once per row the COPY itself read.
    expect(rows.map((row) => row.at(-1))).toEqual(['1', '2'])
    expect(direct('SELECT last_value FROM agw_masking.probe_seq')).toBe('2')
  })

  it('of SELECT * that the server refuses: the client gets the server error, nothing is sent', async () => {
    const [r] = await run('pg', [{ client: 'psql', sql: 'COPY (SELECT * FROM agw_masking.no_such_table) TO STDOUT' }])
    expect(r!.ok).toBe(false)
    expect(r!.code).toBe('42P01')
    expect(r!.output).toBe('')
  })

  it('CSV with a header', async () => {
    const [r] = await run('pg', [{ client: 'psql', sql: 'COPY (SELECT name, password, note FROM agw_masking.users WHERE id = 1) TO STDOUT WITH (FORMAT csv, HEADER)' }])
    expect(r!.output).toBe('name,password,note\nAda Lovelace,[redacted],"card [redacted:credit_card], call [redacted:phone]"')
  })
})

describe('COPY TO STDOUT in a transaction block: the probe leaves the transaction as it was', () => {
  beforeAll(() => direct("CREATE TABLE agw_masking.tx (id int, login text, password text); INSERT INTO agw_masking.tx VALUES (1, 'ada', 'hunter2')"))

  const copy = (conn: string, commands: string[]) => run(conn, [{ client: 'psql', sql: '', commands }]).then(([r]) => r!)

  it('a COPY of a missing table gets the server error 42P01, not 25P02, and ROLLBACK works', async () => {
    const r = await copy('pg', [
      'BEGIN',
      'COPY agw_masking.no_such_table TO STDOUT',
      'ROLLBACK',
      'BEGIN',
      'COPY (SELECT * FROM agw_masking.no_such_table) TO STDOUT',
      'ROLLBACK',
      'SELECT 1',
    ])
    expect(r.ok).toBe(true)
    expect(r.codes).toEqual(['42P01', '42P01'])
    expect(r.output).toBe('BEGIN\nROLLBACK\nBEGIN\nROLLBACK\n1')
  })

  it('COPY t and COPY (SELECT * ...) see the transaction\'s own rows, masked by name, and COMMIT keeps them', async () => {
    const r = await copy('pg', [
      'BEGIN',
      "INSERT INTO agw_masking.tx VALUES (2, 'grace', 'correct-horse')",
      'COPY agw_masking.tx TO STDOUT',
      'COPY (SELECT * FROM agw_masking.tx ORDER BY id) TO STDOUT',
      'COMMIT',
    ])
    expect(r.codes).toEqual([])
    const rows = ['1\tada\t[redacted]', '2\tgrace\t[redacted]']
    expect(r.output).toBe(['BEGIN', 'INSERT 0 1', ...rows, ...rows, 'COMMIT'].join('\n'))
    expect(direct('SELECT string_agg(login, \',\' ORDER BY id) FROM agw_masking.tx')).toBe('ada,grace')
  })

  it('a failed probe leaves the client\'s savepoints alone (even one named agw_probe)', async () => {
    const r = await copy('pg', [
      'BEGIN',
      "INSERT INTO agw_masking.tx VALUES (3, 'kept', 'correct-horse')",
      'SAVEPOINT agw_probe',
      "INSERT INTO agw_masking.tx VALUES (4, 'undone', 'correct-horse')",
      'COPY agw_masking.no_such_table TO STDOUT',
      'ROLLBACK TO SAVEPOINT agw_probe',
      'COPY (SELECT * FROM agw_masking.tx WHERE id > 2) TO STDOUT',
      'COMMIT',
    ])
    expect(r.codes).toEqual(['42P01'])
    expect(r.output).toBe(['BEGIN', 'INSERT 0 1', 'SAVEPOINT', 'INSERT 0 1', 'ROLLBACK', '3\tkept\t[redacted]', 'COMMIT'].join('\n'))
    expect(direct('SELECT string_agg(login, \',\' ORDER BY id) FROM agw_masking.tx WHERE id > 2')).toBe('kept')
  })

  it('in a failed transaction, COPY gets the server\'s 25P02 and nothing hangs', async () => {
    const r = await copy('pg', [
      'BEGIN',
      'SELECT 1/0',
      'COPY agw_masking.tx TO STDOUT',
      'COPY (SELECT * FROM agw_masking.tx) TO STDOUT',
      'ROLLBACK',
      'COPY agw_masking.tx TO STDOUT',
    ])
    expect(r.ok).toBe(true)
    expect(r.codes).toEqual(['22012', '25P02', '25P02'])
    expect(r.output.split('\n')).toEqual(['BEGIN', 'ROLLBACK', '1\tada\t[redacted]', '2\tgrace\t[redacted]', '3\tkept\t[redacted]'])
  })

  it('the recording has the client\'s statements only, never the probe', async () => {
    await gw.gateway.events.flush()
    const events = await gw.gateway.store.listEvents({})
    const sql = events.filter((e) => e.type === 'query').map((e) => String(e.data.sql))
    expect(sql).toContain('COPY agw_masking.tx TO STDOUT')
    expect(sql.filter((q) => /agw_probe_|LIMIT 0|^SELECT \* FROM agw_masking\.tx$/.test(q))).toEqual([])
    const results = JSON.stringify(events.filter((e) => e.type === 'query.result' || e.type === 'masking.applied'))
    expect(results).not.toContain('hunter2')
    expect(results).not.toContain('correct-horse')
  })
})

describe('errors, notices, notifications', () => {
  it('a value in an error message is masked when the statement reads a masked column', async () => {
    const [r] = await run('pg', [{ client: 'psql', sql: 'SELECT password::int FROM agw_masking.users WHERE id = 1' }])
    expect(r!.ok).toBe(false)
    expect(r!.code).toBe('22P02')
    expect(r!.message).toBe('invalid input syntax for type integer: "[redacted]"')
  })

  it('notice text and NOTIFY payloads are searched by content', async () => {
    const [r] = await run('pg', [{ client: 'psql', sql: "DO $$ BEGIN RAISE NOTICE 'contact %', 'grace@example.org'; END $$" }])
    expect(r!.notices).toEqual(['contact [redacted:email]'])
    const [s] = await run('pg', [{ client: 'pg', sql: '', sequence: [{ sql: 'LISTEN agw_m', simple: true }, { sql: "NOTIFY agw_m, 'for ada@example.com'", simple: true }] }])
    expect(s!.notifications).toEqual(['for [redacted:email]'])
  })
})

describe('styles', () => {
  it('hash: equal values get equal masks, so joins still line up', async () => {
    const [a, b] = await run('pghash', [
      { client: 'psql', sql: 'SELECT email, password FROM agw_masking.users WHERE id = 1' },
      { client: 'psql', sql: 'SELECT user_email FROM agw_masking.orders' },
    ])
    const [email, password] = a!.output.split('|')
    expect(email).toMatch(/^\[email:[0-9a-f]{12}\]$/)
    expect(password).toMatch(/^\[hash:[0-9a-f]{12}\]$/)
    expect(b!.output).toBe(email)
  })

  it('partial: enough to recognise', async () => {
    const [r] = await run('pgpartial', [{ client: 'psql', sql: 'SELECT email, ssn, note FROM agw_masking.users WHERE id = 1' }])
    expect(r!.output).toBe('a***@example.com|****6789|card **** **** **** 1111, call +* *** *** 0132')
  })
})

describe('the recording', () => {
  it('keeps only masked values, and says what was masked per query', async () => {
    await both('SELECT * FROM agw_masking.users ORDER BY id')
    await gw.gateway.events.flush()
    const events = await gw.gateway.store.listEvents({})
    const results = events.filter((e) => e.type === 'query.result' || e.type === 'masking.applied' || e.type === 'terminal.output')
    expect(results.length).toBeGreaterThan(10)
    const text = JSON.stringify(results)
    for (const s of SECRETS) expect(text, s).not.toContain(s)
    const applied = events.filter((e) => e.type === 'masking.applied')
    expect(applied.find((e) => e.data.sql === 'SELECT * FROM agw_masking.users ORDER BY id')?.data).toMatchObject({
      // password: two columns and one JSON key (profile.password).
      columns: { password: 3, ssn: 1, api_token: 1 },
      detectors: expect.objectContaining({ email: 4, credit_card: 1 }),
    })
  })
})
