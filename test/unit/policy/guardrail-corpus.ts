/**
 * The guardrail corpus: statements with the decision agw must reach under CORPUS_RULES. The same
 * list is checked by decide() (test/unit/policy/corpus.test.ts) and through a real gateway against
 * the machine's PostgreSQL with psql (simple protocol) and node-postgres (extended protocol with
 * parameters) (test/integration/pg-policy-corpus.test.ts). Tables live in the scratch schema
 * agw_corpus: items(id, name), drop_log(id, note), secrets(k, v).
 */

export type Expect = 'allow' | 'deny' | 'review'

export interface CorpusEntry {
  sql: string
  expect: Expect
  /** The rule that decides (deny and review), when one does. */
  rule?: string
  /** Parameters: the entry runs with node-postgres only. */
  params?: unknown[]
  /** What the extended protocol gets when it differs: a multi-statement text cannot be prepared, so review never comes. */
  extended?: Expect | 'skip'
  /** Simple protocol only (psql). */
  psqlOnly?: boolean
}

/** The rules of the corpus connection (YAML, indented for `connections[0]`). */
export const CORPUS_RULES = `
    rules:
      - { name: no-ddl, match: { statement: [DROP, TRUNCATE, ALTER] }, action: deny, message: schema changes go through migrations }
      - { name: no-unbounded-writes, match: { statement: [DELETE, UPDATE], where: absent }, action: deny, message: add a WHERE that names the rows }
      - { name: writes-need-review, match: { statement: [INSERT, UPDATE, DELETE, MERGE] }, action: review, reviewers: [sre], timeout: 1m }
      - { name: no-secrets, match: { tables: [secrets] }, action: deny }
      - { name: no-roles, match: { statement: [GRANT, REVOKE, CREATE ROLE, ALTER ROLE, DROP ROLE] }, action: deny }
      - { name: no-long-sleep, match: { functions: [pg_sleep], regex: "pg_sleep\\\\s*\\\\(\\\\s*[0-9]{2,}" }, action: deny }
      - { name: reads-ok, match: { statement: [SELECT] }, action: allow }
`

export const CORPUS_SETUP = [
  'DROP SCHEMA IF EXISTS agw_corpus CASCADE',
  'CREATE SCHEMA agw_corpus',
  'CREATE TABLE agw_corpus.items (id int PRIMARY KEY, name text)',
  'CREATE TABLE agw_corpus.drop_log (id int, note text)',
  'CREATE TABLE agw_corpus.secrets (k text, v text)',
  "INSERT INTO agw_corpus.items VALUES (1, 'one'), (2, 'two')",
  "INSERT INTO agw_corpus.drop_log VALUES (1, 'DROP TABLE happened here')",
]

export const CORPUS_TEARDOWN = ['DROP SCHEMA IF EXISTS agw_corpus CASCADE']

const multi: Pick<CorpusEntry, 'extended'> = { extended: 'allow' }

export const CORPUS: CorpusEntry[] = [
  // ---- reads, and text that only looks dangerous ----
  { sql: 'SELECT 1', expect: 'allow', rule: 'reads-ok' },
  { sql: 'select * from agw_corpus.items', expect: 'allow' },
  { sql: "SELECT 'drop table t'", expect: 'allow' },
  { sql: 'SELECT * FROM agw_corpus.drop_log', expect: 'allow' },
  { sql: '-- DELETE everything\nSELECT 1', expect: 'allow' },
  { sql: '/* DROP TABLE agw_corpus.items */ SELECT count(*) FROM agw_corpus.items', expect: 'allow' },
  { sql: `SELECT 'DELETE FROM x' AS "DELETE"`, expect: 'allow' },
  { sql: 'SELECT $$DROP TABLE items$$', expect: 'allow' },
  { sql: 'SELECT $tag$ TRUNCATE $tag$ || $$x$$', expect: 'allow' },
  { sql: 'SELECT "drop" FROM (SELECT 1 AS "drop") s', expect: 'allow' },
  { sql: "SELECT E'\\x44ROP TABLE t'", expect: 'allow' },
  { sql: "SELECT U&'\\0044ROP' AS u", expect: 'allow' },
  { sql: "SELECT 'ünïcödé ✓ DROP TABLE 表' AS text", expect: 'allow' },
  { sql: 'SELECT 1 AS "ドロップ", 2 AS "DROP TABLE"', expect: 'allow' },
  { sql: 'SELECT now(), current_user, version()', expect: 'allow' },
  { sql: 'SELECT count(*) FROM pg_catalog.pg_tables', expect: 'allow' },
  { sql: 'WITH t AS (SELECT 1 AS x) SELECT x FROM t', expect: 'allow' },
  { sql: 'SELECT pg_sleep(0)', expect: 'allow' },
  { sql: 'EXPLAIN DELETE FROM agw_corpus.items', expect: 'allow' },
  { sql: 'SHOW search_path', expect: 'allow' },
  { sql: "SET statement_timeout = '5s'", expect: 'allow' },
  { sql: 'BEGIN; SELECT 1; COMMIT', expect: 'allow', ...multi },
  { sql: 'VALUES (1), (2)', expect: 'allow' },
  { sql: 'SELECT 1; SELECT 2', expect: 'allow', ...multi },
  { sql: 'select/**/1', expect: 'allow' },
  { sql: 'TABLE agw_corpus.items', expect: 'allow' },
  { sql: "SELECT * FROM agw_corpus.items WHERE name = 'x''; DROP TABLE agw_corpus.items; --'", expect: 'allow' },
  { sql: 'SELECT 1 -- ; DROP TABLE agw_corpus.items', expect: 'allow' },
  { sql: 'SELECT 1 /* ; DELETE FROM agw_corpus.items */', expect: 'allow' },
  { sql: 'DECLARE c CURSOR WITH HOLD FOR SELECT 1', expect: 'allow' },
  { sql: 'LISTEN agw_channel', expect: 'allow' },
  { sql: "NOTIFY agw_channel, 'DROP TABLE is a payload'", expect: 'allow' },
  { sql: 'DO $$ BEGIN PERFORM 1; END $$', expect: 'allow' },
  { sql: "DO $$ BEGIN RAISE NOTICE 'DROP TABLE is just text'; END $$", expect: 'allow' },
  { sql: "SELECT lower('DELETE')", expect: 'allow' },
  { sql: 'CREATE TEMP TABLE scratch (x int)', expect: 'allow' },
  { sql: 'COPY (SELECT 1) TO STDOUT', expect: 'allow' },
  { sql: 'ANALYZE agw_corpus.items', expect: 'allow' },
  { sql: 'SELECT * FROM "agw_corpus"."items"', expect: 'allow' },
  { sql: 'SeLeCt 1', expect: 'allow' },
  { sql: 'SELECT id FROM agw_corpus.items ORDER BY id LIMIT 1', expect: 'allow' },
  { sql: 'PREPARE q AS SELECT 1; EXECUTE q', expect: 'allow', ...multi },
  { sql: 'PREPARE q2(int) AS SELECT $1; EXECUTE q2(5); DEALLOCATE q2', expect: 'allow', ...multi },
  { sql: "SELECT set_config('application_name', 'corpus', false)", expect: 'allow' },
  { sql: 'SELECT drop_log.note FROM agw_corpus.drop_log', expect: 'allow' },
  { sql: 'SELECT 1 AS delete, 2 AS truncate, 3 AS "drop"', expect: 'allow' },
  { sql: '   \n\tSELECT 1\n;', expect: 'allow' },
  { sql: 'SELECT * FROM agw_corpus.items WHERE id = $1', expect: 'allow', params: [1] },
  { sql: 'SELECT $1::text AS "drop table"', expect: 'allow', params: ['DROP TABLE agw_corpus.items'] },
  { sql: 'SELECT $1::int + $2::int', expect: 'allow', params: [40, 2] },
  { sql: 'SELECT name FROM agw_corpus.items WHERE name = $1', expect: 'allow', params: ["'; DROP TABLE agw_corpus.items; --"] },

  // ---- schema changes ----
  { sql: 'DROP TABLE agw_corpus.items', expect: 'deny', rule: 'no-ddl' },
  { sql: 'drop table agw_corpus.items', expect: 'deny', rule: 'no-ddl' },
  { sql: 'DrOp TaBlE agw_corpus.items', expect: 'deny', rule: 'no-ddl' },
  { sql: 'DROP TABLE IF EXISTS agw_corpus.nonexistent', expect: 'deny', rule: 'no-ddl' },
  { sql: '/* harmless */ DROP TABLE agw_corpus.items', expect: 'deny', rule: 'no-ddl' },
  { sql: '-- just a comment\nDROP TABLE agw_corpus.items', expect: 'deny', rule: 'no-ddl' },
  { sql: 'SELECT 1; DROP TABLE agw_corpus.items', expect: 'deny', rule: 'no-ddl' },
  { sql: 'SELECT 1;DROP TABLE agw_corpus.items;SELECT 2', expect: 'deny', rule: 'no-ddl' },
  { sql: 'BEGIN; DROP TABLE agw_corpus.items; COMMIT', expect: 'deny', rule: 'no-ddl' },
  { sql: 'TRUNCATE agw_corpus.items', expect: 'deny', rule: 'no-ddl' },
  { sql: 'TRUNCATE TABLE agw_corpus.drop_log', expect: 'deny', rule: 'no-ddl' },
  { sql: 'ALTER TABLE agw_corpus.items ADD COLUMN x int', expect: 'deny', rule: 'no-ddl' },
  { sql: 'ALTER TABLE agw_corpus.items RENAME TO things', expect: 'deny', rule: 'no-ddl' },
  { sql: 'DROP SCHEMA agw_corpus CASCADE', expect: 'deny', rule: 'no-ddl' },
  { sql: 'DROP INDEX IF EXISTS agw_corpus.nope', expect: 'deny', rule: 'no-ddl' },
  { sql: 'DROP VIEW IF EXISTS agw_corpus.v', expect: 'deny', rule: 'no-ddl' },
  { sql: '"DROP" TABLE agw_corpus.items', expect: 'deny' },
  { sql: 'DO $$ BEGIN DROP TABLE agw_corpus.items; END $$', expect: 'deny', rule: 'no-ddl' },
  { sql: "DO $$ BEGIN EXECUTE 'DROP TABLE agw_corpus.items'; END $$", expect: 'deny', rule: 'no-ddl' },
  { sql: "DO $$ BEGIN EXECUTE 'DR' || 'OP TABLE agw_corpus.items'; END $$", expect: 'deny', rule: 'no-ddl' },
  { sql: "DO $body$ DECLARE t text := 'agw_corpus.items'; BEGIN EXECUTE format('TRUNCATE %s', t); END $body$", expect: 'deny', rule: 'no-ddl' },
  { sql: 'DO LANGUAGE plpgsql $$ BEGIN TRUNCATE agw_corpus.items; END $$', expect: 'deny', rule: 'no-ddl' },
  { sql: 'DO $$ BEGIN RAISE; $$', expect: 'deny', rule: 'no-ddl' },
  { sql: 'DO LANGUAGE plperlu $$ system("true") $$', expect: 'deny', rule: 'no-ddl' },

  // ---- unbounded writes ----
  { sql: 'DELETE FROM agw_corpus.items', expect: 'deny', rule: 'no-unbounded-writes' },
  { sql: 'delete from agw_corpus.items where true', expect: 'deny', rule: 'no-unbounded-writes' },
  { sql: 'DELETE FROM agw_corpus.items WHERE 1 = 1', expect: 'deny', rule: 'no-unbounded-writes' },
  { sql: 'UPDATE agw_corpus.items SET name = $$x$$', expect: 'deny', rule: 'no-unbounded-writes' },
  { sql: "update agw_corpus.items set name = 'x' where 'a' = 'a'", expect: 'deny', rule: 'no-unbounded-writes' },
  { sql: 'EXPLAIN ANALYZE DELETE FROM agw_corpus.items', expect: 'deny', rule: 'no-unbounded-writes' },
  { sql: 'WITH d AS (DELETE FROM agw_corpus.items RETURNING *) SELECT count(*) FROM d', expect: 'deny', rule: 'no-unbounded-writes' },
  { sql: "WITH u AS (UPDATE agw_corpus.items SET name = 'x' RETURNING 1) SELECT 1", expect: 'deny', rule: 'no-unbounded-writes' },
  { sql: 'PREPARE p AS DELETE FROM agw_corpus.items; EXECUTE p', expect: 'deny', rule: 'no-unbounded-writes' },
  { sql: 'DO $$ BEGIN DELETE FROM agw_corpus.items; END $$', expect: 'deny', rule: 'no-unbounded-writes' },
  { sql: 'DELETE FROM agw_corpus.items WHERE $1', expect: 'deny', rule: 'no-unbounded-writes', params: [true] },

  // ---- protected tables, roles, functions ----
  { sql: 'SELECT * FROM agw_corpus.secrets', expect: 'deny', rule: 'no-secrets' },
  { sql: 'SELECT (SELECT v FROM agw_corpus.secrets LIMIT 1)', expect: 'deny', rule: 'no-secrets' },
  { sql: 'WITH s AS (SELECT * FROM agw_corpus.secrets) SELECT 1', expect: 'deny', rule: 'no-secrets' },
  { sql: 'COPY agw_corpus.secrets TO STDOUT', expect: 'deny', rule: 'no-secrets' },
  { sql: 'SELECT * FROM "agw_corpus"."secrets"', expect: 'deny', rule: 'no-secrets' },
  { sql: 'GRANT SELECT ON agw_corpus.items TO PUBLIC', expect: 'deny', rule: 'no-roles' },
  { sql: 'REVOKE ALL ON agw_corpus.items FROM PUBLIC', expect: 'deny', rule: 'no-roles' },
  { sql: 'CREATE ROLE agw_corpus_role', expect: 'deny', rule: 'no-roles' },
  { sql: "ALTER ROLE postgres SET work_mem = '64kB'", expect: 'deny', rule: 'no-ddl' },
  { sql: 'SELECT pg_sleep(10)', expect: 'deny', rule: 'no-long-sleep' },
  { sql: 'select pg_catalog.pg_sleep( 60 )', expect: 'deny', rule: 'no-long-sleep' },
  { sql: "SELECT pg_read_file('/etc/passwd')", expect: 'deny', rule: 'builtin:dangerous-functions' },
  { sql: "SELECT pg_catalog.pg_read_file('/etc/hostname', 0, 10)", expect: 'deny', rule: 'builtin:dangerous-functions' },
  { sql: "SELECT * FROM pg_ls_dir('.')", expect: 'deny', rule: 'builtin:dangerous-functions' },
  { sql: "SELECT PG_READ_BINARY_FILE('/etc/passwd')", expect: 'deny', rule: 'builtin:dangerous-functions' },
  { sql: "SELECT lo_import('/etc/passwd')", expect: 'deny', rule: 'builtin:dangerous-functions' },
  { sql: "SELECT lo_export(1, '/tmp/agw_lo')", expect: 'deny', rule: 'builtin:dangerous-functions' },
  { sql: 'SELECT pg_terminate_backend(pg_backend_pid())', expect: 'deny', rule: 'builtin:dangerous-functions' },
  { sql: "COPY agw_corpus.items TO PROGRAM 'cat > /tmp/agw_x'", expect: 'deny', rule: 'builtin:dangerous-functions' },
  { sql: "COPY agw_corpus.items FROM PROGRAM 'echo 1'", expect: 'deny', rule: 'builtin:dangerous-functions' },
  { sql: "COPY (SELECT 1) TO PROGRAM 'true'", expect: 'deny', rule: 'builtin:dangerous-functions' },
  { sql: "COPY agw_corpus.items TO '/tmp/agw_items.csv'", expect: 'deny', rule: 'builtin:dangerous-functions' },
  { sql: "SELECT dblink_connect('host=example.com')", expect: 'deny', rule: 'builtin:dangerous-functions' },
  { sql: "DO $$ BEGIN PERFORM pg_read_file('/etc/passwd'); END $$", expect: 'deny', rule: 'builtin:dangerous-functions' },
  { sql: "WITH x AS (SELECT pg_ls_dir('/')) SELECT * FROM x", expect: 'deny', rule: 'builtin:dangerous-functions' },
  { sql: "SELECT 1 FROM agw_corpus.items WHERE pg_read_file('/etc/passwd') IS NOT NULL", expect: 'deny', rule: 'builtin:dangerous-functions' },
  { sql: 'SELECT pg_read_file($1)', expect: 'deny', rule: 'builtin:dangerous-functions', params: ['/etc/passwd'] },

  // ---- SQL that does not parse ----
  { sql: 'selec 1', expect: 'deny' },
  { sql: 'SELECT FROM WHERE', expect: 'deny' },
  { sql: 'SELECT 1; selec 2', expect: 'deny' },
  { sql: "SELECT 'unterminated", expect: 'deny' },

  // ---- writes that wait for a reviewer (the test gate approves) ----
  { sql: "INSERT INTO agw_corpus.items VALUES (100, 'a') ON CONFLICT DO NOTHING", expect: 'review', rule: 'writes-need-review' },
  { sql: "insert into agw_corpus.items (id, name) values (101, 'b') on conflict do nothing", expect: 'review', rule: 'writes-need-review' },
  { sql: "UPDATE agw_corpus.items SET name = 'z' WHERE id = 100", expect: 'review', rule: 'writes-need-review' },
  { sql: 'DELETE FROM agw_corpus.items WHERE id = 999', expect: 'review', rule: 'writes-need-review' },
  { sql: "WITH n AS (INSERT INTO agw_corpus.items VALUES (102, 'c') ON CONFLICT DO NOTHING RETURNING id) SELECT * FROM n", expect: 'review', rule: 'writes-need-review' },
  {
    sql: "MERGE INTO agw_corpus.items t USING (VALUES (103, 'd')) s(id, name) ON t.id = s.id WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.name)",
    expect: 'review',
    rule: 'writes-need-review',
  },
  { sql: "DO $$ BEGIN UPDATE agw_corpus.items SET name = 'q' WHERE id = 100; END $$", expect: 'review', rule: 'writes-need-review' },
  { sql: "PREPARE w AS INSERT INTO agw_corpus.items VALUES (104, 'e') ON CONFLICT DO NOTHING; EXECUTE w", expect: 'review', rule: 'writes-need-review', ...multi },
  { sql: 'COPY agw_corpus.items FROM STDIN', expect: 'review', rule: 'writes-need-review' },
  { sql: "EXPLAIN ANALYZE INSERT INTO agw_corpus.items VALUES (105, 'f') ON CONFLICT DO NOTHING", expect: 'review', rule: 'writes-need-review' },
  { sql: 'UPDATE agw_corpus.items SET name = $1 WHERE id = $2', expect: 'review', rule: 'writes-need-review', params: ['p', 100] },
  { sql: 'DELETE FROM agw_corpus.items WHERE id = $1', expect: 'review', rule: 'writes-need-review', params: [998] },
  { sql: 'INSERT INTO agw_corpus.items VALUES ($1, $2) ON CONFLICT DO NOTHING', expect: 'review', rule: 'writes-need-review', params: [106, 'g'] },
  { sql: "SELECT 1; UPDATE agw_corpus.items SET name = 'r' WHERE id = 101", expect: 'review', rule: 'writes-need-review', ...multi },

  // ---- issue 10: literals that look like they hide statements (read the same whatever standard_conforming_strings is) ----
  // An escape string ends at the quote after the escaped one: here the DROP is real.
  { sql: "SELECT E'a\\', ' ; DROP TABLE agw_corpus.items; --'", expect: 'deny', rule: 'no-ddl' },
  { sql: "SELECT U&'\\0041', X'1F'::int, B'101'", expect: 'allow' },

  // ---- issue 10: routine bodies are what they run ----
  { sql: 'CREATE FUNCTION agw_corpus.f1() RETURNS void LANGUAGE plpgsql AS $$ BEGIN DROP TABLE agw_corpus.items; END $$', expect: 'deny', rule: 'no-ddl' },
  { sql: 'CREATE OR REPLACE FUNCTION agw_corpus.f2() RETURNS void LANGUAGE sql AS $$ DELETE FROM agw_corpus.items $$', expect: 'deny', rule: 'no-unbounded-writes' },
  { sql: 'CREATE PROCEDURE agw_corpus.p1() LANGUAGE sql BEGIN ATOMIC TRUNCATE agw_corpus.items; END', expect: 'deny', rule: 'no-ddl' },
  { sql: "CREATE PROCEDURE agw_corpus.p2() LANGUAGE plpgsql AS 'BEGIN TRUNCATE agw_corpus.items; END'", expect: 'deny', rule: 'no-ddl' },
  { sql: 'CREATE FUNCTION agw_corpus.f3() RETURNS SETOF text LANGUAGE sql AS $$ SELECT v FROM agw_corpus.secrets $$', expect: 'deny', rule: 'no-secrets' },
  { sql: "CREATE FUNCTION agw_corpus.f4() RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'DROP ' || 'TABLE agw_corpus.items'; END $$", expect: 'deny' },
  { sql: 'CREATE FUNCTION agw_corpus.f5() RETURNS int LANGUAGE plperl AS $$ return 1; $$', expect: 'deny' },

  // ---- issue 10: SQL run from text ----
  { sql: "SELECT query_to_xml('select * from agw_corpus.secrets', true, false, '')", expect: 'deny', rule: 'no-secrets' },
  { sql: "SELECT table_to_xml('agw_corpus.secrets', true, false, '')", expect: 'deny', rule: 'no-secrets' },
  { sql: "SELECT query_to_xml('select ' || 'v from agw_corpus.secrets', true, false, '')", expect: 'deny' },
  { sql: "DO $$ BEGIN EXECUTE 'PREPARE agw_hidden AS DELETE FROM agw_corpus.items'; EXECUTE 'EXECUTE agw_hidden'; END $$", expect: 'deny' },
  { sql: "DO $$ BEGIN EXECUTE 'EXECUTE agw_known'; END $$", expect: 'deny' },
  { sql: 'EXECUTE agw_never_prepared', expect: 'deny' },

  // ---- issue 10: a WHERE that restricts nothing is absent ----
  { sql: 'DELETE FROM agw_corpus.items WHERE id = id', expect: 'deny', rule: 'no-unbounded-writes' },
  { sql: 'DELETE FROM agw_corpus.items i WHERE i.id = id', expect: 'deny', rule: 'no-unbounded-writes' },
  { sql: "UPDATE agw_corpus.items SET name = 'x' WHERE ctid IS NOT NULL", expect: 'deny', rule: 'no-unbounded-writes' },
  { sql: 'DELETE FROM agw_corpus.items WHERE id = 1 OR true', expect: 'deny', rule: 'no-unbounded-writes' },
  { sql: 'DELETE FROM agw_corpus.items WHERE NOT (id <> id)', expect: 'deny', rule: 'no-unbounded-writes' },
  { sql: 'DELETE FROM agw_corpus.items WHERE name IS NULL OR name IS NOT NULL', expect: 'deny', rule: 'no-unbounded-writes' },
  { sql: "UPDATE agw_corpus.items SET name = 'x' WHERE EXISTS (SELECT 1)", expect: 'deny', rule: 'no-unbounded-writes' },
  { sql: "UPDATE agw_corpus.items SET name = 'x' WHERE (1 = 1)::bool", expect: 'deny', rule: 'no-unbounded-writes' },
]
