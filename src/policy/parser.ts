/**
 * The PostgreSQL server's own grammar (libpg-query, compiled to WASM). The module loads
 * asynchronously once per process; after that every call is synchronous, so the proxy's hot path
 * never waits. Parse results are plain JSON trees (`{ TypeName: { field: ... } }`).
 */
import { loadModule, parsePlPgSQLSync, parseSync } from 'libpg-query'

let ready = false
let loading: Promise<void> | undefined

/** Loads the parser (idempotent). */
export function loadParser(): Promise<void> {
  if (ready) return Promise.resolve()
  loading ??= loadModule().then(() => {
    ready = true
  })
  return loading
}

export function parserReady(): boolean {
  return ready
}

/** One raw statement of a parse: the tree, and where its text is (byte offsets into the UTF-8 SQL). */
export interface RawStatement {
  stmt: unknown
  location: number
  length: number | undefined
}

/** Parses SQL into raw statements; throws (with the server's syntax error text) when it does not parse. */
export function parseStatements(sql: string): RawStatement[] {
  if (!ready) throw new Error('the SQL parser is not loaded yet')
  if (sql.trim() === '') return []
  const result = parseSync(sql) as { stmts?: { stmt: unknown; stmt_location?: number; stmt_len?: number }[] }
  return (result.stmts ?? []).map((s) => ({ stmt: s.stmt, location: s.stmt_location ?? 0, length: s.stmt_len || undefined }))
}

/** Parses a PL/pgSQL function body (as a CREATE FUNCTION statement); throws when it does not parse. */
export function parsePlpgsql(createFunction: string): unknown {
  if (!ready) throw new Error('the SQL parser is not loaded yet')
  return parsePlPgSQLSync(createFunction)
}
