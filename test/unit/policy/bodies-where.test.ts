// Issue 10 items 4 and 7: a CREATE FUNCTION / PROCEDURE is judged as what its body runs (a later
// call runs it under a name agw cannot follow), and a WHERE that is true on every row counts as
// absent for `where: absent` rules.
import { beforeAll, describe, expect, it } from 'vitest'
import type { RuleConfig } from '../../../src/config/schema.js'
import { classify, compilePolicy, decide, loadParser, type Statement } from '../../../src/policy/index.js'

beforeAll(() => loadParser())

function one(sql: string): Statement {
  const c = classify(sql)
  if (!c.ok) throw new Error(c.error)
  expect(c.statements).toHaveLength(1)
  return c.statements[0]!
}

const kinds = (s: Statement) => s.units.map((u) => `${u.detail}${u.where ? `/${u.where}` : ''}`)

const POLICY = compilePolicy({
  name: 'pg',
  rules: [
    { name: 'no-ddl', action: 'deny', match: { statement: ['DROP', 'TRUNCATE'] } },
    { name: 'no-mass-writes', action: 'deny', match: { statement: ['DELETE', 'UPDATE'], where: 'absent' } },
    { name: 'no-secret', action: 'deny', match: { tables: ['secret_t'] } },
    { name: 'no-sleep', action: 'deny', match: { functions: ['pg_sleep'] } },
  ] as RuleConfig[],
  allowUnparsed: false,
})

const verdict = (sql: string) => {
  const d = decide(classify(sql), POLICY)
  return d.action === 'allow' ? 'allow' : `${d.action} ${d.rule?.name ?? ''}`.trim()
}

describe('routine bodies', () => {
  it.each([
    // PL/pgSQL string bodies (functions and procedures, OR REPLACE, any dollar tag)
    ['CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN DROP TABLE t; END $$', ['CREATE FUNCTION', 'DROP TABLE']],
    ['CREATE OR REPLACE FUNCTION f() RETURNS void AS $b$ BEGIN DELETE FROM t; END $b$ LANGUAGE plpgsql', ['CREATE FUNCTION', 'DELETE/absent']],
    ['CREATE PROCEDURE p() LANGUAGE plpgsql AS $body$ BEGIN TRUNCATE t; END $body$', ['CREATE PROCEDURE', 'TRUNCATE']],
    ['CREATE OR REPLACE PROCEDURE p(a int) LANGUAGE plpgsql AS $$ BEGIN UPDATE t SET x = a WHERE id = a; COMMIT; END $$', ['CREATE PROCEDURE', 'UPDATE/present']],
    ['CREATE FUNCTION tr() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN DELETE FROM audit; RETURN NEW; END $$', ['CREATE FUNCTION', 'DELETE/absent']],
    ["CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'DROP TABLE t'; END $$", ['CREATE FUNCTION', 'DROP TABLE']],
    ['CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN IF true THEN LOOP DELETE FROM t; EXIT; END LOOP; END IF; END $$', ['CREATE FUNCTION', 'DELETE/absent']],
    // SQL string bodies, one or several statements, quoted either way
    ["CREATE FUNCTION g() RETURNS void LANGUAGE sql AS 'DELETE FROM t'", ['CREATE FUNCTION', 'DELETE/absent']],
    ['CREATE FUNCTION g() RETURNS int AS $$ SELECT 1; DROP TABLE t; SELECT 2 $$ LANGUAGE sql', ['CREATE FUNCTION', 'DROP TABLE']],
    ["CREATE FUNCTION g() RETURNS void LANGUAGE SQL AS 'UPDATE t SET a = 1 WHERE id = id'", ['CREATE FUNCTION', 'UPDATE/absent']],
    ["CREATE FUNCTION g() RETURNS void LANGUAGE 'sql' AS 'WITH d AS (DELETE FROM t RETURNING 1) SELECT 1'", ['CREATE FUNCTION', 'DELETE/absent']],
    // BEGIN ATOMIC and RETURN bodies (sql_body in the tree)
    ['CREATE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC TRUNCATE t; END', ['CREATE PROCEDURE', 'TRUNCATE']],
    ['CREATE OR REPLACE PROCEDURE p() BEGIN ATOMIC INSERT INTO log VALUES (1); UPDATE t SET a = 1 WHERE t.id = id; END', ['CREATE PROCEDURE', 'INSERT', 'UPDATE/absent']],
  ])('%s', (sql, units) => {
    const s = one(sql)
    expect(s.kind).toBe('CREATE')
    expect(kinds(s)).toEqual(units)
    expect(s.opaque).toBeUndefined()
  })

  // Controls (they pass without the fix too): bodies that run nothing a rule looks at stay plain.
  it.each([
    ['CREATE FUNCTION r() RETURNS bigint LANGUAGE sql RETURN (SELECT count(*) FROM t)', ['CREATE FUNCTION']],
    ['CREATE FUNCTION add(a int, b int) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT a + b $$', ['CREATE FUNCTION']],
    ['CREATE FUNCTION one() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$', ['CREATE FUNCTION']],
  ])('control: %s', (sql, units) => {
    const s = one(sql)
    expect(kinds(s)).toEqual(units)
    expect(s.opaque).toBeUndefined()
  })

  it('names the tables and functions of the body', () => {
    const s = one('CREATE FUNCTION q() RETURNS SETOF text LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(1); RETURN QUERY SELECT x FROM s1.secret_t; END $$')
    expect(s.tables).toEqual(['s1.secret_t'])
    expect(s.functions).toEqual(['pg_sleep'])
    expect(one('CREATE FUNCTION r(a int) RETURNS bigint LANGUAGE sql RETURN (SELECT count(*) FROM secret_t) + a').tables).toEqual(['secret_t'])
    expect(one("CREATE FUNCTION d(a float DEFAULT pg_sleep_for('1s')::text::float) RETURNS int LANGUAGE sql AS 'SELECT 1'").functions).toContain('pg_sleep_for')
  })

  it.each([
    ["CREATE FUNCTION h() RETURNS int LANGUAGE c AS 'x', 'y'", 'language c'],
    ['CREATE FUNCTION h() RETURNS int LANGUAGE plperl AS $$ return 1 $$', 'language plperl'],
    ["CREATE FUNCTION h() RETURNS int LANGUAGE internal AS 'int4in'", 'language internal'],
    ["CREATE FUNCTION e() RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'DROP ' || 'TABLE t'; END $$", 'dynamic SQL'],
    ['CREATE PROCEDURE e(n text) LANGUAGE plpgsql AS $$ BEGIN EXECUTE format($f$DELETE FROM %I$f$, n); END $$', 'dynamic SQL'],
    ["CREATE FUNCTION e() RETURNS void LANGUAGE plpgsql AS $$ DECLARE c refcursor := 'leak'; BEGIN OPEN c FOR SELECT 1; END $$", 'cursor'],
    ["CREATE FUNCTION e() RETURNS void LANGUAGE plpgsql AS $$ DECLARE c refcursor := 'x'; BEGIN CLOSE c; END $$", 'cursor'],
    ["CREATE FUNCTION e() RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'PREPARE foo AS DELETE FROM t'; END $$", 'PREPARE'],
    ["CREATE FUNCTION e() RETURNS void LANGUAGE sql AS 'PREPARE foo AS SELECT 1'", 'PREPARE'],
    ["CREATE FUNCTION e() RETURNS void LANGUAGE sql AS 'DEALLOCATE ALL'", 'DEALLOCATE'],
    ["CREATE FUNCTION e() RETURNS void LANGUAGE sql AS 'DECLARE c CURSOR WITH HOLD FOR SELECT 1'", 'DECLARE'],
    ["CREATE FUNCTION e() RETURNS void LANGUAGE sql AS 'EXECUTE foo'", 'EXECUTE'],
    ["CREATE FUNCTION e() RETURNS void LANGUAGE sql AS 'SELECT FROM WHERE'", 'does not parse'],
    ['CREATE FUNCTION e() RETURNS void LANGUAGE plpgsql AS $$ BEGIN no such thing; END $$', 'does not parse'],
  ])('%s is opaque', (sql, why) => {
    expect(one(sql).opaque).toContain(why)
  })

  it.each([
    ['CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN DROP TABLE t; END $$', 'deny no-ddl'],
    ['CREATE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC TRUNCATE t; END', 'deny no-ddl'],
    ["CREATE FUNCTION g() RETURNS void LANGUAGE sql AS 'DELETE FROM t'", 'deny no-mass-writes'],
    ['CREATE FUNCTION q() RETURNS SETOF text LANGUAGE sql AS $$ SELECT x FROM secret_t $$', 'deny no-secret'],
    ['CREATE FUNCTION q() RETURNS void LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(10); END $$', 'deny no-sleep'],
    ["CREATE FUNCTION h() RETURNS int LANGUAGE c AS 'x', 'y'", 'deny no-ddl'],
    // Created and called in one text: the CREATE carries what the call will run.
    ['CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ DROP TABLE t $$; SELECT f()', 'deny no-ddl'],
    // A routine that creates a routine: the inner body counts too.
    ["CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN CREATE FUNCTION g() RETURNS void LANGUAGE sql AS 'TRUNCATE t'; END $$", 'deny no-ddl'],
  ])('%s -> %s', (sql, want) => {
    expect(verdict(sql)).toBe(want)
  })
})

describe('a WHERE true on every row counts as absent', () => {
  it.each([
    'DELETE FROM t WHERE id = id',
    'DELETE FROM t WHERE id >= id',
    'DELETE FROM t WHERE id <= id',
    'DELETE FROM t WHERE id IS NOT DISTINCT FROM id',
    'DELETE FROM t WHERE t.id = id',
    'DELETE FROM s.t WHERE s.t.id = t.id',
    'DELETE FROM t AS x WHERE x.id = id',
    'UPDATE t SET id = id + 10 WHERE t.id = s.t.id',
    'DELETE FROM t WHERE lower(name) = lower(name)',
    'DELETE FROM t WHERE id + 0 = id + 0',
    'DELETE FROM t WHERE id OPERATOR(pg_catalog.=) id',
    'DELETE FROM t WHERE ctid IS NOT NULL',
    'DELETE FROM t WHERE t.xmin IS NOT NULL',
    'DELETE FROM t WHERE tableoid IS NOT NULL AND cmin IS NOT NULL',
    'DELETE FROM t WHERE true OR id = 1',
    'DELETE FROM t WHERE id = 1 OR 1 = 1',
    "DELETE FROM t WHERE id = 1 OR 'a' = 'a'",
    'DELETE FROM t WHERE id IS NULL OR id IS NOT NULL',
    'DELETE FROM t WHERE id = 1 OR t.id IS NOT NULL OR id IS NULL',
    'DELETE FROM t WHERE flag IS TRUE OR flag IS NOT TRUE',
    'DELETE FROM t WHERE flag OR NOT flag',
    'DELETE FROM t WHERE NOT (id <> id)',
    'DELETE FROM t WHERE NOT (id < id)',
    'DELETE FROM t WHERE NOT (id IS DISTINCT FROM id)',
    'DELETE FROM t WHERE NOT false AND id = id',
    'DELETE FROM t WHERE (id = id) AND (1 = 1)',
    'DELETE FROM t WHERE (id = id)::bool',
    'DELETE FROM t WHERE true::boolean AND ctid IS NOT NULL',
    'DELETE FROM t WHERE NOT (id <> id OR false)',
    'DELETE FROM t WHERE EXISTS (SELECT 1)',
    'DELETE FROM t WHERE EXISTS (SELECT 1 FROM u)',
    'DELETE FROM t WHERE EXISTS (SELECT * FROM u)',
    'DELETE FROM t WHERE id IN (SELECT id FROM t)',
    'DELETE FROM t WHERE id IN (id, 1)',
    'DELETE FROM t WHERE id BETWEEN id AND id',
    'SELECT * FROM t WHERE t.id = id',
    'MERGE INTO t USING s ON t.id = t.id WHEN MATCHED THEN DELETE',
    'WITH d AS (DELETE FROM t WHERE id = id RETURNING 1) SELECT 1',
  ])('%s', (sql) => {
    const s = one(sql)
    expect(s.units.filter((u) => u.where !== undefined).map((u) => u.where)).not.toContain('present')
  })

  it.each([
    'DELETE FROM t WHERE id = 1',
    'DELETE FROM t WHERE id = $1',
    'DELETE FROM t WHERE id IS NOT NULL',
    'DELETE FROM t WHERE id IS NULL',
    'DELETE FROM t WHERE id = other',
    'DELETE FROM t WHERE t.id = u.id',
    'DELETE FROM t USING u WHERE t.id = u.id',
    'DELETE FROM t WHERE id <> id',
    'DELETE FROM t WHERE id = id AND id = 1',
    'DELETE FROM t WHERE id = 1 OR id = 2',
    'DELETE FROM t WHERE id IS NULL OR other IS NOT NULL',
    'DELETE FROM t WHERE flag IS TRUE OR flag IS FALSE',
    'DELETE FROM t WHERE flag OR NOT other',
    'DELETE FROM t WHERE id OPERATOR(myschema.=) id',
    'DELETE FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.id = t.id)',
    'DELETE FROM t WHERE EXISTS (SELECT 1 LIMIT 0)',
    'DELETE FROM t WHERE id IN (SELECT id FROM u)',
    'DELETE FROM t WHERE id IN (SELECT other FROM t)',
    'DELETE FROM t WHERE id IN (SELECT id FROM t WHERE id > 3)',
    'DELETE FROM t WHERE id BETWEEN 1 AND id',
    'DELETE FROM t WHERE CURRENT OF c',
    'DELETE FROM t WHERE NOT (id = id)',
    'SELECT * FROM t WHERE id = 1',
    'MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE',
  ])('control: %s still restricts', (sql) => {
    expect(one(sql).units[0]?.where).toBe('present')
  })

  it('control: a body that restricts its writes, or runs none, is allowed', () => {
    expect(verdict("CREATE FUNCTION g() RETURNS void LANGUAGE sql AS 'DELETE FROM t WHERE id = 1'")).toBe('allow')
    expect(verdict('CREATE FUNCTION ok() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$')).toBe('allow')
    expect(verdict('DELETE FROM t WHERE id = 7')).toBe('allow')
  })

  it('decides by it: a tautological WHERE is a mass write', () => {
    expect(verdict('DELETE FROM t WHERE id = id')).toBe('deny no-mass-writes')
    expect(verdict('UPDATE t SET a = 1 WHERE ctid IS NOT NULL')).toBe('deny no-mass-writes')
  })
})
