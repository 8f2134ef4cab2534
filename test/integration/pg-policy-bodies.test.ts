/**
 * Issue 10 items 4 and 7, through the gateway against the machine's real PostgreSQL: a CREATE
 * FUNCTION / PROCEDURE is judged as what its body runs (so a later call cannot run what the rules
 * forbid), and a WHERE that is true on every row counts as absent. Every test checks what the
 * server did (the table is still there, its rows are unchanged), not only what agw said.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest'
import type { BackendMessage } from '../../src/protocols/postgres/codec/index.js'
import { connectTestIssuer } from '../support/oidc.js'
import { direct, startConnected, visible, type ConnectedGateway } from '../support/pg-policy-harness.js'
import { errorsOf, rowsOf, type RawPg } from '../support/pg-raw.js'
import { ScriptedGate } from '../unit/policy/fixtures.js'

const idp = connectTestIssuer(inject('issuerUrl'))
const gate = new ScriptedGate()
let h: ConnectedGateway
const SECRET = 'hunter2-Zq8'
const HIDDEN = 'classified-Xy7'

const SETUP = `DROP SCHEMA IF EXISTS agw_bod CASCADE; CREATE SCHEMA agw_bod;
CREATE TABLE agw_bod.t (id int); INSERT INTO agw_bod.t VALUES (1), (2), (3);
CREATE TABLE agw_bod.users (id int, name text, password text); INSERT INTO agw_bod.users VALUES (1, 'ann', '${SECRET}'), (2, 'bob', '${SECRET}');
CREATE TABLE agw_bod.secret_t (x text); INSERT INTO agw_bod.secret_t VALUES ('${HIDDEN}');`

beforeAll(async () => {
  direct(SETUP)
  h = await startConnected(
    idp,
    `    rules:
      - { name: no-ddl, match: { statement: [DROP, TRUNCATE] }, action: deny, message: schema changes go through migrations }
      - { name: no-mass-writes, match: { statement: [DELETE, UPDATE], where: absent }, action: deny }
      - { name: no-secret-table, match: { tables: [agw_bod.secret_t] }, action: deny }
      - { name: writes, match: { statement: [INSERT] }, action: review, reviewers: [sre] }
    masking:
      columns: [password]
`,
    gate,
  )
})

afterAll(async () => {
  await h?.stop()
  direct('DROP SCHEMA IF EXISTS agw_bod CASCADE')
})

beforeEach(() => {
  // Routines first: a BEGIN ATOMIC body depends on the table it names.
  direct(`DROP ROUTINE IF EXISTS agw_bod.f, agw_bod.g, agw_bod.h, agw_bod.p, agw_bod.p2;
    DROP TABLE IF EXISTS agw_bod.t; CREATE TABLE agw_bod.t (id int); INSERT INTO agw_bod.t VALUES (1), (2), (3)`)
})

const open = (): Promise<RawPg> => h.open()
const tExists = () => direct("SELECT count(*) FROM pg_tables WHERE schemaname = 'agw_bod' AND tablename = 't'")
const tRows = () => direct('SELECT string_agg(id::text, \',\' ORDER BY id) FROM agw_bod.t')

describe('4: routine bodies are judged as what they run', () => {
  it('a PL/pgSQL function whose body drops a table is refused, and calling it drops nothing', async () => {
    const c = await open()
    c.send({ type: 'Query', sql: 'CREATE FUNCTION agw_bod.f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN DROP TABLE agw_bod.t; END $$' })
    const got = await c.until(1)
    c.send({ type: 'Query', sql: 'SELECT agw_bod.f()' })
    await c.until(1)
    c.close()
    expect(errorsOf(got)[0]?.C).toBe('42501')
    expect(tExists()).toBe('1')
  })

  it('a SQL function whose body deletes every row is refused', async () => {
    const c = await open()
    c.send({ type: 'Query', sql: "CREATE FUNCTION agw_bod.g() RETURNS void LANGUAGE sql AS 'DELETE FROM agw_bod.t'" })
    c.send({ type: 'Query', sql: 'SELECT agw_bod.g()' })
    await c.until(2)
    c.close()
    expect(tRows()).toBe('1,2,3')
  })

  it('a procedure with TRUNCATE (BEGIN ATOMIC and a string body) is refused, and CALL truncates nothing', async () => {
    const c = await open()
    c.send({ type: 'Query', sql: 'CREATE PROCEDURE agw_bod.p() LANGUAGE sql BEGIN ATOMIC TRUNCATE agw_bod.t; END' })
    c.send({ type: 'Query', sql: 'CREATE PROCEDURE agw_bod.p2() LANGUAGE plpgsql AS $body$ BEGIN TRUNCATE agw_bod.t; END $body$' })
    c.send({ type: 'Query', sql: 'CALL agw_bod.p()' }, { type: 'Query', sql: 'CALL agw_bod.p2()' })
    await c.until(4)
    c.close()
    expect(tRows()).toBe('1,2,3')
  })

  it('a function in a language agw cannot read is refused when rules judge what statements do', async () => {
    const c = await open()
    c.send({ type: 'Query', sql: "CREATE FUNCTION agw_bod.h() RETURNS int LANGUAGE c AS 'x', 'y'" })
    const got = await c.until(1)
    c.close()
    expect(errorsOf(got)[0]?.C).toBe('42501')
  })
})

describe('4: routine bodies, more variants', () => {
  const run = async (...sql: string[]): Promise<BackendMessage[]> => {
    const c = await open()
    for (const s of sql) c.send({ type: 'Query', sql: s })
    const got = await c.until(sql.length)
    c.close()
    return got
  }

  it('CREATE OR REPLACE cannot swap a harmless body for a DROP', async () => {
    direct('CREATE FUNCTION agw_bod.f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$')
    const got = await run('CREATE OR REPLACE FUNCTION agw_bod.f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN DROP TABLE agw_bod.t; RETURN 1; END $$', 'SELECT agw_bod.f()')
    expect(errorsOf(got)[0]?.C).toBe('42501')
    expect(tExists()).toBe('1')
  })

  it('a procedure with BEGIN ATOMIC deleting every row behind a WHERE that restricts nothing is refused, and CALL deletes nothing', async () => {
    const got = await run('CREATE PROCEDURE agw_bod.p() LANGUAGE sql BEGIN ATOMIC SELECT 1; DELETE FROM agw_bod.t WHERE t.id = t.id; END', 'CALL agw_bod.p()')
    expect(errorsOf(got)[0]?.C).toBe('42501')
    expect(tRows()).toBe('1,2,3')
  })

  it('a SQL function with several statements, one of them a DELETE without WHERE, is refused', async () => {
    const got = await run('CREATE FUNCTION agw_bod.g() RETURNS int LANGUAGE sql AS $$ SELECT 1; DELETE FROM agw_bod.t; SELECT 2 $$', 'SELECT agw_bod.g()')
    expect(errorsOf(got)[0]?.C).toBe('42501')
    expect(tRows()).toBe('1,2,3')
  })

  it('a function created and called in the same Query is refused as a whole', async () => {
    const got = await run('CREATE FUNCTION agw_bod.f() RETURNS void LANGUAGE sql AS $$ DROP TABLE agw_bod.t $$; SELECT agw_bod.f()')
    expect(errorsOf(got).map((e) => e.C)).toEqual(['42501'])
    expect(tExists()).toBe('1')
    expect(direct("SELECT count(*) FROM pg_proc WHERE proname = 'f' AND pronamespace = 'agw_bod'::regnamespace")).toBe('0')
  })

  it('a function whose body creates and calls a function that truncates is refused', async () => {
    const body = "BEGIN EXECUTE 'CREATE FUNCTION agw_bod.h() RETURNS void LANGUAGE sql AS ''TRUNCATE agw_bod.t'''; PERFORM agw_bod.h(); END"
    const got = await run(`CREATE FUNCTION agw_bod.g() RETURNS void LANGUAGE plpgsql AS $$ ${body} $$`, 'SELECT agw_bod.g()')
    expect(errorsOf(got)[0]?.C).toBe('42501')
    expect(tRows()).toBe('1,2,3')
  })

  it('a function that reads a denied table is refused, and calling it returns nothing of it', async () => {
    const got = await run('CREATE FUNCTION agw_bod.g() RETURNS text LANGUAGE sql AS $$ SELECT x FROM agw_bod.secret_t $$', 'SELECT agw_bod.g()')
    expect(errorsOf(got)[0]?.C).toBe('42501')
    expect(visible(got)).not.toContain(HIDDEN)
  })

  it('a function that runs computed SQL is refused (opaque)', async () => {
    const got = await run("CREATE FUNCTION agw_bod.g(n text) RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'DROP TABLE ' || n; END $$", "SELECT agw_bod.g('agw_bod.t')")
    expect(errorsOf(got)[0]?.C).toBe('42501')
    expect(tExists()).toBe('1')
  })

  it('a function that opens a named cursor is refused (opaque)', async () => {
    const got = await run("CREATE FUNCTION agw_bod.g() RETURNS void LANGUAGE plpgsql AS $$ DECLARE c refcursor := 'leak'; BEGIN OPEN c FOR SELECT password FROM agw_bod.users; END $$")
    expect(errorsOf(got)[0]?.C).toBe('42501')
  })

  it('control: a harmless function is created and called', async () => {
    const got = await run('CREATE FUNCTION agw_bod.f(a int) RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN a + 1; END $$', 'SELECT agw_bod.f(41)')
    expect(errorsOf(got)).toEqual([])
    expect(rowsOf(got)).toEqual([['42']])
  })
})

describe('7: a WHERE that restricts nothing counts as absent', () => {
  for (const sql of [
    'DELETE FROM agw_bod.t WHERE id = id',
    'DELETE FROM agw_bod.t WHERE ctid IS NOT NULL',
    'DELETE FROM agw_bod.t WHERE true OR id = 1',
    'DELETE FROM agw_bod.t WHERE id IS NULL OR id IS NOT NULL',
    'DELETE FROM agw_bod.t WHERE EXISTS (SELECT 1)',
    'UPDATE agw_bod.t SET id = id + 10 WHERE t.id = agw_bod.t.id',
    'DELETE FROM agw_bod.t WHERE NOT (id <> id)',
    'DELETE FROM agw_bod.t WHERE (id = id) AND (1 = 1)',
  ]) {
    it(sql, async () => {
      const c = await open()
      c.send({ type: 'Query', sql })
      const got = await c.until(1)
      c.close()
      expect(errorsOf(got).map((e) => e.C)).toEqual(['42501'])
      expect(tRows()).toBe('1,2,3')
    })
  }
})

describe('7: more WHEREs that restrict nothing', () => {
  for (const sql of [
    'DELETE FROM agw_bod.t WHERE xmin IS NOT NULL',
    'DELETE FROM agw_bod.t WHERE agw_bod.t.id >= t.id',
    'DELETE FROM agw_bod.t AS x WHERE x.id = id',
    'DELETE FROM agw_bod.t WHERE id IN (SELECT id FROM agw_bod.t)',
    'DELETE FROM agw_bod.t WHERE id BETWEEN id AND id',
    'DELETE FROM agw_bod.t WHERE (1 = 1)::bool AND id IS NOT DISTINCT FROM id',
    'DELETE FROM agw_bod.t WHERE id = 2 OR ctid IS NOT NULL',
    'UPDATE agw_bod.t SET id = id WHERE EXISTS (SELECT 1 FROM agw_bod.users)',
    'WITH d AS (DELETE FROM agw_bod.t WHERE id = id RETURNING 1) SELECT count(*) FROM d',
  ]) {
    it(sql, async () => {
      const c = await open()
      c.send({ type: 'Query', sql })
      const got = await c.until(1)
      c.close()
      expect(errorsOf(got).map((e) => e.C)).toEqual(['42501'])
      expect(tRows()).toBe('1,2,3')
    })
  }

  it('control: a WHERE that restricts is let through', async () => {
    const c = await open()
    c.send({ type: 'Query', sql: 'DELETE FROM agw_bod.t WHERE id = 2' })
    const got = await c.until(1)
    c.close()
    expect(errorsOf(got)).toEqual([])
    expect(tRows()).toBe('1,3')
  })
})
