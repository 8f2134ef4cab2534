/**
 * Where a statement puts values other than its result rows: sinks that outlive the statement or
 * bypass result masking (set_config, pg_notify, large objects, the WAL, another table, a view, a
 * server file). Column masking sees only the rows a statement returns, so when column rules are
 * configured a statement that may put a masked column's value (any function of it, a whole row)
 * into such a sink is refused (leakOf). Writing into a column that is itself masked by name is
 * allowed: reading it back is masked.
 *
 * Names, not scopes, as in output.ts: a derived name computed from a masked column is masked
 * everywhere in the statement, and every sink carries what the statement's set-returning functions
 * in FROM read. Over-approximate, fail closed.
 */
import { derivedOf, fromFunctions, outputOf, rangeNames, readRefs, Refs, selectTargets, type Derived, type OutTarget, type Ranges } from './output.js'
import { funcArgs, funcName, isSink } from './sql-text.js'
import { isObj, strings, unwrap, type J } from './tree.js'

/** A value put somewhere masking cannot follow. */
export interface Flow {
  /** Where it goes: `pg_notify()`, `INSERT INTO notes`, `a view` ... */
  into: string
  /** The column it is written into, when known: a masked name may hold a masked value. */
  column?: string
  refs: string[]
  wholeRow: boolean
}

export interface Lineage {
  flows: Flow[]
  /** The statement's derived names (what `refs` may name). */
  derived: Derived[]
}

const MAX_DEPTH = 1000

function refsOf(v: unknown, ranges: Ranges): Refs {
  const acc = new Refs()
  readRefs(v, ranges, acc, 0)
  return acc
}

function flow(into: string, column: string | undefined, r: { refs: string[]; wholeRow: boolean }): Flow {
  const f: Flow = { into, refs: r.refs, wholeRow: r.wholeRow }
  if (column !== undefined) f.column = column.toLowerCase()
  return f
}

function relName(v: unknown): string {
  const r = unwrap(v)?.[1] ?? (isObj(v) ? v : undefined)
  if (!r || typeof r.relname !== 'string') return 'a table'
  return typeof r.schemaname === 'string' ? `${r.schemaname}.${r.relname}` : r.relname
}

/** Columns of a query written into named columns (`cols`, or the query's own names when `keepsNames`). */
function queryFlows(into: string, query: unknown, cols: string[], keepsNames: boolean, ranges: Ranges, derived: () => Derived[], out: Flow[]): void {
  const q = unwrap(query)
  if (!q || q[0] !== 'SelectStmt') return
  const targets: OutTarget[] = selectTargets(q[1], ranges)
  targets.forEach((t, i) => {
    const column = cols[i] ?? (keepsNames && !t.star ? t.name : undefined)
    if (!t.star) out.push(flow(into, column, t))
    // `*` keeps the names of what it expands to only without a column list; derived names in it may be masked ones.
    else if (cols.length > 0 || !keepsNames) out.push(flow(into, undefined, { refs: t.refs, wholeRow: true }))
    else out.push(flow(into, undefined, { refs: [...t.refs, ...derived().map((d) => d.name)], wholeRow: t.wholeRow }))
  })
}

function targetNames(list: unknown): string[] {
  if (!Array.isArray(list)) return []
  return list.map((x) => unwrap(x)?.[1].name).map((x) => (typeof x === 'string' ? x : ''))
}

/** `SET col = expr` lists (UPDATE, ON CONFLICT DO UPDATE, MERGE ... UPDATE). */
function setFlows(into: string, list: unknown, ranges: Ranges, out: Flow[]): void {
  if (!Array.isArray(list)) return
  for (const x of list) {
    const t = unwrap(x)
    if (!t || t[0] !== 'ResTarget') continue
    const r = refsOf(t[1].val, ranges)
    out.push(flow(into, typeof t[1].name === 'string' ? t[1].name : undefined, { refs: [...r.names], wholeRow: r.wholeRow }))
  }
}

function visit(v: unknown, ranges: Ranges, derived: () => Derived[], out: Flow[], depth: number): void {
  if (depth > MAX_DEPTH) throw new Error('the statement is nested too deeply to check')
  if (Array.isArray(v)) return v.forEach((x) => visit(x, ranges, derived, out, depth + 1))
  if (!isObj(v)) return
  const t = unwrap(v)
  if (!t) {
    for (const x of Object.values(v)) visit(x, ranges, derived, out, depth + 1)
    return
  }
  const [type, n] = t
  switch (type) {
    case 'FuncCall': {
      const name = funcName(n)
      if (isSink(name)) {
        const r = refsOf(funcArgs(n), ranges)
        out.push(flow(`${name}()`, undefined, { refs: [...r.names], wholeRow: r.wholeRow }))
      }
      break
    }
    case 'InsertStmt': {
      const into = `INSERT INTO ${relName(n.relation)}`
      queryFlows(into, n.selectStmt, targetNames(n.cols), false, ranges, derived, out)
      if (isObj(n.onConflictClause)) setFlows(into, n.onConflictClause.targetList, ranges, out)
      break
    }
    case 'UpdateStmt':
      setFlows(`UPDATE ${relName(n.relation)}`, n.targetList, ranges, out)
      break
    case 'MergeStmt':
      for (const c of Array.isArray(n.mergeWhenClauses) ? n.mergeWhenClauses : []) {
        const w = unwrap(c)?.[1]
        if (!w) continue
        const into = `MERGE INTO ${relName(n.relation)}`
        if (w.commandType === 'CMD_UPDATE') setFlows(into, w.targetList, ranges, out)
        if (w.commandType === 'CMD_INSERT') {
          const cols = targetNames(w.targetList)
          ;(Array.isArray(w.values) ? w.values : []).forEach((x, i) => {
            const r = refsOf(x, ranges)
            out.push(flow(into, cols[i] || undefined, { refs: [...r.names], wholeRow: r.wholeRow }))
          })
        }
      }
      break
    case 'CreateTableAsStmt': {
      const into = isObj(n.into) ? n.into : {}
      const what = n.objtype === 'OBJECT_MATVIEW' ? 'a materialized view' : `table ${relName(into.rel)}`
      queryFlows(what, n.query, strings(into.colNames), true, ranges, derived, out)
      break
    }
    case 'ViewStmt':
      queryFlows(`view ${relName(n.view)}`, n.query, strings(n.aliases), true, ranges, derived, out)
      break
    case 'SelectStmt':
      if (isObj(n.intoClause)) {
        const { intoClause, ...rest } = n
        queryFlows(`table ${relName(intoClause.rel)} (SELECT INTO)`, { SelectStmt: rest }, strings(intoClause.colNames), true, ranges, derived, out)
      }
      break
    case 'CopyStmt':
      if (!n.is_from && (n.is_program || typeof n.filename === 'string')) {
        const o = outputOf('CopyStmt', n)
        const into = n.is_program ? 'COPY TO PROGRAM' : 'COPY TO a server file'
        for (const x of o?.targets ?? [{ star: true, name: '*', refs: [], wholeRow: true, json: false }]) out.push(flow(into, undefined, { refs: x.refs, wholeRow: x.wholeRow || x.star || x.json }))
      }
      break
  }
  for (const x of Object.values(n)) visit(x, ranges, derived, out, depth + 1)
}

/** Where the statement puts values other than its result rows; undefined when nowhere. */
export function lineageOf(type: string, n: J): Lineage | undefined {
  const root = { [type]: n }
  const ranges = rangeNames(root)
  let derived: Derived[] | undefined
  const lazy = () => (derived ??= derivedOf(root, ranges))
  const flows: Flow[] = []
  visit(root, ranges, lazy, flows, 0)
  if (flows.length === 0) return undefined
  // Any sink may take a column of a set-returning function in FROM: it carries what they read.
  const f = fromFunctions(root, ranges)
  if (f.names.size > 0 || f.wholeRow) for (const x of flows) Object.assign(x, { refs: [...new Set([...x.refs, ...f.names])], wholeRow: x.wholeRow || f.wholeRow })
  return { flows, derived: lazy() }
}

/** Merges the lineage of SQL run from inside the statement (DO blocks, query_to_xml). */
export function mergeLineage(a: Lineage | undefined, b: Lineage | undefined): Lineage | undefined {
  if (!a) return b
  if (!b) return a
  return { flows: [...a.flows, ...b.flows], derived: [...a.derived, ...b.derived] }
}

/**
 * Why the statement must be refused under column rules `masked`, or undefined. `tables`: the
 * relations it reads (statistics catalogs store column values: refused whole).
 */
export function leakOf(lineage: Lineage | undefined, tables: readonly string[], masked: (name: string) => boolean, isStatistics: (t: string) => boolean): string | undefined {
  const stats = tables.find(isStatistics)
  if (stats) return `it reads ${stats}, which stores column values (statistics), and this connection masks columns`
  if (!lineage) return undefined
  const tainted = new Set<string>()
  const bad = (n: string) => masked(n) || tainted.has(n)
  for (let changed = true, rounds = 0; changed && rounds < 32; rounds++) {
    changed = false
    for (const d of lineage.derived) {
      if (!tainted.has(d.name) && (d.wholeRow || d.refs.some(bad))) {
        tainted.add(d.name)
        changed = true
      }
    }
  }
  for (const f of lineage.flows) {
    if (f.column !== undefined && masked(f.column)) continue
    if (!f.wholeRow && !f.refs.some(bad)) continue
    const what = f.wholeRow ? 'a whole row (which may hold a masked column)' : 'a value computed from a masked column'
    const where = f.column !== undefined ? `${f.into} (column ${f.column}, which is not masked)` : f.into
    return `it puts ${what} into ${where}, where column masking cannot follow it`
  }
  return undefined
}
