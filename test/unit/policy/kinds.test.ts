// The statement kinds and details a rule may name: exactly what the classifier can produce, so a
// rule naming anything else (`statement: [DROPP]`) is refused at start instead of never matching.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { classify, loadParser } from '../../../src/policy/index.js'
import { NOT_STATEMENTS, STATEMENT_DETAILS, STATEMENT_KINDS, STATEMENT_TYPES, isStatementKind, unknownKindProblem } from '../../../src/policy/kinds.js'

beforeAll(() => loadParser())

describe('statement kinds', () => {
  it('lists every statement node type of the parser this build uses (a libpg-query upgrade that adds one fails here)', () => {
    const require = createRequire(import.meta.url)
    const typesDir = dirname(require.resolve('@pgsql/types/package.json', { paths: [dirname(require.resolve('libpg-query'))] }))
    const text = readFileSync(join(typesDir, 'types.d.ts'), 'utf8')
    const inTree = new Set([...text.matchAll(/^\s+([A-Za-z]+Stmt): \1;/gm)].map((m) => m[1] as string))
    expect(inTree.size).toBeGreaterThan(100)
    const known = new Set([...STATEMENT_TYPES, ...NOT_STATEMENTS])
    expect([...inTree].filter((t) => !known.has(t))).toEqual([])
    expect([...known].filter((t) => !inTree.has(t))).toEqual([])
  })

  it.each([
    'SELECT 1',
    'SELECT * INTO t2 FROM t',
    'INSERT INTO t VALUES (1)',
    'UPDATE t SET a = 1',
    'DELETE FROM t',
    'MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE WHEN NOT MATCHED THEN INSERT VALUES (1)',
    'WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d',
    'COPY t FROM STDIN',
    'COPY t TO STDOUT',
    'TRUNCATE t',
    'DROP TABLE t',
    'DROP DATABASE d',
    'DROP ROLE r',
    'DROP OPERATOR CLASS c USING btree',
    'DROP TEXT SEARCH CONFIGURATION c',
    'DROP STATISTICS s',
    'DROP TABLESPACE ts',
    'CREATE DATABASE d',
    'CREATE TABLE t (a int)',
    'CREATE TABLE t2 AS SELECT 1',
    'CREATE MATERIALIZED VIEW v AS SELECT 1',
    'CREATE VIEW v AS SELECT 1',
    'CREATE INDEX i ON t (a)',
    'CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$',
    'CREATE PROCEDURE p() LANGUAGE sql AS $$ SELECT 1 $$',
    'CREATE TRIGGER tr AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()',
    'CREATE SEQUENCE s',
    'CREATE ROLE r',
    'CREATE EXTENSION e',
    'CREATE TYPE c AS ENUM (\'a\')',
    'ALTER TABLE t ADD COLUMN b int',
    'ALTER SEQUENCE s RESTART',
    'ALTER ROLE r SET search_path = x',
    'ALTER SYSTEM SET work_mem = 1',
    'ALTER TABLE t RENAME TO u',
    'GRANT SELECT ON t TO r',
    'REVOKE SELECT ON t FROM r',
    'GRANT r TO s',
    'BEGIN',
    'COMMIT',
    'ROLLBACK',
    'SAVEPOINT s',
    'ROLLBACK TO s',
    'PREPARE TRANSACTION \'x\'',
    'COMMIT PREPARED \'x\'',
    'SET work_mem = 1',
    'RESET ALL',
    'SHOW work_mem',
    'DO $$ BEGIN NULL; END $$',
    'CALL p()',
    'PREPARE q AS SELECT 1',
    'EXECUTE q',
    'DEALLOCATE q',
    'EXPLAIN SELECT 1',
    'VACUUM t',
    'ANALYZE t',
    'LOCK t',
    'LISTEN c',
    'NOTIFY c',
    'DECLARE c CURSOR FOR SELECT 1',
    'FETCH c',
    'MOVE c',
    'CLOSE c',
    'REFRESH MATERIALIZED VIEW v',
    'COMMENT ON TABLE t IS \'x\'',
    'SECURITY LABEL ON TABLE t IS \'x\'',
    'DISCARD ALL',
    'CHECKPOINT',
  ])('what the classifier makes of %s is a kind and detail a rule may name', (sql) => {
    const c = classify(sql)
    if (!c.ok) throw new Error(c.error)
    for (const s of c.statements) {
      for (const u of s.units) {
        expect(STATEMENT_KINDS.has(u.kind), u.kind).toBe(true)
        expect(STATEMENT_DETAILS.has(u.detail), u.detail).toBe(true)
      }
    }
  })

  it('names details as SQL writes them', () => {
    const detail = (sql: string) => {
      const c = classify(sql)
      if (!c.ok) throw new Error(c.error)
      return c.statements[0]?.detail
    }
    expect(detail('CREATE TRIGGER tr AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()')).toBe('CREATE TRIGGER')
    expect(detail('CREATE PROCEDURE p() LANGUAGE sql AS $$ SELECT 1 $$')).toBe('CREATE PROCEDURE')
    expect(detail('DROP DATABASE d')).toBe('DROP DATABASE')
    expect(detail('DROP OPERATOR FAMILY f USING btree')).toBe('DROP OPERATOR FAMILY')
  })

  it('accepts kinds and details in any case and spacing, and refuses the rest with the nearest name', () => {
    expect(isStatementKind('drop   table')).toBe(true)
    expect(isStatementKind('Create Function')).toBe(true)
    expect(isStatementKind('COPY FROM')).toBe(true)
    expect(unknownKindProblem('DELETE')).toBeUndefined()
    expect(unknownKindProblem('DROPP')).toMatch(/unknown statement kind "DROPP".*did you mean DROP\?/)
    expect(unknownKindProblem('CREATE FUNCTON')).toMatch(/did you mean CREATE FUNCTION\?/)
    expect(unknownKindProblem('UPSERT')).toMatch(/did you mean INSERT\?/)
    expect(unknownKindProblem('XYZZY PLUGH')).toMatch(/see docs\/policy\.md/)
  })
})
