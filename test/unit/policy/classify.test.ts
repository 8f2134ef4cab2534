// classify(): statements as the server's grammar reads them, and the LRU that makes a repeated
// statement cost a lookup.
import { beforeAll, describe, expect, it } from 'vitest'
import { numberKey } from '../../../src/policy/classifier.js'
import { classify, Classifier, copyQueryText, loadParser, type Statement } from '../../../src/policy/index.js'
import { Lru } from '../../../src/policy/lru.js'

beforeAll(() => loadParser())

function one(sql: string): Statement {
  const c = classify(sql)
  if (!c.ok) throw new Error(c.error)
  expect(c.statements).toHaveLength(1)
  return c.statements[0]!
}

const kinds = (s: Statement) => s.units.map((u) => `${u.detail}${u.where ? `/${u.where}` : ''}`)

describe('classify', () => {
  it.each([
    ['SELECT 1', 'SELECT', ['SELECT/absent']],
    ['select * from t where id = 1', 'SELECT', ['SELECT/present']],
    ['DELETE FROM t', 'DELETE', ['DELETE/absent']],
    ['DELETE FROM t WHERE id = $1', 'DELETE', ['DELETE/present']],
    ['DELETE FROM t WHERE true', 'DELETE', ['DELETE/absent']],
    ['DELETE FROM t WHERE CURRENT OF c', 'DELETE', ['DELETE/present']],
    ['UPDATE t SET a = 1 WHERE 1 = 1', 'UPDATE', ['UPDATE/absent']],
    ['DROP TABLE a, b.c', 'DROP', ['DROP TABLE']],
    ['DROP MATERIALIZED VIEW v', 'DROP', ['DROP MATERIALIZED VIEW']],
    ['CREATE INDEX i ON t (c)', 'CREATE', ['CREATE INDEX']],
    ['CREATE ROLE r', 'CREATE', ['CREATE ROLE']],
    ['ALTER SYSTEM SET work_mem = 1', 'ALTER', ['ALTER SYSTEM']],
    ['GRANT SELECT ON t TO u', 'GRANT', ['GRANT']],
    ['REVOKE SELECT ON t FROM u', 'REVOKE', ['REVOKE']],
    ['BEGIN', 'BEGIN', ['BEGIN']],
    ['ROLLBACK TO SAVEPOINT s', 'ROLLBACK', ['ROLLBACK']],
    ['RESET ALL', 'RESET', ['RESET']],
    ['SELECT 1 INTO t2', 'CREATE', ['SELECT INTO/absent', 'SELECT/absent']],
    ['WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d', 'SELECT', ['SELECT/absent', 'DELETE/absent']],
    ['EXPLAIN DELETE FROM t', 'EXPLAIN', ['EXPLAIN']],
    ['EXPLAIN (ANALYZE) DELETE FROM t', 'EXPLAIN', ['EXPLAIN', 'DELETE/absent']],
    ['EXPLAIN (ANALYZE false) DELETE FROM t', 'EXPLAIN', ['EXPLAIN']],
    ['MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE', 'MERGE', ['MERGE/present', 'DELETE/present']],
    ['COPY t FROM STDIN', 'COPY', ['COPY', 'COPY FROM']],
    ['DO $$ BEGIN UPDATE t SET a = 1; END $$', 'DO', ['DO', 'UPDATE/absent']],
  ])('%s', (sql, kind, units) => {
    const s = one(sql)
    expect(s.kind).toBe(kind)
    expect(kinds(s)).toEqual(units)
  })

  it('splits several statements, each with its own text', () => {
    const c = classify("SELECT 'a;b'; DROP TABLE x ; -- done")
    expect(c.ok && c.statements.map((s) => [s.kind, s.text])).toEqual([
      ['SELECT', "SELECT 'a;b'"],
      ['DROP', 'DROP TABLE x'],
    ])
  })

  it('slices statement texts by bytes, so text after non-ASCII characters is right', () => {
    const c = classify("SELECT 'é✓'; DELETE FROM t")
    expect(c.ok && c.statements.map((s) => s.text)).toEqual(["SELECT 'é✓'", 'DELETE FROM t'])
  })

  it('names relations (not CTEs), schemas and called functions, in expressions and subqueries too', () => {
    const s = one('WITH c AS (SELECT * FROM s1.a) SELECT upper(x), (SELECT pg_catalog.now()) FROM c JOIN b ON true WHERE f(1) > 0')
    expect(s.tables.sort()).toEqual(['b', 's1.a'])
    expect(s.schemas.sort()).toEqual(['pg_catalog', 's1'])
    expect(s.functions.sort()).toEqual(['f', 'pg_catalog.now', 'upper'])
  })

  it('reads COPY: direction, program, server files, format options', () => {
    expect(one("COPY t TO PROGRAM 'gzip > /tmp/x'").copy).toMatchObject({ direction: 'to', program: true, file: false })
    expect(one("COPY t FROM '/etc/passwd'").serverAccess).toEqual(['COPY FROM a server file'])
    expect(one('COPY (SELECT 1) TO STDOUT WITH (FORMAT csv, HEADER)').copy).toMatchObject({ format: 'csv', delimiter: ',', header: true, program: false })
    expect(one('COPY t (a, b) TO STDOUT').copy?.columns).toEqual(['a', 'b'])
  })

  it('reads prepared-statement bookkeeping', () => {
    expect(one('PREPARE p (int) AS DELETE FROM t WHERE id = $1').prepare).toMatchObject({ name: 'p', statements: [{ kind: 'DELETE' }] })
    expect(one('EXECUTE p (1)').execute).toEqual({ name: 'p' })
    expect(one('DEALLOCATE p').deallocate).toEqual({ name: 'p' })
    expect(one('DEALLOCATE ALL').deallocate).toEqual({ name: null })
    expect(one('DISCARD ALL').deallocate).toEqual({ name: null })
  })

  it('reads the SQL inside DO blocks; dynamic SQL it cannot read makes the block opaque', () => {
    const s = one("DO $$ BEGIN PERFORM pg_read_file('/x'); EXECUTE 'TRUNCATE t'; END $$")
    expect(s.functions).toContain('pg_read_file')
    expect(kinds(s)).toContain('TRUNCATE')
    expect(s.opaque).toBeUndefined()
    expect(one("DO $$ BEGIN EXECUTE 'DROP ' || 'TABLE t'; END $$").opaque).toMatch(/dynamic SQL/)
    expect(one('DO LANGUAGE plpython3u $$ pass $$').opaque).toMatch(/plpython3u/)
    expect(one('DO $$ BEGIN RAISE; $$').opaque).toMatch(/does not parse/)
  })

  it('reports what does not parse, with the server grammar error', () => {
    expect(classify('SELEC 1')).toEqual({ ok: false, error: 'syntax error at or near "SELEC"' })
    expect(classify('')).toEqual({ ok: true, statements: [] })
    expect(classify('-- only a comment')).toEqual({ ok: true, statements: [] })
  })

  it('refuses trees nested too deeply to check (fail closed), not the process stack', () => {
    const deep = `SELECT ${'abs('.repeat(3000)}1${')'.repeat(3000)}`
    expect(classify(deep).ok).toBe(false)
  })
})

describe('Classifier cache', () => {
  it('parses a repeated text once', () => {
    const c = new Classifier(2)
    c.classify('SELECT a')
    c.classify('SELECT a')
    c.classify('SELECT b')
    c.classify('SELECT a')
    expect({ hits: c.hits, misses: c.misses }).toEqual({ hits: 2, misses: 2 })
  })

  it('shares one parse between texts that differ only in numeric literals, with each its own text', () => {
    const c = new Classifier()
    const a = c.classify('SELECT abalance FROM pgbench_accounts WHERE aid = 12345; SELECT 2')
    const b = c.classify('SELECT abalance FROM pgbench_accounts WHERE aid = 67890; SELECT 7')
    expect({ hits: c.hits, misses: c.misses }).toEqual({ hits: 1, misses: 1 })
    expect(b.ok && b.statements.map((s) => s.text)).toEqual(['SELECT abalance FROM pgbench_accounts WHERE aid = 67890', 'SELECT 7'])
    expect(a.ok && a.statements[0]!.text).toBe('SELECT abalance FROM pgbench_accounts WHERE aid = 12345')
  })

  it('never shares a parse where a digit may not be a number: quotes, dollar quotes, comments, identifiers', () => {
    expect(numberKey('SELECT * FROM t1 WHERE id = 42')).toBe('SELECT * FROM t1 WHERE id = 00')
    expect(numberKey('SELECT * FROM "1" WHERE id = 42')).toBeUndefined()
    expect(numberKey("SELECT '1'")).toBeUndefined()
    expect(numberKey('DO $$ BEGIN EXECUTE 1; END $$')).toBeUndefined()
    expect(numberKey('SELECT 1 -- 2')).toBeUndefined()
    expect(numberKey('SELECT 1 /* 2 */')).toBeUndefined()
    expect(numberKey('SELECT 0')).toBeUndefined()
  })

  it('keeps statements whose meaning depends on a number (HEADER 0, ANALYZE 1) apart', () => {
    const c = new Classifier()
    const off = c.classify('COPY t TO STDOUT WITH (FORMAT csv, HEADER 0)')
    const on = c.classify('COPY t TO STDOUT WITH (FORMAT csv, HEADER 1)')
    expect(off.ok && off.statements[0]!.copy?.header).toBe(false)
    expect(on.ok && on.statements[0]!.copy?.header).toBe(true)
    const plain = c.classify('EXPLAIN (ANALYZE 0) DELETE FROM t')
    const run = c.classify('EXPLAIN (ANALYZE 1) DELETE FROM t')
    expect(plain.ok && plain.statements[0]!.units.map((u) => u.kind)).toEqual(['EXPLAIN'])
    expect(run.ok && run.statements[0]!.units.map((u) => u.kind)).toEqual(['EXPLAIN', 'DELETE'])
  })

  it('is bounded and evicts the least recently used', () => {
    const l = new Lru<string, number>(2)
    l.set('a', 1)
    l.set('b', 2)
    l.get('a')
    l.set('c', 3)
    expect([l.get('a'), l.get('b'), l.get('c'), l.size]).toEqual([1, undefined, 3, 2])
  })
})

describe('copyQueryText', () => {
  it("cuts the query of COPY (query) TO with the server's scanner", () => {
    expect(copyQueryText('COPY (SELECT * FROM t) TO STDOUT')).toBe('SELECT * FROM t')
    expect(copyQueryText("copy ( select ')' , $q$ ) $q$ /* ) */ from (select 1) s ) to stdout with csv")).toBe(" select ')' , $q$ ) $q$ /* ) */ from (select 1) s ")
    expect(copyQueryText("COPY (SELECT 'é' AS \"ü\") TO STDOUT")).toBe("SELECT 'é' AS \"ü\"")
  })
  it('is undefined for a COPY of a table, and for anything else', () => {
    expect(copyQueryText('COPY t TO STDOUT')).toBeUndefined()
    expect(copyQueryText('SELECT (1)')).toBeUndefined()
    expect(copyQueryText('COPY (SELECT 1')).toBeUndefined()
  })
})
