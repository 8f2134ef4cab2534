/**
 * Names that column-masking lineage must know (output.ts, lineage.ts, classify.ts): functions that
 * run SQL given as text, functions whose output is a whole table or cursor, functions that keep a
 * value beyond the statement (session settings, notifications, large objects, the WAL), and the
 * catalogs that store column values (statistics). Names are matched on their last part, lower case:
 * `pg_catalog.query_to_xml` is `query_to_xml`.
 */
import { isObj, strings, unwrap, type J } from './tree.js'

/** The function a FuncCall calls: its last name, lower case. */
export function funcName(n: J): string {
  const names = strings(n.funcname)
  return (names[names.length - 1] ?? '').toLowerCase()
}

export function funcArgs(n: J): unknown[] {
  return Array.isArray(n.args) ? n.args : []
}

/** The arguments that are SQL text, for a function that runs SQL from text; undefined for other functions. */
export function sqlTextArgs(name: string, args: readonly unknown[]): unknown[] | undefined {
  switch (name) {
    case 'query_to_xml':
    case 'query_to_xmlschema':
    case 'query_to_xml_and_xmlschema':
    case 'ts_stat':
    case 'crosstab2':
    case 'crosstab3':
    case 'crosstab4':
      return args.slice(0, 1)
    case 'crosstab':
      // crosstab(source, category) runs both; crosstab(source, n) only the first.
      return args.length >= 2 && constText(args[1]) !== undefined ? args.slice(0, 2) : args.slice(0, 1)
    case 'ts_rewrite':
      // ts_rewrite(query, select): the two-argument form runs the second.
      return args.length === 2 ? args.slice(1, 2) : undefined
    default:
      return undefined
  }
}

/** Functions whose output is a whole table, cursor, schema or database, or another server's rows: masked whole. */
export function wholeOutput(name: string): boolean {
  return /^(table|cursor|schema|database)_to_xml(schema|_and_xmlschema)?$/.test(name) || name.startsWith('dblink')
}

/** table_to_xml('schema.table', ...): the relation it reads is its first argument. */
export function tableArgFunction(name: string): boolean {
  return /^table_to_xml(schema|_and_xmlschema)?$/.test(name)
}

/** schema_to_xml, database_to_xml: they read tables agw cannot name. */
export function readsUnnamedTables(name: string): boolean {
  return /^(schema|database)_to_xml(schema|_and_xmlschema)?$/.test(name)
}

/** Functions that keep or send an argument's value beyond the statement, out of reach of result masking. */
const SINKS = new Set(['set_config', 'pg_notify', 'pg_logical_emit_message', 'lo_from_bytea', 'lo_put', 'lowrite', 'lo_import', 'lo_export'])

export function isSink(name: string): boolean {
  return SINKS.has(name) || name.startsWith('dblink')
}

/** Catalogs and views that store column values (most common values, histogram bounds). */
const STATISTICS = new Set(['pg_stats', 'pg_stats_ext', 'pg_stats_ext_exprs', 'pg_statistic', 'pg_statistic_ext', 'pg_statistic_ext_data'])

/** `pg_catalog.pg_stats`, `pg_stats` ... as written in a statement. */
export function isStatistics(relation: string): boolean {
  const dot = relation.lastIndexOf('.')
  return STATISTICS.has(relation.slice(dot + 1).toLowerCase())
}

/** A string constant, possibly cast (`'select 1'::text`); undefined for anything computed. */
export function constText(v: unknown): string | undefined {
  let t = unwrap(v)
  while (t && t[0] === 'TypeCast') t = unwrap(t[1].arg)
  if (!t || t[0] !== 'A_Const' || !isObj(t[1].sval)) return undefined
  const s = t[1].sval.sval
  return typeof s === 'string' ? s : ''
}

/** `schema.table` or `"Odd"."Name"` as regclass text reads it -> [schema or undefined, name]; undefined when unsure. */
export function regclassName(text: string): [string | undefined, string] | undefined {
  const part = '(?:"((?:[^"]|"")+)"|([A-Za-z_][A-Za-z0-9_$]*))'
  const m = new RegExp(`^\\s*(?:${part}\\s*\\.\\s*)?${part}\\s*$`).exec(text)
  if (!m) return undefined
  const id = (q: string | undefined, plain: string | undefined) => (q !== undefined ? q.replace(/""/g, '"') : plain?.toLowerCase())
  const schema = id(m[1], m[2])
  const name = id(m[3], m[4])
  return name === undefined ? undefined : [schema, name]
}
