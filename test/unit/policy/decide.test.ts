// decide(): every matching rule counts, deny > review > allow, the first rule of the winning
// action names the decision; each match key (statement, where, tables, functions, schemas, regex,
// dangerous) on its own and together; unparsable SQL; opaque statements; EXECUTE of prepared names.
import { beforeAll, describe, expect, it } from 'vitest'
import type { RuleConfig } from '../../../src/config/schema.js'
import { classify, compilePolicy, decide, loadParser, NameGlob, type Action } from '../../../src/policy/index.js'

beforeAll(() => loadParser())

function policy(rules: Partial<RuleConfig>[], extra: { allowUnparsed?: boolean; dangerousFunctions?: string[] } = {}) {
  return compilePolicy({
    name: 'pg',
    rules: rules.map((r) => ({ action: 'deny', match: {}, ...r }) as RuleConfig),
    allowUnparsed: extra.allowUnparsed ?? false,
    dangerousFunctions: extra.dangerousFunctions,
  })
}

type Row = [string, Partial<RuleConfig>[], string, Action, string | undefined]

const review = (match: RuleConfig['match'], name?: string): Partial<RuleConfig> => ({ match, action: 'review', reviewers: ['sre'], ...(name ? { name } : {}) })

const TABLE: Row[] = [
  // statement kinds and details
  ['no rules: allowed', [], 'SELECT 1', 'allow', undefined],
  ['kind', [{ match: { statement: ['DROP'] } }], 'DROP TABLE t', 'deny', 'rule 1'],
  ['kind is case-insensitive in the rule', [{ match: { statement: ['drop'] } }], 'DROP TABLE t', 'deny', 'rule 1'],
  ['detail', [{ match: { statement: ['DROP TABLE'] } }], 'DROP VIEW v', 'allow', undefined],
  ['detail matches', [{ match: { statement: ['drop  view'] } }], 'DROP VIEW v', 'deny', 'rule 1'],
  // where
  ['where absent', [{ match: { statement: ['DELETE'], where: 'absent' } }], 'DELETE FROM t', 'deny', 'rule 1'],
  ['where present does not match absent rule', [{ match: { statement: ['DELETE'], where: 'absent' } }], 'DELETE FROM t WHERE id = 1', 'allow', undefined],
  ['where present rule', [{ match: { statement: ['UPDATE'], where: 'present' } }], 'UPDATE t SET a = 1 WHERE id = 1', 'deny', 'rule 1'],
  ['where inside a CTE', [{ match: { statement: ['DELETE'], where: 'absent' } }], 'WITH d AS (DELETE FROM t RETURNING 1) SELECT 1', 'deny', 'rule 1'],
  ['where on INSERT never matches', [{ match: { statement: ['INSERT'], where: 'absent' } }], 'INSERT INTO t VALUES (1)', 'allow', undefined],
  // tables
  ['table', [{ match: { tables: ['users'] } }], 'SELECT * FROM public.users', 'deny', 'rule 1'],
  ['table glob', [{ match: { tables: ['audit_*'] } }], 'SELECT * FROM audit_log', 'deny', 'rule 1'],
  ['table not named', [{ match: { tables: ['users'] } }], 'SELECT * FROM users_archive', 'allow', undefined],
  ['qualified rule, unqualified name: may be it', [{ match: { tables: ['billing.invoices'] } }], 'SELECT * FROM invoices', 'deny', 'rule 1'],
  ['qualified rule, other schema', [{ match: { tables: ['billing.invoices'] } }], 'SELECT * FROM archive.invoices', 'allow', undefined],
  ['kind and table together', [{ match: { statement: ['DELETE'], tables: ['orders'] } }], 'DELETE FROM users WHERE id IN (SELECT user_id FROM orders)', 'deny', 'rule 1'],
  ['kind and table: nested DML on another table', [{ match: { statement: ['DELETE'], tables: ['orders'] } }], 'WITH d AS (DELETE FROM users WHERE id = 1) SELECT 1', 'allow', undefined],
  // functions, schemas, regex
  ['function', [{ match: { functions: ['pg_sleep'] } }], 'SELECT 1 WHERE pg_sleep(1) IS NULL', 'deny', 'rule 1'],
  ['qualified function', [{ match: { functions: ['pg_sleep'] } }], 'SELECT pg_catalog.pg_sleep(1)', 'deny', 'rule 1'],
  ['schema', [{ match: { schemas: ['billing'] } }], 'SELECT * FROM billing.invoices', 'deny', 'rule 1'],
  ['schema not written', [{ match: { schemas: ['billing'] } }], 'SELECT * FROM invoices', 'allow', undefined],
  ['regex', [{ match: { regex: 'limit\\s+\\d{6,}' } }], 'SELECT * FROM t LIMIT 1000000', 'deny', 'rule 1'],
  ['regex and kind', [{ match: { statement: ['SELECT'], regex: 'users' } }], "INSERT INTO t SELECT 'users'", 'allow', undefined],
  // precedence
  ['deny beats review', [review({ statement: ['DELETE'] }, 'r'), { name: 'd', match: { statement: ['DELETE'], where: 'absent' } }], 'DELETE FROM t', 'deny', 'd'],
  ['review beats allow', [{ name: 'a', match: { statement: ['UPDATE'] }, action: 'allow' }, review({ statement: ['UPDATE'] }, 'r')], 'UPDATE t SET a = 1 WHERE id = 1', 'review', 'r'],
  ['first of the winning action names it', [{ name: 'one', match: { statement: ['DROP'] } }, { name: 'two', match: { tables: ['t'] } }], 'DROP TABLE t', 'deny', 'one'],
  ['an allow rule names an allowed statement', [{ name: 'reads', match: { statement: ['SELECT'] }, action: 'allow' }], 'SELECT 1', 'allow', 'reads'],
  ['every statement of a text counts', [{ match: { statement: ['TRUNCATE'] } }], 'SELECT 1; TRUNCATE t; SELECT 2', 'deny', 'rule 1'],
  // dangerous
  ['built-in dangerous rule', [], "SELECT pg_read_file('/etc/passwd')", 'deny', 'builtin:dangerous-functions'],
  ['built-in rule covers COPY PROGRAM', [], "COPY t TO PROGRAM 'x'", 'deny', 'builtin:dangerous-functions'],
  ['a rule about dangerous replaces the built-in one', [review({ dangerous: true }, 'danger-review')], 'SELECT dblink_exec($$x$$)', 'review', 'danger-review'],
  ['dangerous: false', [{ match: { statement: ['SELECT'], dangerous: false } }], "SELECT lo_import('/x')", 'allow', undefined],
  // opaque
  ['opaque DO matches deny rules that look at what statements do', [{ match: { statement: ['DROP'] } }], "DO $$ BEGIN EXECUTE 'DR' || 'OP TABLE t'; END $$", 'deny', 'rule 1'],
  ['opaque DO is denied by the built-in rule (it may call anything)', [], "DO $$ BEGIN EXECUTE format('x'); END $$", 'deny', 'builtin:dangerous-functions'],
  ['opaque DO never matches an allow rule', [{ match: { statement: ['DO'] }, action: 'allow', name: 'a' }, { match: { dangerous: true }, action: 'allow' }], "DO $$ BEGIN EXECUTE format('x'); END $$", 'allow', 'a'],
  ['opaque DO does not match a regex-only rule it does not fit', [{ match: { regex: 'nothing-like-this' } }, { match: { dangerous: true }, action: 'allow' }], "DO $$ BEGIN EXECUTE format('x'); END $$", 'allow', undefined],
  // prepared in the same text
  ['EXECUTE judged as what it was prepared as', [{ match: { statement: ['DELETE'], where: 'absent' } }], 'PREPARE p AS DELETE FROM t; EXECUTE p', 'deny', 'rule 1'],
  ['EXECUTE after DEALLOCATE is unknown', [], 'PREPARE p AS SELECT 1; DEALLOCATE p; EXECUTE p', 'deny', undefined],
  ['EXECUTE of a name never prepared is refused', [], 'EXECUTE nobody_knows', 'deny', undefined],
]

describe('decide', () => {
  it.each(TABLE)('%s', (_, rules, sql, action, rule) => {
    const d = decide(classify(sql), policy(rules))
    expect(d.action).toBe(action)
    expect(d.rule?.name).toBe(rule)
  })

  it('lists every matching rule, with the statement it matched', () => {
    const d = decide(classify('SELECT 1; DELETE FROM t'), policy([{ name: 'a', match: { statement: ['DELETE'] } }, { name: 'b', match: { where: 'absent' }, action: 'allow' }]))
    expect(d.matches.map((m) => [m.rule.name, m.statement, m.what])).toEqual([
      ['b', 0, 'SELECT'],
      ['a', 1, 'DELETE'],
      ['b', 1, 'DELETE'],
    ])
  })

  it('refuses SQL it cannot parse unless the connection allows it', () => {
    const d = decide(classify('SELEC 1'), policy([]))
    expect(d).toMatchObject({ action: 'deny', parseError: 'syntax error at or near "SELEC"' })
    expect(d.message).toMatch(/cannot parse/)
    expect(decide(classify('SELEC 1'), policy([], { allowUnparsed: true })).action).toBe('allow')
  })

  it('says in the client message which rule and why', () => {
    const d = decide(classify('DROP TABLE t'), policy([{ name: 'no-ddl', match: { statement: ['DROP'] }, message: 'use migrations' }]))
    expect(d.message).toBe('agw denied DROP TABLE on connection "pg" by rule "no-ddl": use migrations')
  })

  it('judges EXECUTE against every definition the caller says a name may have (most restrictive wins)', () => {
    const p = policy([review({ statement: ['UPDATE'] }, 'r')])
    const defs = [classify('SELECT 1'), classify('UPDATE t SET a = 1 WHERE id = 2')].map((c) => (c.ok ? c.statements : []))
    const d = decide(classify('EXECUTE p'), p, { prepared: () => defs })
    expect(d).toMatchObject({ action: 'review', rule: { name: 'r' } })
    expect(d.matches[0]?.what).toBe('EXECUTE p -> UPDATE')
  })

  it('needs reviewers on a review rule, and a regex that compiles', () => {
    expect(() => policy([{ match: { statement: ['DELETE'] }, action: 'review' }])).toThrow(/needs reviewers/)
    expect(() => policy([{ match: { regex: '(' } }])).toThrow(/does not compile/)
    expect(() => policy([{ match: { statement: ['DROPP'] } }])).toThrow(/rule 1: unknown statement kind "DROPP".*did you mean DROP\?/)
    expect(() => policy([{ match: { functions: ['pg_read_file(text)'] } }])).toThrow(/can never match/)
  })
})

describe('NameGlob', () => {
  it.each([
    ['users', 'users', true],
    ['users', 'public.users', true],
    ['public.users', 'users', true],
    ['public.users', 'other.users', false],
    ['*_token', 'api_token', true],
    ['us?rs', 'USERS', true],
    ['users', 'users2', false],
  ])('%s ~ %s', (pattern, name, want) => {
    expect(new NameGlob(pattern).matches(name)).toBe(want)
  })
})
