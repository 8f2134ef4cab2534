// What an approval "for DURATION" covers: statements the same rule holds that do the same thing
// (statement kinds and tables) as the approved one, computed from the decision that held it.
import { beforeAll, describe, expect, it } from 'vitest'
import type { RuleConfig } from '../../../src/config/schema.js'
import { classify, compilePolicy, decide, loadParser, reviewScope, type ReviewScope } from '../../../src/policy/index.js'
import { describeScope, grantCovers, grantCoverage } from '../../../src/reviews/scope.js'

beforeAll(() => loadParser())

const rules: RuleConfig[] = [
  { name: 'writes', match: { statement: ['INSERT', 'UPDATE', 'DELETE'] }, action: 'review', reviewers: ['sre'] },
  { name: 'reads', match: { statement: ['SELECT'], tables: ['secrets'] }, action: 'review', reviewers: ['sre'] },
  // Stands in for the built-in dangerous-functions deny rule, which an unreadable DO block would match.
  { name: 'safe', match: { dangerous: false }, action: 'allow' },
]
const policy = compilePolicy({ name: 'pg', rules, allowUnparsed: false, dangerousFunctions: undefined })

function scopeOf(sql: string): ReviewScope {
  const d = decide(classify(sql), policy)
  expect(d.action).toBe('review')
  return reviewScope(d)
}

describe('reviewScope', () => {
  it('is the kinds and tables the deciding rule matched, sorted, without repeats', () => {
    expect(scopeOf('UPDATE public.accounts SET x = 1 WHERE id = 1')).toEqual({ parts: [{ kind: 'UPDATE', tables: ['public.accounts'] }] })
    expect(scopeOf('UPDATE b SET x = 1 FROM a WHERE a.id = b.id; UPDATE b SET x = 2 FROM a WHERE a.id = b.id')).toEqual({ parts: [{ kind: 'UPDATE', tables: ['a', 'b'] }] })
    expect(scopeOf('WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d')).toEqual({ parts: [{ kind: 'DELETE', tables: ['t'] }] })
    expect(scopeOf('PREPARE p AS DELETE FROM t WHERE id = 1; EXECUTE p')).toEqual({ parts: [{ kind: 'DELETE', tables: ['t'] }] })
    expect(scopeOf("DO $$ BEGIN EXECUTE 'DEL' || 'ETE FROM t'; END $$").opaque).toBe(true)
  })
})

describe('grantCovers', () => {
  // Computed in the tests: the parser loads in beforeAll.
  let granted: ReviewScope
  beforeAll(() => {
    granted = scopeOf('UPDATE public.accounts SET x = 1 WHERE id = 1')
  })
  it.each([
    ['the same kind on the same table', 'UPDATE public.accounts SET x = 2 WHERE id = 7', true],
    ['another kind on the same table', 'DELETE FROM public.accounts WHERE id = 1', false],
    ['the same kind on another table', 'UPDATE public.users SET x = 1 WHERE id = 1', false],
    ['the same kind on the table written another way', 'UPDATE accounts SET x = 1 WHERE id = 1', false],
    ['the same kind on the table and one more', 'UPDATE public.accounts SET x = 1 FROM public.users WHERE public.users.id = 1', false],
    ['the approved statement and another one', 'UPDATE public.accounts SET x = 1 WHERE id = 1; DELETE FROM public.accounts WHERE id = 2', false],
    ['a statement that cannot be read', "DO $$ BEGIN EXECUTE 'UPDATE public.accounts SET x = ' || 1; END $$", false],
  ])('%s: %s -> %s', (_what, sql, covered) => {
    expect(grantCovers(granted, scopeOf(sql))).toBe(covered)
  })

  it('fails closed on a missing, empty or opaque scope', () => {
    expect(grantCovers(undefined, granted)).toBe(false)
    expect(grantCovers(granted, undefined)).toBe(false)
    expect(grantCovers({ parts: [] }, { parts: [] })).toBe(false)
    expect(grantCovers({ ...granted, opaque: true }, granted)).toBe(false)
  })

  it('says what a grant covers, for the reviewer', () => {
    expect(describeScope(granted)).toBe('UPDATE on public.accounts')
    expect(grantCoverage('writes', granted)).toBe('same rule "writes", UPDATE on public.accounts')
    expect(grantCoverage('writes', { parts: [{ kind: 'DO', tables: [] }], opaque: true })).toMatch(/nothing else/)
  })
})
