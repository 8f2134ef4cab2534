/**
 * SQL text -> what each statement does, read from the server's own parse tree (never from the
 * words of the text): its kind, the relations, schemas and functions it names, whether an UPDATE
 * or DELETE has a WHERE, the data-modifying parts nested in CTEs, EXPLAIN ANALYZE and DO blocks,
 * COPY to or from a program, prepared-statement bookkeeping (PREPARE / EXECUTE / DEALLOCATE), and
 * what the output columns are computed from (for masking). Pure: no I/O, no per-connection state.
 */
import { KINDS, kindOf } from './kinds.js'
import { lineageOf, mergeLineage, type Lineage } from './lineage.js'
import { outputOf, type OutputInfo } from './output.js'
import { parsePlpgsql, parseStatements } from './parser.js'
import { escapeStringForm, scsDependent } from './pg-lexer.js'
import { constText, funcArgs, funcName, readsUnnamedTables, regclassName, sqlTextArgs, tableArgFunction } from './sql-text.js'
import { isObj, str, strings, unwrap, type J } from './tree.js'
import { whereOf } from './where.js'

/** One thing a statement does: the statement itself, or a data-modifying part nested inside it. */
export interface Unit {
  /** SELECT, INSERT, UPDATE, DELETE, MERGE, DROP, CREATE, ALTER, TRUNCATE, COPY, DO ... */
  kind: string
  /** A finer name where there is one: DROP TABLE, CREATE INDEX, ALTER ROLE, BEGIN ... */
  detail: string
  /** For SELECT, UPDATE, DELETE (and MERGE): whether a WHERE restricts the rows. A WHERE that references no column counts as absent. */
  where?: 'absent' | 'present'
  /** Relations this part names. */
  tables: string[]
}

export interface CopyInfo {
  direction: 'to' | 'from'
  /** TO/FROM PROGRAM: runs a command on the database server. */
  program: boolean
  /** TO/FROM a file on the database server. */
  file: boolean
  relation?: string
  /** The relation as [schema or undefined, name], unquoted (for quoting it again). */
  relationName?: [string | undefined, string]
  /** The column list, when one is given. */
  columns?: string[]
  format: 'text' | 'csv' | 'binary'
  delimiter: string
  header: boolean
}

export interface Statement {
  kind: string
  detail: string
  /** The statement's own text. */
  text: string
  /** Where the text is in the SQL it came from: byte offset and length (undefined: to the end). */
  span: [number, number | undefined]
  /** units[0] is the statement itself; the rest are nested data-modifying parts. */
  units: Unit[]
  tables: string[]
  schemas: string[]
  /** Functions called anywhere in it, lower case, schema-qualified when written so. */
  functions: string[]
  copy?: CopyInfo
  /** What it does on the database server's host: COPY TO/FROM PROGRAM, COPY to or from a server file. */
  serverAccess?: string[]
  /** Why what the statement does cannot be known (dynamic SQL in a DO block, a DO block in another language). */
  opaque?: string
  prepare?: { name: string; statements: Statement[] }
  execute?: { name: string }
  /** DEALLOCATE name, or null for DEALLOCATE ALL (and DISCARD ALL). */
  deallocate?: { name: string | null }
  /** The cursor a DECLARE opens (hold: WITH HOLD, it outlives its transaction), or the one a FETCH / MOVE reads. */
  cursor?: { name: string; declare: boolean; hold?: boolean }
  /** CLOSE name, or null for CLOSE ALL (DISCARD ALL closes every cursor too). */
  closeCursor?: { name: string | null }
  /** What the result columns are computed from, for statements that return rows. */
  output?: OutputInfo
  /** Where it puts values other than its result rows (set_config, pg_notify, other tables): lineage.ts. */
  lineage?: Lineage
  /** Every column name referenced anywhere, lower case (for masking error text). */
  references: string[]
  /** What it is depends on the value of a numeric literal (`HEADER 0`, `EXPLAIN (ANALYZE 1)`). */
  numeric?: true
}

export type Classification = { ok: true; statements: Statement[] } | { ok: false; error: string }

const MAX_DEPTH = 1000

/** Everything collected while walking one statement. */
class Walk {
  tables = new Set<string>()
  schemas = new Set<string>()
  functions = new Set<string>()
  columns = new Set<string>()
  ctes = new Set<string>()
  nested: Unit[] = []
  serverAccess = new Set<string>()
  opaque: string | undefined
  /** Lineage of SQL run from inside the statement (DO blocks, query_to_xml). */
  lineage: Lineage | undefined

  relation(n: J): string | undefined {
    const rel = typeof n.relname === 'string' ? n.relname : undefined
    if (!rel) return undefined
    const schema = typeof n.schemaname === 'string' ? n.schemaname : undefined
    if (schema) this.schemas.add(schema)
    const name = schema ? `${schema}.${rel}` : rel
    if (!schema && this.ctes.has(rel)) return undefined
    this.tables.add(name)
    return name
  }

  qualifiedName(parts: string[], into: Set<string>): string | undefined {
    if (parts.length === 0) return undefined
    const lower = parts.map((p) => p.toLowerCase())
    if (lower.length > 1) this.schemas.add(lower[lower.length - 2] as string)
    const name = lower.slice(-2).join('.')
    into.add(name)
    return name
  }
}

/** The DML statement types that may appear nested (in CTEs, EXPLAIN ANALYZE, rules). */
const DML = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt'])

function dmlUnit(type: string, n: J, w: Walk): Unit {
  const kind = KINDS[type] as string
  const unit: Unit = { kind, detail: kind, tables: [] }
  const rel = isObj(n.relation) ? w.relation(n.relation) : undefined
  if (rel) unit.tables.push(rel)
  if (type === 'UpdateStmt' || type === 'DeleteStmt') unit.where = whereOf(n.whereClause, n.relation)
  if (type === 'MergeStmt') unit.where = whereOf(n.joinCondition, n.relation)
  return unit
}

/** Visits a tree, collecting relations, functions, columns and nested DML. */
function visit(v: unknown, w: Walk, depth: number): void {
  if (depth > MAX_DEPTH) throw new Error('the statement is nested too deeply to check')
  if (Array.isArray(v)) {
    for (const x of v) visit(x, w, depth + 1)
    return
  }
  if (!isObj(v)) return
  const typed = unwrap(v)
  if (!typed) {
    // An unwrapped struct (RangeVar in a `relation` field, FuncCall in CallStmt.funccall, WithClause ...).
    if (typeof v.relname === 'string') w.relation(v)
    if (Array.isArray(v.funcname) && 'funcformat' in v) w.qualifiedName(strings(v.funcname), w.functions)
    if (Array.isArray(v.ctes)) for (const c of v.ctes) cteName(c, w)
    for (const x of Object.values(v)) visit(x, w, depth + 1)
    return
  }
  const [type, n] = typed
  switch (type) {
    case 'RangeVar':
      w.relation(n)
      return visit(n.alias, w, depth + 1)
    case 'FuncCall':
      w.qualifiedName(strings(n.funcname), w.functions)
      sqlFromText(n, w)
      break
    case 'ColumnRef': {
      const fields = strings(n.fields)
      const last = fields[fields.length - 1]
      if (last) w.columns.add(last.toLowerCase())
      return
    }
    case 'A_Indirection':
      for (const s of strings(n.indirection)) w.columns.add(s.toLowerCase())
      break
    case 'CommonTableExpr':
      cteName(v, w)
      break
    case 'CreateFunctionStmt':
      routine(n, undefined, w)
      return
    case 'DoStmt':
      doBlock(n, w)
      return
    default:
      if (DML.has(type)) w.nested.push(dmlUnit(type, n, w))
  }
  for (const x of Object.values(n)) visit(x, w, depth + 1)
}

function cteName(c: unknown, w: Walk): void {
  const t = unwrap(c)
  const n = t ? t[1] : isObj(c) ? c : undefined
  if (n && typeof n.ctename === 'string') w.ctes.add(n.ctename)
}

/** CTE names must be known before relations are read, so `FROM cte` is not a table. */
function collectCtes(v: unknown, w: Walk, depth: number): void {
  if (depth > MAX_DEPTH) throw new Error('the statement is nested too deeply to check')
  if (Array.isArray(v)) return v.forEach((x) => collectCtes(x, w, depth + 1))
  if (!isObj(v)) return
  if (typeof v.ctename === 'string') w.ctes.add(v.ctename)
  for (const x of Object.values(v)) collectCtes(x, w, depth + 1)
}

// ---------------- DO blocks ----------------

function doBlock(n: J, w: Walk): void {
  let body: string | undefined
  let language = 'plpgsql'
  for (const a of Array.isArray(n.args) ? n.args : []) {
    const t = unwrap(a)
    if (!t) continue
    const d = t[1]
    if (d.defname === 'as') body = str(d.arg)
    if (d.defname === 'language') language = (str(d.arg) ?? language).toLowerCase()
  }
  if (body === undefined) return
  if (language !== 'plpgsql') {
    w.opaque = `a DO block in language ${language} cannot be read`
    return
  }
  plpgsqlBody(body, w, DO_BLOCK)
}

/**
 * A PL/pgSQL body (a DO block's, or a routine's as its off-setting reading), wrapped as a function
 * for the parser. PL/pgSQL lexes its body when it runs, under the standard_conforming_strings of
 * that moment: a body whose reading depends on it is read both ways.
 */
function plpgsqlBody(body: string, w: Walk, where: Body): void {
  let tag = '$agw$'
  for (let i = 0; body.includes(tag); i++) tag = `$agw${i}$`
  let tree: unknown
  try {
    tree = parsePlpgsql(`CREATE FUNCTION agw_do() RETURNS void LANGUAGE plpgsql AS ${tag}${body}${tag}`)
  } catch (err) {
    w.opaque = `${where.what} does not parse: ${(err as Error).message}`
    return
  }
  for (const sql of plpgsqlQueries(tree, w, where)) mergeNested(sql, w, where)
  if (scsDependent(body)) plpgsqlOff(body, w, where)
}

/** The reading of a PL/pgSQL body with standard_conforming_strings off, merged too. */
function plpgsqlOff(body: string, w: Walk, where: Body): void {
  const off = escapeStringForm(body)
  if (off === undefined) w.opaque = `${where.what} holds a national literal with a backslash, which reads differently with standard_conforming_strings off`
  else plpgsqlBody(off, w, where)
}

/** Where SQL found inside another statement comes from, for the reasons it is opaque. */
interface Body {
  what: string
  /**
   * Whether prepared statements and cursors made inside make it opaque: a routine's body runs
   * later, on a connection whose names agw follows only from what the client sends.
   */
  names: boolean
}

const DO_BLOCK: Body = { what: 'the DO block', names: false }

/** The SQL inside a PL/pgSQL tree, as statements to classify. Dynamic SQL that is not a constant makes the block opaque. */
function plpgsqlQueries(tree: unknown, w: Walk, body: Body): string[] {
  const out: string[] = []
  const walk = (v: unknown, dynamic: boolean, depth: number): void => {
    if (depth > MAX_DEPTH) throw new Error(`${body.what} is nested too deeply to check`)
    if (Array.isArray(v)) return v.forEach((x) => walk(x, dynamic, depth + 1))
    if (!isObj(v)) return
    for (const [k, x] of Object.entries(v)) {
      if (k === 'PLpgSQL_expr' && isObj(x) && typeof x.query === 'string') {
        const mode = typeof x.parseMode === 'number' ? x.parseMode : 0
        const q = x.query
        const sql = mode === 0 ? q : mode === 2 ? `SELECT ${q}` : `SELECT ${q.replace(/^[^:=]*:?=/, '')}`
        if (dynamic) {
          const constant = constantString(sql)
          if (constant === undefined) w.opaque = `${body.what} runs dynamic SQL (EXECUTE of a computed string)`
          else out.push(constant)
        }
        out.push(sql)
        continue
      }
      const isDynamic = k === 'PLpgSQL_stmt_dynexecute' || k === 'PLpgSQL_stmt_dynfors'
      if (isDynamic && isObj(x)) {
        walk(x.query, true, depth + 1)
        for (const [k2, y] of Object.entries(x)) if (k2 !== 'query') walk(y, false, depth + 1)
        continue
      }
      if (body.names && (k === 'PLpgSQL_stmt_open' || k === 'PLpgSQL_stmt_close')) w.opaque = `${body.what} opens or closes a cursor, which agw cannot follow`
      if (k === 'dynquery') {
        walk(x, true, depth + 1)
        continue
      }
      walk(x, dynamic, depth + 1)
    }
  }
  walk(tree, false, 0)
  return out
}

/** `SELECT 'text'` -> text; anything else -> undefined. */
function constantString(selectSql: string): string | undefined {
  try {
    const [s] = parseStatements(selectSql)
    const sel = unwrap(s?.stmt)
    if (!sel || sel[0] !== 'SelectStmt') return undefined
    const targets = sel[1].targetList
    if (!Array.isArray(targets) || targets.length !== 1) return undefined
    const rt = unwrap(targets[0])
    const c = rt && isObj(rt[1].val) ? unwrap(rt[1].val) : undefined
    if (!c || c[0] !== 'A_Const' || !isObj(c[1].sval)) return undefined
    const s2 = c[1].sval.sval
    return typeof s2 === 'string' ? s2 : undefined
  } catch {
    return undefined
  }
}

/**
 * A function that runs SQL from text (query_to_xml, ts_stat, crosstab) is judged as what it runs
 * when the text is a constant, and is opaque otherwise; table_to_xml reads the table it names;
 * schema_to_xml and database_to_xml read tables agw cannot name (opaque).
 */
function sqlFromText(n: J, w: Walk): void {
  const name = funcName(n)
  const args = funcArgs(n)
  for (const a of sqlTextArgs(name, args) ?? []) {
    const sql = constText(a)
    if (sql === undefined) w.opaque = `${name}() runs SQL that is not a constant`
    else mergeNested(sql, w, { what: `${name}()`, names: true })
  }
  if (tableArgFunction(name)) {
    const text = constText(args[0])
    const rel = text === undefined ? undefined : regclassName(text)
    if (rel) w.relation(rel[0] ? { relname: rel[1], schemaname: rel[0] } : { relname: rel[1] })
    else w.opaque = `${name}() reads a table agw cannot name`
  }
  if (readsUnnamedTables(name)) w.opaque = `${name}() reads every table of a schema or database`
}

/** Classifies SQL found inside a DO block or a routine's body and merges what it does into the enclosing walk. */
function mergeNested(sql: string, w: Walk, body: Body): void {
  // Text run later (a routine body, EXECUTE in a DO block) is read under the
  // standard_conforming_strings of that moment, which may not be this one: judge it both ways.
  if (scsDependent(sql)) {
    const off = escapeStringForm(sql)
    if (off === undefined) {
      w.opaque = `${body.what} holds a national literal with a backslash, which reads differently with standard_conforming_strings off`
      return
    }
    mergeNested(off, w, body)
  }
  let inner: Statement[]
  try {
    inner = statementsOf(sql)
  } catch (err) {
    w.opaque = `a statement inside ${body.what} does not parse: ${(err as Error).message}`
    return
  }
  mergeStatements(inner, w, body)
}

function mergeStatements(inner: Statement[], w: Walk, body: Body): void {
  for (const s of inner) {
    if (body.names && (s.prepare || s.execute || s.deallocate || s.cursor || s.kind === 'CLOSE')) w.opaque = `${body.what} uses ${s.detail}, whose prepared statements and cursors agw cannot follow`
    // What server code prepares counts as run (it may run it next); what it EXECUTEs by name, agw cannot know.
    if (s.prepare) mergeStatements(s.prepare.statements, w, body)
    if (s.execute && !body.names) w.opaque = `${body.what} runs prepared statement "${s.execute.name}", which agw cannot follow there`
    for (const t of s.tables) w.tables.add(t)
    for (const t of s.schemas) w.schemas.add(t)
    for (const f of s.functions) w.functions.add(f)
    for (const c of s.references) w.columns.add(c)
    for (const u of s.units) if (u.kind !== 'SELECT') w.nested.push(u)
    if (s.opaque) w.opaque = s.opaque
    for (const a of s.serverAccess ?? []) w.serverAccess.add(a)
    w.lineage = mergeLineage(w.lineage, s.lineage)
  }
}

// ---------------- routine bodies ----------------

/**
 * CREATE FUNCTION / PROCEDURE: creating it runs nothing, but every later call runs its body,
 * under a name agw cannot follow to it. So it counts as what its body runs, and a body agw cannot
 * read (another language, dynamic SQL) makes it opaque. `text` is the statement's own text (for
 * the PL/pgSQL parser); undefined for a routine nested in another statement.
 */
function routine(n: J, text: string | undefined, w: Walk): void {
  w.qualifiedName(strings(n.funcname), new Set())
  const name = strings(n.funcname).join('.')
  const body: Body = { what: `the body of ${n.is_procedure ? 'procedure' : 'function'} ${name}`, names: true }
  // Parameter defaults and the return type are expressions of their own (functions called, types named).
  visit(n.parameters, w, 1)
  visit(n.returnType, w, 1)
  let language: string | undefined
  let source: string[] | undefined
  for (const o of Array.isArray(n.options) ? n.options : []) {
    const t = unwrap(o)
    if (!t) continue
    if (t[1].defname === 'language') language = (str(t[1].arg) ?? '').toLowerCase()
    if (t[1].defname === 'as') {
      const arg = unwrap(t[1].arg)
      source = arg && arg[0] === 'List' ? strings(arg[1].items) : [str(t[1].arg) ?? '']
    }
  }
  if (n.sql_body !== undefined) return sqlBody(n.sql_body, w, body)
  // No body: the server refuses it.
  if (source === undefined) return
  if (language === 'sql' && source.length === 1) return mergeNested(source[0] as string, w, body)
  if (language === 'plpgsql' && source.length === 1 && text !== undefined) {
    let tree: unknown
    try {
      tree = parsePlpgsql(text)
    } catch (err) {
      w.opaque = `${body.what} does not parse: ${(err as Error).message}`
      return
    }
    const funcs = isObj(tree) && Array.isArray(tree.plpgsql_funcs) ? tree.plpgsql_funcs : []
    if (funcs.length !== 1) {
      w.opaque = `${body.what} cannot be read`
      return
    }
    for (const sql of plpgsqlQueries(funcs, w, body)) mergeNested(sql, w, body)
    if (scsDependent(source[0] as string)) plpgsqlOff(source[0] as string, w, body)
    return
  }
  w.opaque = `${body.what} is in language ${language ?? '(none)'}, which agw cannot read`
}

/** `BEGIN ATOMIC ... END` (a list of statements) or `RETURN expr`. */
function sqlBody(v: unknown, w: Walk, body: Body): void {
  const typed = unwrap(v)
  if (!typed) return
  const [type, n] = typed
  if (type === 'ReturnStmt') return visit(n.returnval, w, 1)
  if (type === 'List') {
    for (const item of Array.isArray(n.items) ? n.items : []) {
      if (unwrap(item)?.[0] === 'List') sqlBody(item, w, body)
      else mergeStatements([classifyOne({ stmt: item }, '', [0, 0])], w, body)
    }
    return
  }
  mergeStatements([classifyOne({ stmt: v }, '', [0, 0])], w, body)
}

// ---------------- statements ----------------

/** A boolean option's value (`HEADER`, `HEADER false`, `ANALYZE 0` ...). Integers make the statement depend on a literal. */
function boolOption(arg: unknown, s: Statement): boolean {
  if (arg === undefined) return true
  const t = unwrap(arg)
  if (t && t[0] === 'Integer') {
    s.numeric = true
    return (typeof t[1].ival === 'number' ? t[1].ival : 0) !== 0
  }
  return !/^(false|off|no|0)$/i.test(str(arg) ?? 'true')
}

function copyInfo(n: J, w: Walk, s: Statement): CopyInfo {
  const info: CopyInfo = {
    direction: n.is_from ? 'from' : 'to',
    program: n.is_program === true,
    file: !n.is_program && typeof n.filename === 'string',
    format: 'text',
    delimiter: '\t',
    header: false,
  }
  if (isObj(n.relation)) {
    const r = w.relation(n.relation)
    if (r) info.relation = r
    if (typeof n.relation.relname === 'string') info.relationName = [typeof n.relation.schemaname === 'string' ? n.relation.schemaname : undefined, n.relation.relname]
  }
  if (Array.isArray(n.attlist)) info.columns = strings(n.attlist)
  for (const o of Array.isArray(n.options) ? n.options : []) {
    const t = unwrap(o)
    if (!t) continue
    const name = String(t[1].defname).toLowerCase()
    const arg = str(t[1].arg)
    if (name === 'format' && (arg === 'csv' || arg === 'binary' || arg === 'text')) info.format = arg
    if (name === 'delimiter' && arg) info.delimiter = arg
    if (name === 'header') info.header = boolOption(t[1].arg, s)
  }
  if (info.format === 'csv' && !(n.options as unknown[] | undefined)?.some((o) => unwrap(o)?.[1].defname === 'delimiter')) info.delimiter = ','
  return info
}

function classifyOne(raw: { stmt: unknown }, text: string, span: [number, number | undefined]): Statement {
  const typed = unwrap(raw.stmt)
  if (!typed) throw new Error('unexpected parse tree')
  const [type, n] = typed
  const { kind, detail } = kindOf(type, n)
  const w = new Walk()
  collectCtes(n, w, 0)
  const top: Unit = { kind, detail, tables: [] }
  const s: Statement = { kind, detail, text, span, units: [top], tables: [], schemas: [], functions: [], references: [] }

  switch (type) {
    case 'SelectStmt':
      top.where = whereOf(n.whereClause, soleFrom(n))
      break
    case 'UpdateStmt':
    case 'DeleteStmt':
      top.where = whereOf(n.whereClause, n.relation)
      break
    case 'MergeStmt':
      top.where = whereOf(n.joinCondition, n.relation)
      for (const c of Array.isArray(n.mergeWhenClauses) ? n.mergeWhenClauses : []) {
        const t = unwrap(c)
        const cmd = t ? String(t[1].commandType).replace(/^CMD_/, '') : ''
        if (cmd === 'UPDATE' || cmd === 'DELETE' || cmd === 'INSERT') s.units.push({ kind: cmd, detail: cmd, where: top.where, tables: [] })
      }
      break
    case 'CopyStmt':
      s.copy = copyInfo(n, w, s)
      // COPY ... FROM writes rows: it counts as an INSERT into its table too.
      if (s.copy.direction === 'from') s.units.push({ kind: 'INSERT', detail: 'COPY FROM', tables: s.copy.relation ? [s.copy.relation] : [] })
      break
    case 'PrepareStmt': {
      const name = String(n.name ?? '')
      const inner = isObj(n.query) ? classifyOne({ stmt: n.query }, text, span) : undefined
      s.prepare = { name, statements: inner ? [inner] : [] }
      break
    }
    case 'ExecuteStmt':
      s.execute = { name: String(n.name ?? '') }
      break
    case 'DeallocateStmt':
      s.deallocate = { name: n.isall || typeof n.name !== 'string' ? null : n.name }
      break
    case 'DiscardStmt':
      if (n.target === 'DISCARD_ALL') {
        s.deallocate = { name: null }
        s.closeCursor = { name: null }
      }
      break
    case 'DeclareCursorStmt':
      // CURSOR_OPT_HOLD (parsenodes.h): the cursor survives the end of its transaction.
      s.cursor = { name: String(n.portalname ?? ''), declare: true, hold: ((typeof n.options === 'number' ? n.options : 0) & 0x20) !== 0 }
      break
    case 'ClosePortalStmt':
      s.closeCursor = { name: typeof n.portalname === 'string' ? n.portalname : null }
      break
    case 'FetchStmt':
      s.cursor = { name: String(n.portalname ?? ''), declare: false }
      break
    case 'ExplainStmt': {
      const analyze = (Array.isArray(n.options) ? n.options : []).some((o) => {
        const t = unwrap(o)
        return t !== undefined && t[1].defname === 'analyze' && boolOption(t[1].arg, s)
      })
      if (analyze && isObj(n.query)) {
        // EXPLAIN ANALYZE runs the statement: it counts as what it runs.
        const inner = classifyOne({ stmt: n.query }, text, span)
        for (const u of inner.units) s.units.push(u)
        if (inner.opaque) w.opaque = inner.opaque
      }
      break
    }
    case 'DropStmt':
      dropTargets(n, w)
      break
    case 'CreateSchemaStmt':
      if (typeof n.schemaname === 'string') w.schemas.add(n.schemaname)
      break
    case 'AlterObjectSchemaStmt':
      if (typeof n.newschema === 'string') w.schemas.add(n.newschema)
      break
  }

  if (type === 'DoStmt') doBlock(n, w)
  else if (type === 'CreateFunctionStmt') routine(n, text, w)
  else if (type === 'PrepareStmt') {
    // The prepared statement is judged when it is executed (EXECUTE, Bind); preparing it runs nothing.
    for (const inner of s.prepare?.statements ?? []) {
      for (const t of inner.tables) w.tables.add(t)
      for (const f of inner.functions) w.functions.add(f)
    }
  } else {
    visit(n, w, 0)
    if (type === 'SelectStmt' && n.intoClause) s.units.push({ kind: 'SELECT', detail: 'SELECT', where: whereOf(n.whereClause, soleFrom(n)), tables: [] })
  }
  // Data-modifying parts found inside (CTEs, rules, DO blocks); the statement itself is units[0].
  // A plain EXPLAIN runs nothing: what it explains adds no units (EXPLAIN ANALYZE added them above).
  if (type !== 'ExplainStmt') for (const u of w.nested) s.units.push(u)
  s.tables = [...w.tables]
  s.schemas = [...w.schemas]
  s.functions = [...w.functions]
  s.references = [...w.columns]
  top.tables = s.tables
  for (const u of s.units) if (u.tables.length === 0) u.tables = s.tables
  if (w.opaque) s.opaque = w.opaque
  if (s.copy && (s.copy.program || s.copy.file)) w.serverAccess.add(s.copy.program ? `COPY ${s.copy.direction.toUpperCase()} PROGRAM` : `COPY ${s.copy.direction.toUpperCase()} a server file`)
  if (w.serverAccess.size > 0) s.serverAccess = [...w.serverAccess]
  const output = outputOf(type, n)
  if (output) s.output = output
  // Preparing runs nothing: EXECUTE is judged as what it runs.
  const lineage = mergeLineage(type === 'PrepareStmt' ? undefined : lineageOf(type, n), w.lineage)
  if (lineage) s.lineage = lineage
  return s
}

/** A SELECT's only FROM item, when it is a relation (so `t.id` and `id` are one column in its WHERE). */
function soleFrom(n: J): unknown {
  const from = Array.isArray(n.fromClause) ? n.fromClause : []
  return from.length === 1 ? from[0] : undefined
}

function dropTargets(n: J, w: Walk): void {
  const what = String(n.removeType)
  for (const o of Array.isArray(n.objects) ? n.objects : []) {
    const t = unwrap(o)
    if (!t) continue
    if (t[0] === 'List') {
      const parts = strings(t[1].items)
      if (/^OBJECT_(TABLE|VIEW|MATVIEW|INDEX|SEQUENCE|FOREIGN_TABLE)$/.test(what)) {
        const rel = parts[parts.length - 1]
        const schema = parts.length > 1 ? parts[parts.length - 2] : undefined
        if (rel) w.relation(schema ? { relname: rel, schemaname: schema } : { relname: rel })
      } else if (parts.length > 1) w.schemas.add(parts[parts.length - 2] as string)
    } else if (t[0] === 'String' && what === 'OBJECT_SCHEMA') {
      const s = str(o)
      if (s) w.schemas.add(s)
    } else if (t[0] === 'ObjectWithArgs' && /FUNCTION|PROCEDURE|ROUTINE|AGGREGATE/.test(what)) {
      const parts = strings(t[1].objname)
      if (parts.length > 1) w.schemas.add(parts[parts.length - 2] as string)
    }
  }
}

/** The statement's own text: libpg-query locations are byte offsets into the UTF-8 string. */
function sliceText(sql: string, utf8: Buffer | undefined, location: number, length: number | undefined): string {
  const ascii = utf8 === undefined
  const end = length === undefined ? undefined : location + length
  const text = ascii ? sql.slice(location, end) : utf8.toString('utf8', location, end)
  return text.trim()
}

function statementsOf(sql: string): Statement[] {
  const raws = parseStatements(sql)
  // eslint-disable-next-line no-control-regex
  const utf8 = /^[\x00-\x7f]*$/.test(sql) ? undefined : Buffer.from(sql, 'utf8')
  return raws.map((r) => classifyOne(r, textAt(sql, utf8, r.location, raws.length === 1 ? undefined : r.length), [r.location, raws.length === 1 ? undefined : r.length]))
}

function textAt(sql: string, utf8: Buffer | undefined, location: number, length: number | undefined): string {
  return location === 0 && length === undefined ? sql.trim() : sliceText(sql, utf8, location, length)
}

/**
 * The same classification for another text that differs from the classified one only in the
 * digits of numeric literals (see Classifier): every statement text is cut again from `sql`.
 */
export function retext(c: Classification, sql: string): Classification {
  if (!c.ok) return c
  // eslint-disable-next-line no-control-regex
  const utf8 = /^[\x00-\x7f]*$/.test(sql) ? undefined : Buffer.from(sql, 'utf8')
  const again = (s: Statement): Statement => {
    const text = textAt(sql, utf8, s.span[0], s.span[1])
    const out: Statement = { ...s, text }
    if (s.prepare) out.prepare = { name: s.prepare.name, statements: s.prepare.statements.map((x) => ({ ...x, text })) }
    return out
  }
  return { ok: true, statements: c.statements.map(again) }
}

/** Classifies SQL text (uncached; see Classifier for the cached form). Never throws. */
export function classify(sql: string): Classification {
  try {
    return { ok: true, statements: statementsOf(sql) }
  } catch (err) {
    return { ok: false, error: (err as Error).message }
  }
}
