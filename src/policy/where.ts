/**
 * Whether a WHERE (or MERGE's join condition) restricts rows, for `where: absent` rules. A WHERE
 * that references no column restricts nothing; so does one that is true on every row however it
 * is written (`id = id`, `ctid IS NOT NULL`, `true OR id = 1`, `NOT (id <> id)`, `EXISTS (SELECT 1)`).
 * Counting a harmless WHERE as absent only makes a rule stricter; counting a tautology as present
 * lets a mass write through, so the tests below err towards "restricts nothing".
 */
import { isObj, str, strings, unwrap, type J } from './tree.js'

const MAX_DEPTH = 1000

/** System columns: never null on a stored row. */
const SYSTEM = new Set(['ctid', 'xmin', 'xmax', 'cmin', 'cmax', 'tableoid'])

/** What a predicate is on every row: T (true), F (false), or '?' (it depends on the row). */
type Truth = 'T' | 'F' | '?'

/** The relation a WHERE is about, so `t.id`, `s.t.id` and `id` are one column. */
interface Target {
  name?: string
  schema?: string
  alias?: string
}

/** Has a WHERE clause that restricts rows: present, referencing a column, and not true on every row. */
export function whereOf(where: unknown, relation?: unknown): 'absent' | 'present' {
  if (where === undefined || where === null) return 'absent'
  if (!mentionsColumn(where, 0)) return 'absent'
  return truth(where, targetOf(relation), 0) === 'T' ? 'absent' : 'present'
}

function targetOf(rel: unknown): Target {
  const r = isObj(rel) && typeof rel.relname === 'string' ? rel : (unwrap(rel)?.[0] === 'RangeVar' ? unwrap(rel)?.[1] : undefined)
  if (!r) return {}
  const t: Target = { name: r.relname as string }
  if (typeof r.schemaname === 'string') t.schema = r.schemaname
  if (isObj(r.alias) && typeof r.alias.aliasname === 'string') t.alias = r.alias.aliasname
  return t
}

function mentionsColumn(v: unknown, depth: number): boolean {
  if (depth > MAX_DEPTH) return true
  if (Array.isArray(v)) return v.some((x) => mentionsColumn(x, depth + 1))
  if (!isObj(v)) return false
  if ('ColumnRef' in v || 'CurrentOfExpr' in v || 'SubLink' in v) return true
  return Object.values(v).some((x) => mentionsColumn(x, depth + 1))
}

/** A column's name without the target's qualification: `s.t.id`, `t.id` (or `alias.id`) -> `id`. */
function columnName(fields: unknown, t: Target): string[] {
  const parts = Array.isArray(fields) ? fields.map((f) => str(f) ?? (isObj(f) && 'A_Star' in f ? '*' : '?')) : []
  if (parts.length < 2) return parts
  const prefix = parts.slice(0, -1)
  if (t.alias !== undefined) return prefix.length === 1 && prefix[0] === t.alias ? parts.slice(-1) : parts
  // An unqualified target may be in any schema of the search_path: `s.t.id` may be its column.
  const own = prefix[prefix.length - 1] === t.name && (prefix.length === 1 || (prefix.length === 2 && (t.schema === undefined || prefix[0] === t.schema)))
  return own ? parts.slice(-1) : parts
}

/** An expression as text for comparing it with another: no locations, column references normalised (not inside subqueries, whose names are their own). */
function canon(v: unknown, t: Target): string {
  const walk = (x: unknown, top: boolean, depth: number): unknown => {
    if (depth > MAX_DEPTH) throw new Error('the statement is nested too deeply to check')
    if (Array.isArray(x)) return x.map((y) => walk(y, top, depth + 1))
    if (!isObj(x)) return x
    const out: J = {}
    for (const [k, y] of Object.entries(x)) {
      if (k === 'location') continue
      if (k === 'ColumnRef' && top && isObj(y)) out[k] = columnName(y.fields, t)
      else out[k] = walk(y, top && k !== 'SubLink', depth + 1)
    }
    return out
  }
  return JSON.stringify(walk(v, true, 0))
}

const same = (a: unknown, b: unknown, t: Target): boolean => a !== undefined && b !== undefined && canon(a, t) === canon(b, t)

const not = (x: Truth): Truth => (x === 'T' ? 'F' : x === 'F' ? 'T' : '?')

/** The comparison operator's name, when it is the built-in one (unqualified or pg_catalog). */
function operator(name: unknown): string | undefined {
  const parts = strings(name)
  if (parts.length === 1 || (parts.length === 2 && parts[0] === 'pg_catalog')) return parts[parts.length - 1]
  return undefined
}

/**
 * T when `v` is true on every row, F when it is false on every row. Comparing an expression with
 * itself counts as true (or false for `<>`, `<`, `>`) though it is null where the expression is:
 * leaving out the rows where a value is null is no restriction anybody writes that way.
 */
function truth(v: unknown, t: Target, depth: number): Truth {
  if (depth > MAX_DEPTH) return '?'
  const typed = unwrap(v)
  if (!typed) return '?'
  const [type, n] = typed
  switch (type) {
    case 'A_Const':
      if (isObj(n.boolval)) return n.boolval.boolval === true ? 'T' : 'F'
      return '?'
    case 'TypeCast': {
      const names = isObj(n.typeName) ? strings(n.typeName.names) : []
      const last = names[names.length - 1]?.toLowerCase()
      return last === 'bool' || last === 'boolean' ? truth(n.arg, t, depth + 1) : '?'
    }
    case 'BoolExpr': {
      const args = Array.isArray(n.args) ? n.args : []
      const each = args.map((a) => truth(a, t, depth + 1))
      if (n.boolop === 'NOT_EXPR') return not(each[0] ?? '?')
      if (n.boolop === 'AND_EXPR') return each.includes('F') ? 'F' : each.length > 0 && each.every((x) => x === 'T') ? 'T' : '?'
      if (each.includes('T') || complementary(args, t)) return 'T'
      return each.length > 0 && each.every((x) => x === 'F') ? 'F' : '?'
    }
    case 'NullTest': {
      const notNull = n.nulltesttype === 'IS_NOT_NULL'
      if (!n.argisrow && neverNull(n.arg, t)) return notNull ? 'T' : 'F'
      return '?'
    }
    case 'A_Expr':
      return comparison(n, t)
    case 'SubLink':
      return n.subLinkType === 'EXISTS_SUBLINK' && rowIndependent(n.subselect) ? 'T' : n.subLinkType === 'ANY_SUBLINK' && selfSemiJoin(n, t) ? 'T' : '?'
    default:
      return '?'
  }
}

/** A system column of the target, or a constant that is not NULL. */
function neverNull(v: unknown, t: Target): boolean {
  const typed = unwrap(v)
  if (!typed) return false
  const [type, n] = typed
  if (type === 'ColumnRef') {
    const name = columnName(n.fields, t)
    return name.length === 1 && SYSTEM.has(name[0] as string)
  }
  if (type === 'A_Const') return n.isnull !== true
  if (type === 'TypeCast') return neverNull(n.arg, t)
  return false
}

function comparison(n: J, t: Target): Truth {
  const kind = n.kind
  if (kind === 'AEXPR_NOT_DISTINCT') return same(n.lexpr, n.rexpr, t) ? 'T' : '?'
  if (kind === 'AEXPR_DISTINCT') return same(n.lexpr, n.rexpr, t) ? 'F' : '?'
  if (kind === 'AEXPR_OP') {
    const op = operator(n.name)
    if (!same(n.lexpr, n.rexpr, t)) return '?'
    if (op === '=' || op === '>=' || op === '<=') return 'T'
    if (op === '<>' || op === '!=' || op === '<' || op === '>') return 'F'
    return '?'
  }
  const list = isObj(n.rexpr) && isObj(n.rexpr.List) && Array.isArray(n.rexpr.List.items) ? n.rexpr.List.items : Array.isArray(n.rexpr) ? n.rexpr : []
  if (kind === 'AEXPR_IN' && operator(n.name) === '=') return list.some((x) => same(n.lexpr, x, t)) ? 'T' : '?'
  if (kind === 'AEXPR_BETWEEN' || kind === 'AEXPR_BETWEEN_SYM') return list.length === 2 && list.every((x) => same(n.lexpr, x, t)) ? 'T' : '?'
  return '?'
}

/** An OR with both `x IS NULL` and `x IS NOT NULL`, `x IS TRUE` and `x IS NOT TRUE` (...), or `p` and `NOT p`. */
function complementary(args: unknown[], t: Target): boolean {
  const tests: [string, unknown][] = []
  const plain: unknown[] = []
  const negated: unknown[] = []
  for (const a of args) {
    const typed = unwrap(a)
    if (!typed) continue
    const [type, n] = typed
    if (type === 'NullTest' && !n.argisrow) tests.push([n.nulltesttype === 'IS_NULL' ? 'null' : 'not null', n.arg])
    else if (type === 'BooleanTest') {
      const b = String(n.booltesttype)
      const positive = b.replace('IS_NOT_', 'IS_')
      tests.push([b === positive ? positive : `not ${positive}`, n.arg])
    } else if (type === 'BoolExpr' && n.boolop === 'NOT_EXPR' && Array.isArray(n.args)) negated.push(n.args[0])
    else plain.push(a)
  }
  const pairs = tests.some(([k, x]) => tests.some(([k2, y]) => k2 === `not ${k}` && same(x, y, t)))
  return pairs || plain.some((p) => negated.some((q) => same(p, q, t)))
}

/** `EXISTS (SELECT 1)`, `EXISTS (SELECT 1 FROM u)`: whether a row exists does not depend on the target row. */
function rowIndependent(v: unknown): boolean {
  const s = bareSelect(v)
  return s !== undefined && !hasAny(s.targetList, 0) && !hasAny(s.valuesLists, 0)
}

/** A SELECT from plain relations (or none) with no condition, grouping, limit or set operation. */
function bareSelect(v: unknown): J | undefined {
  const typed = unwrap(v)
  if (!typed || typed[0] !== 'SelectStmt') return undefined
  const s = typed[1]
  if (s.whereClause || s.havingClause || s.limitCount || s.limitOffset || s.groupClause || s.larg || s.rarg || s.withClause) return undefined
  if (s.op !== undefined && s.op !== 'SETOP_NONE') return undefined
  const from = Array.isArray(s.fromClause) ? s.fromClause : []
  return from.every((f) => unwrap(f)?.[0] === 'RangeVar') ? s : undefined
}

/** Whether a tree holds a column reference (other than `*`), a function call or a subquery. */
function hasAny(v: unknown, depth: number): boolean {
  if (depth > MAX_DEPTH) return true
  if (Array.isArray(v)) return v.some((x) => hasAny(x, depth + 1))
  if (!isObj(v)) return false
  if ('FuncCall' in v || 'SubLink' in v) return true
  if (isObj(v.ColumnRef)) {
    const f = v.ColumnRef.fields
    return !(Array.isArray(f) && f.length === 1 && isObj(f[0]) && 'A_Star' in f[0])
  }
  return Object.values(v).some((x) => hasAny(x, depth + 1))
}

/** `id IN (SELECT id FROM t)` inside a statement on `t`: every row with an id is in. */
function selfSemiJoin(n: J, t: Target): boolean {
  const names = strings(n.operName)
  if (names.length > 0 && operator(n.operName) !== '=') return false
  const s = bareSelect(n.subselect)
  if (!s) return false
  const from = Array.isArray(s.fromClause) ? s.fromClause : []
  const targets = Array.isArray(s.targetList) ? s.targetList : []
  if (from.length !== 1 || targets.length !== 1) return false
  const inner = targetOf(from[0])
  if (inner.name !== t.name || (inner.schema ?? t.schema) !== (t.schema ?? inner.schema)) return false
  const rt = unwrap(targets[0])
  const col = rt && unwrap(rt[1].val)
  const outer = unwrap(n.testexpr)
  if (!col || col[0] !== 'ColumnRef' || !outer || outer[0] !== 'ColumnRef') return false
  return JSON.stringify(columnName(col[1].fields, inner)) === JSON.stringify(columnName(outer[1].fields, t))
}
