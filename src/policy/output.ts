/**
 * What each result column of a statement is computed from, read from the parse tree. RowDescription
 * names a column's source table and attribute only for plain column references; for `upper(password)`,
 * `password || ''`, `SELECT password AS p`, a subquery or a CTE it cannot, so column masking uses this
 * instead: a result column that reads a masked column anywhere in its expression is masked as a whole.
 *
 * Names, not scopes: a derived column (an alias in a subquery or CTE) computed from a masked column
 * makes that name masked everywhere in the statement. That over-approximates, which is the safe way.
 *
 * Lineage through functions: a set-returning function in FROM (`json_each_text(row_to_json(u))`,
 * `unnest(array[password])`) carries whatever its arguments read into every column of its SELECT;
 * a function that runs SQL from text (`query_to_xml('select password ...')`) carries what that SQL
 * outputs, and anything when the text is not a constant; table_to_xml and its family carry whole rows.
 */
import { parseStatements } from './parser.js'
import { constText, funcArgs, funcName, sqlTextArgs, wholeOutput } from './sql-text.js'
import { isObj, strings, unwrap, type J } from './tree.js'

export interface OutTarget {
  /** `*` or `t.*`: expands to columns that only RowDescription can name. */
  star: boolean
  /** The column name PostgreSQL gives it (alias, or derived), lower case. */
  name: string
  /** Column names the expression reads anywhere inside it (subqueries included), lower case. */
  refs: string[]
  /** Reads whole rows (`u`, `u.*` inside an expression): any column of the row may be in it. */
  wholeRow: boolean
  /** The expression is a JSON function of whole rows (row_to_json(u), json_agg(u)): its keys are column names. */
  json: boolean
}

/** A named column defined anywhere inside the statement (subquery or CTE output, alias column list). */
export interface Derived {
  name: string
  refs: string[]
  wholeRow: boolean
}

export interface OutputInfo {
  targets: OutTarget[]
  derived: Derived[]
}

const MAX_DEPTH = 1000
const JSON_OF_ROWS = new Set(['row_to_json', 'to_json', 'to_jsonb', 'json_agg', 'jsonb_agg', 'json_agg_strict', 'jsonb_agg_strict', 'array_to_json'])

/**
 * Names a whole-row reference can use: relations, aliases, CTEs (value undefined: the row may hold
 * any column), and function ranges (value: the function calls, whose arguments are what the row holds).
 */
export type Ranges = Map<string, unknown>

export function rangeNames(root: unknown): Ranges {
  const out: Ranges = new Map()
  const walk = (v: unknown, depth: number): void => {
    if (depth > MAX_DEPTH) throw new Error('the statement is nested too deeply to check')
    if (Array.isArray(v)) return v.forEach((x) => walk(x, depth + 1))
    if (!isObj(v)) return
    const t = unwrap(v)
    if (t && t[0] === 'RangeFunction') {
      const n = t[1]
      const alias = isObj(n.alias) && typeof n.alias.aliasname === 'string' ? n.alias.aliasname : undefined
      const call = firstCall(n.functions)
      const name = (alias ?? (call ? funcName(call) : '')).toLowerCase()
      if (name && !out.has(name)) out.set(name, n.functions)
      return walk(n.functions, depth + 1)
    }
    if (typeof v.relname === 'string') out.set(v.relname.toLowerCase(), undefined)
    if (typeof v.aliasname === 'string') out.set(v.aliasname.toLowerCase(), undefined)
    if (typeof v.ctename === 'string') out.set(v.ctename.toLowerCase(), undefined)
    for (const x of Object.values(v)) walk(x, depth + 1)
  }
  walk(root, 0)
  return out
}

function firstCall(v: unknown, depth = 0): J | undefined {
  if (depth > 8) return undefined
  if (Array.isArray(v)) {
    for (const x of v) {
      const c = firstCall(x, depth + 1)
      if (c) return c
    }
    return undefined
  }
  const t = unwrap(v)
  if (!t) return undefined
  if (t[0] === 'FuncCall') return t[1]
  return t[0] === 'List' ? firstCall(t[1].items, depth + 1) : undefined
}

export class Refs {
  names = new Set<string>()
  wholeRow = false
}

/** What SQL run from text outputs (query_to_xml's first argument): its output columns and what they read. */
function nestedRefs(sqlArg: unknown, acc: Refs): void {
  const sql = constText(sqlArg)
  if (sql === undefined) {
    acc.wholeRow = true
    return
  }
  try {
    for (const raw of parseStatements(sql)) {
      const t = unwrap(raw.stmt)
      const o = t ? outputOf(t[0], t[1]) : undefined
      if (!o) continue
      for (const x of o.targets) {
        if (x.star || x.wholeRow || x.json) acc.wholeRow = true
        acc.names.add(x.name)
        for (const r of x.refs) acc.names.add(r)
      }
      for (const d of o.derived) {
        if (d.wholeRow) acc.wholeRow = true
        for (const r of d.refs) acc.names.add(r)
      }
    }
  } catch {
    acc.wholeRow = true
  }
}

/** Collects what an expression reads. Inside subqueries everything counts (WHERE too): fail closed. */
export function readRefs(v: unknown, ranges: Ranges, acc: Refs, depth: number, inExists = false): void {
  if (depth > MAX_DEPTH) throw new Error('the statement is nested too deeply to check')
  if (Array.isArray(v)) {
    for (const x of v) readRefs(x, ranges, acc, depth + 1, inExists)
    return
  }
  if (!isObj(v)) return
  const t = unwrap(v)
  if (t) {
    const [type, n] = t
    if (type === 'ColumnRef') {
      const fields = Array.isArray(n.fields) ? n.fields : []
      const names = strings(fields)
      const star = fields.some((f) => isObj(f) && 'A_Star' in f)
      const last = names[names.length - 1]?.toLowerCase()
      if (last) acc.names.add(last)
      const range = names.length === 1 && !star && last !== undefined && ranges.has(last)
      // A function range's row holds what its arguments read (`FROM generate_series(1, 3) x`: nothing).
      const fn = range ? ranges.get(last as string) : undefined
      if (fn !== undefined) readRefs(fn, new Map([...ranges].filter(([k]) => k !== last)), acc, depth + 1)
      else if ((star && !inExists) || range) acc.wholeRow = true
      return
    }
    if (type === 'FuncCall') {
      const name = funcName(n)
      const sqlArgs = sqlTextArgs(name, funcArgs(n))
      if (sqlArgs) for (const a of sqlArgs) nestedRefs(a, acc)
      if (wholeOutput(name)) acc.wholeRow = true
    }
    if (type === 'A_Indirection') {
      for (const s of strings(n.indirection)) acc.names.add(s.toLowerCase())
    }
    if (type === 'SubLink') {
      const exists = n.subLinkType === 'EXISTS_SUBLINK'
      for (const [k, x] of Object.entries(n)) readRefs(x, ranges, acc, depth + 1, k === 'subselect' ? exists : inExists)
      return
    }
    if (type === 'SelectStmt' && inExists) {
      // EXISTS (SELECT * ...) returns a boolean: its target list does not reach the result.
      for (const [k, x] of Object.entries(n)) if (k !== 'targetList') readRefs(x, ranges, acc, depth + 1, false)
      return
    }
    for (const x of Object.values(n)) readRefs(x, ranges, acc, depth + 1, inExists)
    return
  }
  for (const x of Object.values(v)) readRefs(x, ranges, acc, depth + 1, inExists)
}

/** The column name PostgreSQL derives for an unaliased expression (FigureColname, simplified). */
function figureName(v: unknown, depth = 0): string {
  const t = unwrap(v)
  if (!t || depth > 50) return '?column?'
  const [type, n] = t
  switch (type) {
    case 'ColumnRef': {
      const names = strings(n.fields)
      const last = names[names.length - 1]
      const star = Array.isArray(n.fields) && n.fields.some((f) => isObj(f) && 'A_Star' in f)
      return star || !last ? '?column?' : last
    }
    case 'A_Indirection': {
      const names = strings(n.indirection)
      return names[names.length - 1] ?? figureName(n.arg, depth + 1)
    }
    case 'FuncCall': {
      const names = strings(n.funcname)
      return names[names.length - 1] ?? '?column?'
    }
    case 'TypeCast': {
      const inner = figureName(n.arg, depth + 1)
      if (inner !== '?column?') return inner
      const tn = isObj(n.typeName) ? strings(n.typeName.names) : []
      return tn[tn.length - 1] ?? '?column?'
    }
    case 'CaseExpr':
      return 'case'
    case 'A_ArrayExpr':
      return 'array'
    case 'RowExpr':
      return 'row'
    case 'CoalesceExpr':
      return 'coalesce'
    case 'NullIfExpr':
      return 'nullif'
    case 'SubLink': {
      if (n.subLinkType === 'EXISTS_SUBLINK') return 'exists'
      if (n.subLinkType === 'ARRAY_SUBLINK') return 'array'
      const sel = unwrap(n.subselect)
      const first = sel && Array.isArray(sel[1].targetList) ? unwrap(sel[1].targetList[0]) : undefined
      return first ? figureName(first[1].val, depth + 1) : '?column?'
    }
    default:
      return '?column?'
  }
}

/** A JSON function whose arguments are all whole rows: `row_to_json(u)`, `json_agg(t.*)`, `to_jsonb(u)::text`. */
function isJsonOfRows(v: unknown, ranges: Ranges): boolean {
  let t = unwrap(v)
  while (t && t[0] === 'TypeCast') t = unwrap(t[1].arg)
  if (!t || t[0] !== 'FuncCall') return false
  const names = strings(t[1].funcname)
  if (!JSON_OF_ROWS.has((names[names.length - 1] ?? '').toLowerCase())) return false
  const args = Array.isArray(t[1].args) ? t[1].args : []
  if (args.length === 0) return false
  return args.every((a) => {
    const c = unwrap(a)
    if (!c || c[0] !== 'ColumnRef') return false
    const fields = Array.isArray(c[1].fields) ? c[1].fields : []
    const names2 = strings(fields)
    const star = fields.some((f) => isObj(f) && 'A_Star' in f)
    return (star && names2.length === 1) || (names2.length === 1 && ranges.has((names2[0] as string).toLowerCase()))
  })
}

function targetOf(res: J, ranges: Ranges): OutTarget {
  const val = res.val
  const c = unwrap(val)
  if (c && c[0] === 'ColumnRef' && Array.isArray(c[1].fields) && c[1].fields.some((f) => isObj(f) && 'A_Star' in f)) {
    return { star: true, name: '*', refs: [], wholeRow: false, json: false }
  }
  const refs = new Refs()
  const json = isJsonOfRows(val, ranges)
  readRefs(val, ranges, refs, 0)
  const name = (typeof res.name === 'string' ? res.name : figureName(val)).toLowerCase()
  return { star: false, name, refs: [...refs.names], wholeRow: refs.wholeRow && !json, json }
}

function targetList(list: unknown, ranges: Ranges): OutTarget[] {
  if (!Array.isArray(list)) return []
  const out: OutTarget[] = []
  for (const x of list) {
    const t = unwrap(x)
    if (t && t[0] === 'ResTarget') out.push(targetOf(t[1], ranges))
  }
  return out
}

/** The result columns of a SELECT (set operations merged column by column, VALUES read per column). */
export function selectTargets(n: J, ranges: Ranges): OutTarget[] {
  if (n.op && n.op !== 'SETOP_NONE') {
    // larg and rarg are SelectStmt structs (not wrapped in a node).
    const side = (v: unknown): J | undefined => unwrap(v)?.[1] ?? (isObj(v) ? v : undefined)
    const l = side(n.larg)
    const r = side(n.rarg)
    const left = l ? selectTargets(l, ranges) : []
    const right = r ? selectTargets(r, ranges) : []
    if (left.length === right.length && !left.some((t) => t.star) && !right.some((t) => t.star)) {
      return left.map((t, i) => {
        const o = right[i] as OutTarget
        return { star: false, name: t.name, refs: [...new Set([...t.refs, ...o.refs])], wholeRow: t.wholeRow || o.wholeRow, json: t.json && o.json }
      })
    }
    // Shapes that cannot be lined up: every column reads everything either side reads.
    const all = [...left, ...right]
    const refs = [...new Set(all.flatMap((t) => t.refs))]
    const wholeRow = all.some((t) => t.wholeRow || t.star)
    // A `*` here may line up with any column of the other side: it carries what they read.
    const starWhole = all.some((t) => t.wholeRow)
    return left.map((t) => ({ star: t.star, name: t.name, refs, wholeRow: t.star ? starWhole : wholeRow, json: false }))
  }
  if (Array.isArray(n.valuesLists)) {
    const rows = n.valuesLists.map((l) => {
      const t = unwrap(l)
      return t && Array.isArray(t[1].items) ? t[1].items : []
    })
    const width = Math.max(0, ...rows.map((r) => r.length))
    const out: OutTarget[] = []
    for (let i = 0; i < width; i++) {
      const refs = new Refs()
      for (const r of rows) readRefs(r[i], ranges, refs, 0)
      out.push({ star: false, name: `column${i + 1}`, refs: [...refs.names], wholeRow: refs.wholeRow, json: false })
    }
    return out
  }
  return withFromFunctions(targetList(n.targetList, ranges), n.fromClause, ranges)
}

/** What the set-returning functions in a FROM read (`json_each_text(row_to_json(u))`: whole rows). */
export function fromFunctions(from: unknown, ranges: Ranges): Refs {
  const acc = new Refs()
  const walk = (v: unknown, depth: number): void => {
    if (depth > MAX_DEPTH) throw new Error('the statement is nested too deeply to check')
    if (Array.isArray(v)) return v.forEach((x) => walk(x, depth + 1))
    if (!isObj(v)) return
    const t = unwrap(v)
    if (t && t[0] === 'RangeFunction') readRefs(t[1].functions, ranges, acc, depth + 1)
    for (const x of Object.values(t ? t[1] : v)) walk(x, depth + 1)
  }
  walk(from, 0)
  return acc
}

/**
 * Every column of a SELECT may come from a function in its FROM (which column is which is in the
 * catalog): each carries what the functions read. A `*` that does is masked as a whole span.
 */
function withFromFunctions(targets: OutTarget[], from: unknown, ranges: Ranges): OutTarget[] {
  const f = fromFunctions(from, ranges)
  if (f.names.size === 0 && !f.wholeRow) return targets
  return targets.map((t) => ({ ...t, refs: [...new Set([...t.refs, ...f.names])], wholeRow: t.wholeRow || f.wholeRow, json: t.json && !f.wholeRow && f.names.size === 0 }))
}

/** Every named column defined inside the statement: target lists at every level, alias column lists. */
export function derivedOf(root: unknown, ranges: Ranges): Derived[] {
  const out: Derived[] = []
  const walk = (v: unknown, depth: number): void => {
    if (depth > MAX_DEPTH) throw new Error('the statement is nested too deeply to check')
    if (Array.isArray(v)) return v.forEach((x) => walk(x, depth + 1))
    if (!isObj(v)) return
    const t = unwrap(v)
    if (t) {
      const [type, n] = t
      if (type === 'SelectStmt') {
        for (const tg of selectTargets(n, ranges)) if (!tg.star) out.push({ name: tg.name, refs: tg.refs, wholeRow: tg.wholeRow || tg.json })
      } else if (type === 'RangeSubselect' || type === 'RangeFunction') {
        const alias = isObj(n.alias) ? strings(n.alias.colnames) : []
        const defs = Array.isArray(n.coldeflist) ? n.coldeflist.map((d) => unwrap(d)?.[1].colname).filter((x): x is string => typeof x === 'string') : []
        if (alias.length > 0 || defs.length > 0) {
          const refs = new Refs()
          readRefs(type === 'RangeSubselect' ? n.subquery : n.functions, ranges, refs, 0)
          const sub = unwrap(n.subquery)
          const names = sub && sub[0] === 'SelectStmt' ? selectTargets(sub[1], ranges).map((x) => x.name) : []
          for (const c of [...alias, ...defs]) out.push({ name: c.toLowerCase(), refs: [...refs.names, ...names], wholeRow: refs.wholeRow })
        }
      } else if (type === 'CommonTableExpr') {
        const alias = strings(n.aliascolnames)
        if (alias.length > 0) {
          const refs = new Refs()
          readRefs(n.ctequery, ranges, refs, 0)
          const q = unwrap(n.ctequery)
          const names = q && q[0] === 'SelectStmt' ? selectTargets(q[1], ranges).map((x) => x.name) : []
          for (const c of alias) out.push({ name: c.toLowerCase(), refs: [...refs.names, ...names], wholeRow: refs.wholeRow })
        }
      } else if (type === 'RangeVar' && isObj(n.alias) && Array.isArray(n.alias.colnames)) {
        // FROM users AS u(a, b, c): which renamed column is which is in the catalog, not here.
        for (const c of strings(n.alias.colnames)) out.push({ name: c.toLowerCase(), refs: [], wholeRow: true })
      }
      for (const x of Object.values(n)) walk(x, depth + 1)
      return
    }
    if (typeof v.relname === 'string' && isObj(v.alias) && Array.isArray(v.alias.colnames)) {
      for (const c of strings(v.alias.colnames)) out.push({ name: c.toLowerCase(), refs: [], wholeRow: true })
    }
    for (const x of Object.values(v)) walk(x, depth + 1)
  }
  walk(root, 0)
  return out
}

function returning(n: J, ranges: Ranges): OutTarget[] | undefined {
  const rc = n.returningClause
  const list = isObj(rc) ? rc.exprs : n.returningList
  return Array.isArray(list) && list.length > 0 ? targetList(list, ranges) : undefined
}

/** The output analysis of a statement that returns rows, or undefined when it returns none we can read. */
export function outputOf(type: string, n: J): OutputInfo | undefined {
  const ranges = rangeNames(n)
  let targets: OutTarget[] | undefined
  switch (type) {
    case 'SelectStmt':
      if (n.intoClause) return undefined
      targets = selectTargets(n, ranges)
      break
    case 'InsertStmt':
    case 'UpdateStmt':
    case 'DeleteStmt':
    case 'MergeStmt':
      targets = returning(n, ranges)
      break
    case 'CopyStmt': {
      if (n.is_from) return undefined
      const q = unwrap(n.query)
      if (q) return outputOf(q[0], q[1])
      const cols = strings(n.attlist)
      targets = cols.length > 0 ? cols.map((c) => ({ star: false, name: c.toLowerCase(), refs: [c.toLowerCase()], wholeRow: false, json: false })) : [{ star: true, name: '*', refs: [], wholeRow: false, json: false }]
      break
    }
    case 'DeclareCursorStmt': {
      const q = unwrap(n.query)
      return q ? outputOf(q[0], q[1]) : undefined
    }
    case 'CallStmt':
      targets = [{ star: true, name: '*', refs: [], wholeRow: false, json: false }]
      break
    default:
      return undefined
  }
  if (!targets) return undefined
  return { targets, derived: derivedOf(n, ranges) }
}
