/**
 * pg-lexer.ts against PostgreSQL's own scanner (libpg-query's scanSync, which reads with
 * standard_conforming_strings on). The reading with the setting off is checked against the real
 * server in test/integration/pg-lexer-server.test.ts.
 */
import fc from 'fast-check'
import { loadModule, scanSync } from 'libpg-query'
import { beforeAll, describe, expect, it } from 'vitest'
import { encodingDependent, escapeStringForm, literalsOf, scsDependent } from '../../../src/policy/pg-lexer.js'

beforeAll(async () => {
  await loadModule()
})

/** Pieces that exercise every scanner state the lexer follows. */
const FRAGMENTS = ["'", "''", '\\', "\\'", 'a', 'E', 'e', 'N', 'B', 'X', 'U&', ' ', '\n', '--', '/*', '*/', '"', '$$', '$q$', '$', 'x1', '_', ',', ';', '(', ')', 'SELECT ']
export const sqlText = fc.array(fc.constantFrom(...FRAGMENTS), { maxLength: 24 }).map((a) => a.join(''))

/** String tokens as scanSync names them: SCONST, and bit / hex / Unicode strings (it calls those UNKNOWN). */
const isString = (t: { tokenName: string; text: string }): boolean => t.tokenName === 'SCONST' || (t.tokenName === 'UNKNOWN' && /^(b'|x'|u&')/i.test(t.text))

describe('scsDependent', () => {
  it.each([
    ["SELECT 'a\\', ' ; DROP TABLE t; --'", true],
    ["SELECT 'a\\b'", true],
    ["SELECT E'a\\'b'", false],
    ['SELECT $$a\\$$', false],
    ['SELECT "a\\b" FROM t', false],
    ['SELECT 1 -- it\\s', false],
    ["SELECT N'a\\'", true],
    ["SELECT 'a'\n'\\b'", true],
    ["SELECT U&'\\0041'", false],
  ])('%j -> %s', (sql, expected) => {
    expect(scsDependent(sql)).toBe(expected)
  })
})

describe('encodingDependent', () => {
  it.each([
    ["SELECT E'ぁ\\' ; DROP TABLE t; --'", true],
    ["SELECT E'a\\' x'", false],
    ["SELECT 'é'", false],
    ['SELECT 1 -- ü\\', true],
  ])('%j -> %s', (sql, expected) => {
    expect(encodingDependent(sql)).toBe(expected)
  })
})

describe('escapeStringForm', () => {
  it('prefixes plain literals with E, after a space, and leaves the others alone', () => {
    expect(escapeStringForm("SELECT 'a\\', ' ; DROP TABLE t; --'")).toBe("SELECT  E'a\\', ' ; DROP TABLE t; --'")
    expect(escapeStringForm("SELECT E'x', $$'y$$, 'z'\n'w'")).toBe("SELECT E'x', $$'y$$,  E'z'\n'w'")
  })

  it("ends a bit or hex string at '' (the scanner has no doubled quote there)", () => {
    expect(literalsOf("X''''", true).map((l) => [l.start, l.mode])).toEqual([[0, 'bits'], [3, 'plain']])
    expect(escapeStringForm("SELECT X'''a\\', '")).toBe("SELECT X'' E'a\\', '")
  })

  it('cannot write a national literal with a backslash', () => {
    expect(escapeStringForm("SELECT N'a\\'")).toBeUndefined()
  })
})

describe('the reading with the setting on is the scanner\'s', () => {
  it('finds the literals scanSync finds, where it finds them', () => {
    fc.assert(
      fc.property(sqlText, (sql) => {
        let tokens: { start: number; tokenName: string; text: string }[]
        try {
          tokens = (scanSync(sql) as { tokens: { start: number; tokenName: string; text: string }[] }).tokens
        } catch {
          return // unterminated: the server refuses it too
        }
        const ours = literalsOf(sql, true)
          .filter((l) => !l.continued)
          // The scanner returns N'...' as the keyword NATIONAL and then the string.
          .map((l) => (l.mode === 'national' ? l.start + 1 : l.start))
        const theirs = tokens.filter(isString).map((t) => t.start)
        // Dollar-quoted strings are SCONST too; the lexer skips them rather than listing them.
        const dollar = tokens.filter((t) => t.tokenName === 'SCONST' && sql[t.start] === '$').map((t) => t.start)
        expect(ours).toEqual(theirs.filter((s) => !dollar.includes(s)))
      }),
      { numRuns: 5000 },
    )
  })

  it('text that does not depend on the setting reads to the same tokens in its escape-string form', () => {
    fc.assert(
      fc.property(sqlText, (sql) => {
        if (scsDependent(sql)) return
        const off = escapeStringForm(sql)
        if (off === undefined) return
        let a: { tokenName: string }[]
        let b: { tokenName: string }[]
        try {
          a = (scanSync(sql) as { tokens: { tokenName: string }[] }).tokens
          b = (scanSync(off) as { tokens: { tokenName: string }[] }).tokens
        } catch {
          return
        }
        expect(b.map((t) => t.tokenName)).toEqual(a.map((t) => t.tokenName))
      }),
      { numRuns: 5000 },
    )
  })
})
