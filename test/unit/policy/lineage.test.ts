// Column masking is lineage-based and fails closed (issue 10 items 5 and 6): values of a masked
// column are masked whole when they reach the result through functions (set-returning functions in
// FROM, SQL run from text, table_to_xml), and statements that put them where result masking cannot
// follow (set_config, pg_notify, other tables, views, statistics) are refused.
import { beforeAll, describe, expect, it } from 'vitest'
import { classify, compilePolicy, decide, loadParser, Masker, type OutputInfo } from '../../../src/policy/index.js'
import { taintedNames, wholeColumns } from '../../../src/protocols/postgres/masking.js'

beforeAll(() => loadParser())

const masker = new Masker({ columns: ['password', 'ssn'], detectors: [], style: 'redact' }, Buffer.alloc(32, 1))

function policy(masking = true) {
  const p = compilePolicy({ name: 'pg', rules: [{ name: 'no-secret', action: 'deny', match: { tables: ['secret_t'] } }], allowUnparsed: false, dangerousFunctions: [] })
  if (masking) p.maskedColumn = (n) => masker.isMaskedColumn(n)
  return p
}

const verdict = (sql: string, masking = true) => decide(classify(sql), policy(masking))

function masked(sql: string, names: string[]): string[] {
  const c = classify(sql)
  if (!c.ok) throw new Error(c.error)
  const outputs = c.statements.map((s) => s.output).filter((o): o is OutputInfo => o !== undefined)
  const whole = wholeColumns(names, outputs, masker, taintedNames(masker, outputs, new Set()))
  return names.filter((_, i) => whole[i])
}

describe('refused: a masked value put where masking cannot follow it', () => {
  it.each([
    "SELECT pg_notify('ch', password) FROM users",
    "SELECT pg_notify('ch', 'x' || password) FROM users",
    "SELECT pg_catalog.pg_notify('ch', concat('p=', password)) FROM users",
    "SELECT pg_notify('ch', u::text) FROM users u",
    "SELECT pg_notify('ch', row(u.*)::text) FROM users u",
    "SELECT pg_notify('ch', (SELECT password FROM users LIMIT 1))",
    "SELECT pg_notify('ch', v) FROM users u, LATERAL (SELECT u.password) x(v)",
    "SELECT pg_notify('ch', j.value) FROM users u, json_each_text(row_to_json(u)) j",
    "SELECT set_config('x.y', password, false) FROM users",
    "WITH s AS (SELECT set_config('x.y', password, false) FROM users) SELECT count(*) FROM s",
    "WITH p AS (SELECT password AS q FROM users) SELECT set_config('x.y', q, false) FROM p",
    "SELECT pg_logical_emit_message(true, 'p', password) FROM users",
    'SELECT lo_from_bytea(0, password::bytea) FROM users',
    "SELECT query_to_xml('select set_config(''x.y'', password, false) from users', true, false, '')",
    "DO $$ BEGIN PERFORM set_config('x.y', (SELECT password FROM users LIMIT 1), false); END $$",
    'INSERT INTO notes SELECT id, password FROM users',
    'INSERT INTO notes (id, body) SELECT id, upper(password) FROM users',
    'INSERT INTO notes VALUES (1, (SELECT password FROM users LIMIT 1))',
    'INSERT INTO notes SELECT * FROM users',
    'INSERT INTO notes (id, body) VALUES (1, 2) ON CONFLICT (id) DO UPDATE SET body = (SELECT password FROM users LIMIT 1)',
    'UPDATE users SET name = password',
    'UPDATE notes n SET body = u.password FROM users u WHERE n.id = u.id',
    'MERGE INTO notes n USING users u ON n.id = u.id WHEN NOT MATCHED THEN INSERT (id, body) VALUES (u.id, u.password)',
    'CREATE TABLE c AS SELECT password AS p FROM users',
    'CREATE TABLE c (a, b, c) AS SELECT * FROM users',
    'CREATE TABLE c AS SELECT * FROM (SELECT password AS p FROM users) s',
    'CREATE MATERIALIZED VIEW m AS SELECT upper(ssn) AS s FROM people',
    'SELECT password AS p INTO c FROM users',
    'CREATE VIEW v AS SELECT password AS p FROM users',
    "SELECT histogram_bounds FROM pg_stats WHERE tablename = 'users'",
    'SELECT * FROM pg_catalog.pg_statistic',
    "SELECT (SELECT most_common_vals::text FROM pg_stats LIMIT 1) AS m",
    "SELECT query_to_xml('select * from pg_stats', true, false, '')",
  ])('%s', (sql) => {
    const d = verdict(sql)
    expect(d.action).toBe('deny')
    expect(d.message).toMatch(/agw denied .*(masking cannot follow|statistics)/)
  })

  it('says where the value would go', () => {
    expect(verdict("SELECT pg_notify('ch', password) FROM users").message).toContain('pg_notify()')
    expect(verdict('UPDATE users SET name = password').message).toContain('column name, which is not masked')
  })

  it('COPY of a masked column to a server file, even where server access is allowed', () => {
    const p = compilePolicy({ name: 'pg', rules: [{ action: 'allow', match: { dangerous: true } }], allowUnparsed: false, dangerousFunctions: [] })
    p.maskedColumn = (n) => masker.isMaskedColumn(n)
    expect(decide(classify("COPY (SELECT password FROM users) TO '/tmp/x'"), p).message).toContain('COPY TO a server file')
    expect(decide(classify("COPY users TO PROGRAM 'cat'"), p).message).toContain('COPY TO PROGRAM')
    expect(decide(classify("COPY (SELECT id FROM users) TO '/tmp/x'"), p).action).toBe('allow')
  })

  it('refuses nothing when the connection masks no columns', () => {
    expect(verdict("SELECT pg_notify('ch', password) FROM users", false).action).toBe('allow')
    expect(verdict('SELECT * FROM pg_stats', false).action).toBe('allow')
  })
})

describe('allowed: what puts no masked value anywhere', () => {
  it.each([
    'SELECT id, name FROM users',
    'SELECT count(*) FROM users',
    "SELECT pg_notify('ch', name) FROM users",
    "SELECT set_config('x.y', name, false) FROM users WHERE password = 'x'",
    "SELECT set_config('search_path', 'public', false)",
    'INSERT INTO notes (id, body) SELECT id, name FROM users',
    'INSERT INTO users (id, name, password) VALUES (1, $1, $2)',
    'INSERT INTO users_copy (id, password) SELECT id, password FROM users',
    'UPDATE users SET password = upper(password) WHERE id = 1',
    'CREATE TABLE c AS SELECT id, name, password FROM users',
    'CREATE TABLE c AS SELECT * FROM users',
    'INSERT INTO notes SELECT x, x FROM generate_series(1, 3) x',
    "SELECT query_to_xml('select id, name from users', true, false, '')",
  ])('%s', (sql) => {
    expect(verdict(sql).action).toBe('allow')
  })
})

describe('SQL run from text is judged as what it runs', () => {
  it('a denied table read by query_to_xml or table_to_xml is denied', () => {
    expect(verdict("SELECT query_to_xml('select x from secret_t', true, false, '')", false).action).toBe('deny')
    expect(verdict("SELECT table_to_xml('public.secret_t', true, false, '')", false).action).toBe('deny')
    expect(verdict("SELECT ts_stat('select x::tsvector from secret_t')", false).action).toBe('deny')
  })

  it('SQL that is not a constant is opaque (fails closed)', () => {
    const c = classify("SELECT query_to_xml('select pass' || 'word from users', true, false, '')")
    expect(c.ok && c.statements[0]?.opaque).toMatch(/not a constant/)
    expect(verdict("SELECT query_to_xml($1, true, false, '')", false).action).toBe('deny')
    expect(verdict("SELECT database_to_xml(true, false, '')", false).action).toBe('deny')
  })

  it('what it runs counts as the statement (nested writes are units)', () => {
    const c = classify("SELECT query_to_xml('delete from t returning 1', true, false, '')")
    expect(c.ok && c.statements[0]?.units.map((u) => u.kind)).toEqual(['SELECT', 'DELETE'])
  })
})

describe('masked whole: values that reach the result through functions', () => {
  it.each([
    ['SELECT j.value FROM users u, json_each_text(row_to_json(u)) j', ['value'], ['value']],
    ['SELECT u.id, j.key, j.value FROM users u, jsonb_each_text(to_jsonb(u)) j', ['id', 'key', 'value'], ['id', 'key', 'value']],
    ['SELECT value FROM users u CROSS JOIN LATERAL jsonb_each(to_jsonb(u))', ['value'], ['value']],
    ['SELECT * FROM users u, json_each_text(row_to_json(u))', ['id', 'name', 'password', 'key', 'value'], ['id', 'name', 'password', 'key', 'value']],
    ['SELECT x FROM users u, unnest(array[u.password]) x', ['x'], ['x']],
    ["SELECT s FROM users u, regexp_split_to_table(u.password, '-') s", ['s'], ['s']],
    ['SELECT v FROM (SELECT j.value AS v FROM users u, json_each_text(row_to_json(u)) j) q', ['v'], ['v']],
    ["SELECT query_to_xml('select password from users', true, false, '')", ['query_to_xml'], ['query_to_xml']],
    ["SELECT query_to_xml('select * from users', true, false, '')", ['query_to_xml'], ['query_to_xml']],
    ["SELECT query_to_xml('select pass' || 'word from users', true, false, '')", ['query_to_xml'], ['query_to_xml']],
    ["SELECT table_to_xml('users', true, false, '')", ['table_to_xml'], ['table_to_xml']],
    ["SELECT cursor_to_xml('c', 10, true, false, '')", ['cursor_to_xml'], ['cursor_to_xml']],
  ])('%s', (sql, names, want) => {
    expect(masked(sql, names)).toEqual(want)
  })

  it('COPY (query) TO STDOUT follows the query', () => {
    expect(masked('COPY (SELECT j.value FROM users u, json_each_text(row_to_json(u)) j) TO STDOUT', ['value'])).toEqual(['value'])
  })

  it('does not mask function output that reads no masked column', () => {
    expect(masked('SELECT x FROM generate_series(1, 3) x', ['x'])).toEqual([])
    expect(masked("SELECT s FROM users u, regexp_split_to_table(u.name, ' ') s", ['s'])).toEqual([])
    expect(masked("SELECT query_to_xml('select id, name from users', true, false, '')", ['query_to_xml'])).toEqual([])
    expect(masked('SELECT * FROM a UNION SELECT * FROM b', ['id', 'name'])).toEqual([])
  })
})
