/**
 * Issue 10 items 5 and 6: column masking is lineage-based and fails closed. Values of a masked column
 * must not reach the agent through NOTIFY payloads, SQL run from text (query_to_xml and its family),
 * rows turned into values (json_each_text(row_to_json(u))), session state (set_config, then
 * current_setting) or statistics (pg_stats), through the gateway against the real PostgreSQL.
 * Every test checks what the client could read, not only what agw said.
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

const SETUP = `DROP SCHEMA IF EXISTS agw_lin CASCADE; CREATE SCHEMA agw_lin;
CREATE TABLE agw_lin.t (id int); INSERT INTO agw_lin.t VALUES (1), (2), (3);
CREATE TABLE agw_lin.users (id int, name text, password text); INSERT INTO agw_lin.users VALUES (1, 'ann', '${SECRET}'), (2, 'bob', '${SECRET}');
CREATE TABLE agw_lin.secret_t (x text); INSERT INTO agw_lin.secret_t VALUES ('${HIDDEN}');
CREATE TABLE agw_lin.notes (id int, body text);`

beforeAll(async () => {
  direct(SETUP)
  h = await startConnected(
    idp,
    `    rules:
      - { name: no-ddl, match: { statement: [DROP, TRUNCATE] }, action: deny, message: schema changes go through migrations }
      - { name: no-mass-writes, match: { statement: [DELETE, UPDATE], where: absent }, action: deny }
      - { name: no-secret-table, match: { tables: [agw_lin.secret_t] }, action: deny }
    masking:
      columns: [password]
`,
    gate,
  )
})

afterAll(async () => {
  await h?.stop()
  direct('DROP SCHEMA IF EXISTS agw_lin CASCADE')
})

beforeEach(() => {
  direct(`SET client_min_messages = warning; DROP TABLE IF EXISTS agw_lin.t; CREATE TABLE agw_lin.t (id int); INSERT INTO agw_lin.t VALUES (1), (2), (3);
    TRUNCATE agw_lin.notes; DROP TABLE IF EXISTS agw_lin.copied; DROP VIEW IF EXISTS agw_lin.v`)
})

const open = (): Promise<RawPg> => h.open()

describe('5: NOTIFY payloads', () => {
  it('a masked column sent through pg_notify does not reach a listener raw', async () => {
    const listener = await open()
    listener.send({ type: 'Query', sql: 'LISTEN agw_lin_ch' })
    await listener.until(1)
    const c = await open()
    c.send({ type: 'Query', sql: "SELECT pg_notify('agw_lin_ch', password) FROM agw_lin.users" })
    c.send({ type: 'Query', sql: 'NOTIFY agw_lin_ch, \'done\'' })
    await c.until(2)
    await expect.poll(() => listener.got.some((m) => m.type === 'NotificationResponse' && m.payload === 'done')).toBe(true)
    listener.send({ type: 'Query', sql: 'SELECT 1' })
    const got = await listener.until(1)
    listener.close()
    c.close()
    expect(visible(got)).not.toContain(SECRET)
  })
})

describe('6: SQL that runs SQL from text, rows as values, session state, statistics', () => {
  const read = async (...sql: string[]): Promise<BackendMessage[]> => {
    const c = await open()
    for (const s of sql) c.send({ type: 'Query', sql: s })
    const got = await c.until(sql.length)
    c.close()
    return got
  }

  it('query_to_xml of a masked column', async () => {
    expect(visible(await read("SELECT query_to_xml('select password from agw_lin.users', true, false, '')"))).not.toContain(SECRET)
  })
  it('query_to_xml of a denied table', async () => {
    const got = await read("SELECT query_to_xml('select x from agw_lin.secret_t', true, false, '')")
    expect(visible(got)).not.toContain(HIDDEN)
  })
  it('cursor_to_xml and table_to_xml', async () => {
    expect(visible(await read("SELECT table_to_xml('agw_lin.users', true, false, '')"))).not.toContain(SECRET)
    expect(visible(await read("SELECT table_to_xml('agw_lin.secret_t', true, false, '')"))).not.toContain(HIDDEN)
  })
  it('json_each_text(row_to_json(u)), also in COPY TO STDOUT', async () => {
    expect(visible(await read('SELECT j.value FROM agw_lin.users u, json_each_text(row_to_json(u)) j'))).not.toContain(SECRET)
    expect(visible(await read('SELECT value FROM agw_lin.users u CROSS JOIN LATERAL jsonb_each_text(to_jsonb(u))'))).not.toContain(SECRET)
    expect(visible(await read('COPY (SELECT j.value FROM agw_lin.users u, json_each_text(row_to_json(u)) j) TO STDOUT'))).not.toContain(SECRET)
  })
  it('set_config() of a masked value, then current_setting() in a later statement', async () => {
    expect(visible(await read("SELECT set_config('agw.leak', password, false) IS NULL FROM agw_lin.users LIMIT 1", "SELECT current_setting('agw.leak', true)"))).not.toContain(SECRET)
  })
  it('pg_stats after ANALYZE', async () => {
    direct('ANALYZE agw_lin.users')
    expect(visible(await read("SELECT most_common_vals::text, histogram_bounds::text FROM pg_stats WHERE schemaname = 'agw_lin' AND tablename = 'users'"))).not.toContain(SECRET)
    expect(visible(await read("SELECT * FROM pg_stats WHERE schemaname = 'agw_lin' AND tablename = 'users'"))).not.toContain(SECRET)
  })
})


/** What a listener on agw_lin_ch receives while another session runs `sql` (then NOTIFY 'done'). */
async function notified(sql: string): Promise<{ listener: string; errors: string[] }> {
  const listener = await open()
  listener.send({ type: 'Query', sql: 'LISTEN agw_lin_ch' })
  await listener.until(1)
  const c = await open()
  c.send({ type: 'Query', sql })
  c.send({ type: 'Query', sql: "NOTIFY agw_lin_ch, 'done'" })
  const mine = await c.until(2)
  await expect.poll(() => listener.got.some((m) => m.type === 'NotificationResponse' && m.payload === 'done')).toBe(true)
  listener.send({ type: 'Query', sql: 'SELECT 1' })
  const got = await listener.until(1)
  listener.close()
  c.close()
  return { listener: visible(got), errors: errorsOf(mine).map((e) => e.C ?? '') }
}

const read = async (...sql: string[]): Promise<BackendMessage[]> => {
  const c = await open()
  for (const s of sql) c.send({ type: 'Query', sql: s })
  const got = await c.until(sql.length)
  c.close()
  return got
}

describe('5 (variants): a masked value is refused at the pg_notify call', () => {
  for (const sql of [
    "SELECT pg_notify('agw_lin_ch', 'x' || password) FROM agw_lin.users",
    "SELECT pg_notify('agw_lin_ch', concat('p=', password)) FROM agw_lin.users",
    "SELECT pg_notify('agw_lin_ch', u::text) FROM agw_lin.users u",
    "SELECT pg_notify('agw_lin_ch', row(u.*)::text) FROM agw_lin.users u",
    "WITH s AS (SELECT password AS p FROM agw_lin.users) SELECT pg_catalog.pg_notify('agw_lin_ch', p) FROM s",
    "SELECT pg_notify('agw_lin_ch', v) FROM agw_lin.users u, LATERAL (SELECT u.password) x(v)",
    "SELECT pg_notify('agw_lin_ch', (SELECT password FROM agw_lin.users LIMIT 1))",
  ]) {
    it(sql, async () => {
      const r = await notified(sql)
      expect(r.listener).not.toContain(SECRET)
      expect(r.errors).toEqual(['42501'])
    })
  }

  it('a payload from an unmasked column is delivered', async () => {
    const r = await notified("SELECT pg_notify('agw_lin_ch', name) FROM agw_lin.users")
    expect(r.errors).toEqual([])
    expect(r.listener).toContain('ann')
  })
})

describe('6 (variants): rows as values, SQL from text, session state, statistics', () => {
  it.each([
    ['jsonb_each(to_jsonb(u))', 'SELECT j.value::text FROM agw_lin.users u, jsonb_each(to_jsonb(u)) j'],
    ['jsonb_each_text in the target list', 'SELECT (jsonb_each_text(to_jsonb(u))).value FROM agw_lin.users u'],
    ['json_each_text of a row built from a subquery', 'SELECT value FROM (SELECT * FROM agw_lin.users) s, json_each_text(row_to_json(s))'],
    ['json_populate_record / json_to_record', 'SELECT x.a FROM agw_lin.users u, json_to_record(row_to_json(u)) AS x(a text, password text)'],
    ['unnest(array[password])', 'SELECT x FROM agw_lin.users u, unnest(array[u.password]) x'],
    ['regexp_split_to_table(password)', "SELECT s FROM agw_lin.users u, regexp_split_to_table(u.password, '-') s"],
    ['array_agg(password)', 'SELECT array_agg(password) FROM agw_lin.users'],
    ['string_agg(password)', "SELECT string_agg(password, ',') FROM agw_lin.users"],
    ['row(u.*)::text', 'SELECT row(u.*)::text FROM agw_lin.users u'],
    ["format('%s', password)", "SELECT format('%s', password) FROM agw_lin.users"],
    ['xmlelement', 'SELECT xmlelement(name x, password) FROM agw_lin.users'],
    ['xmlforest of a whole row', 'SELECT xmlforest(u.name, u.password) FROM agw_lin.users u'],
    ['query_to_xml, schema-qualified, in a subquery', "SELECT (SELECT pg_catalog.query_to_xml('select password from agw_lin.users', true, false, '')) AS x"],
    ['query_to_xml of a star', "SELECT query_to_xml('select * from agw_lin.users', true, false, '')"],
    ['query_to_xml_and_xmlschema', "SELECT query_to_xml_and_xmlschema('select password as p from agw_lin.users', true, false, '')"],
    ['COPY (json_each_text(row_to_json(u))) TO STDOUT', 'COPY (SELECT json_each_text(row_to_json(u)) FROM agw_lin.users u) TO STDOUT'],
    ['COPY (jsonb_each_text(to_jsonb(u))) TO STDOUT CSV', 'COPY (SELECT j.key, j.value FROM agw_lin.users u, jsonb_each_text(to_jsonb(u)) j) TO STDOUT (FORMAT csv)'],
    ['pg_stats in a subquery', "SELECT (SELECT histogram_bounds::text FROM pg_catalog.pg_stats WHERE schemaname = 'agw_lin' AND tablename = 'users' AND attname = 'password') AS h"],
    ['pg_statistic', "SELECT stavalues1::text, stavalues2::text FROM pg_statistic WHERE starelid = 'agw_lin.users'::regclass"],
  ])('%s', async (_, sql) => {
    direct('ANALYZE agw_lin.users')
    expect(visible(await read(sql))).not.toContain(SECRET)
  })

  it('query_to_xml of SQL that is not a constant does not run it', async () => {
    const got = await read("SELECT query_to_xml('select pass' || 'word from agw_lin.users', true, false, '')")
    expect(visible(got)).not.toContain(SECRET)
    expect(errorsOf(got).map((e) => e.C)).toEqual(['42501'])
  })

  it('set_config() inside a CTE, then current_setting()', async () => {
    const got = await read("WITH s AS (SELECT set_config('agw.leak2', password, false) FROM agw_lin.users) SELECT count(*) FROM s", "SELECT current_setting('agw.leak2', true)")
    expect(visible(got)).not.toContain(SECRET)
    expect(errorsOf(got).map((e) => e.C)).toEqual(['42501'])
  })

  it('set_config() of a whole row', async () => {
    const got = await read("SELECT set_config('agw.leak3', u::text, false) FROM agw_lin.users u LIMIT 1", "SELECT current_setting('agw.leak3', true)")
    expect(visible(got)).not.toContain(SECRET)
  })

  it('a masked value written into another table, view or column is refused', async () => {
    for (const sql of [
      'INSERT INTO agw_lin.notes SELECT id, password FROM agw_lin.users',
      'INSERT INTO agw_lin.notes (id, body) SELECT id, upper(password) FROM agw_lin.users',
      "INSERT INTO agw_lin.notes VALUES (1, (SELECT password FROM agw_lin.users LIMIT 1))",
      'INSERT INTO agw_lin.notes (id, body) SELECT id, u::text FROM agw_lin.users u',
      'CREATE TABLE agw_lin.copied AS SELECT id, password AS p FROM agw_lin.users',
      'SELECT password AS p INTO agw_lin.copied FROM agw_lin.users',
      'CREATE VIEW agw_lin.v AS SELECT password AS p FROM agw_lin.users',
      'CREATE TABLE agw_lin.copied (a, b, c) AS SELECT * FROM agw_lin.users',
    ]) {
      const got = await read(sql)
      expect(errorsOf(got).map((e) => e.C), sql).toEqual(['42501'])
    }
    direct("INSERT INTO agw_lin.notes VALUES (9, 'x')")
    for (const sql of ['UPDATE agw_lin.notes SET body = (SELECT password FROM agw_lin.users LIMIT 1) WHERE id = 9', 'UPDATE agw_lin.notes n SET body = u.password FROM agw_lin.users u WHERE n.id = 9']) {
      const got = await read(sql)
      expect(errorsOf(got).map((e) => e.C), sql).toEqual(['42501'])
    }
    expect(direct('SELECT string_agg(body, \',\') FROM agw_lin.notes')).toBe('x')
    expect(direct("SELECT count(*) FROM pg_class WHERE relname IN ('copied', 'v') AND relnamespace = 'agw_lin'::regnamespace")).toBe('0')
  })
})

describe('what reads no masked column keeps working', () => {
  it.each([
    ['SELECT id, name FROM agw_lin.users ORDER BY id', 'ann'],
    ['SELECT count(*) FROM agw_lin.users', '2'],
    ["SELECT query_to_xml('select id, name from agw_lin.users', true, false, '')", 'ann'],
    ["SELECT set_config('agw.ok', name, false) FROM agw_lin.users WHERE id = 1", 'ann'],
    ["SELECT j.value FROM agw_lin.t, json_each_text(json_build_object('a', 'plain')) j LIMIT 1", 'plain'],
    ['SELECT x FROM generate_series(1, 3) x ORDER BY x DESC LIMIT 1', '3'],
  ])('%s', async (sql, want) => {
    const got = await read(sql)
    expect(errorsOf(got)).toEqual([])
    expect(rowsOf(got).flat().join('|')).toContain(want)
  })

  it('writes of unmasked values, and of a masked value into a masked column', async () => {
    for (const sql of ['INSERT INTO agw_lin.notes (id, body) SELECT id, name FROM agw_lin.users', 'CREATE TABLE agw_lin.copied AS SELECT id, name, password FROM agw_lin.users']) {
      const got = await read(sql)
      expect(errorsOf(got), sql).toEqual([])
    }
    expect(direct('SELECT count(*) FROM agw_lin.notes')).toBe('2')
    expect(visible(await read('SELECT * FROM agw_lin.copied'))).not.toContain(SECRET)
  })
})
