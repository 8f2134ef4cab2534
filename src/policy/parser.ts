/**
 * The PostgreSQL server's own grammar (libpg-query, compiled to WASM). The module loads
 * asynchronously once per process; after that every call is synchronous, so the proxy's hot path
 * never waits. Parse results are plain JSON trees (`{ TypeName: { field: ... } }`).
 */
import { loadModule, parsePlPgSQLSync, parseSync, scanSync } from 'libpg-query'

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

/**
 * The query of `COPY (query) TO ...`, cut from the statement's text with the server's own scanner
 * (so parentheses in strings, comments and dollar quotes do not count); undefined for any other text.
 */
export function copyQueryText(copyStatement: string): string | undefined {
  if (!ready) throw new Error('the SQL parser is not loaded yet')
  const tokens = (scanSync(copyStatement) as { tokens?: { start: number; end: number; text: string }[] }).tokens ?? []
  if (tokens[0]?.text.toUpperCase() !== 'COPY' || tokens[1]?.text !== '(') return undefined
  let depth = 0
  for (let i = 1; i < tokens.length; i++) {
    const t = tokens[i] as { start: number; end: number; text: string }
    if (t.text === '(') depth++
    else if (t.text === ')' && --depth === 0) {
      // Token offsets are bytes of the UTF-8 text.
      return Buffer.from(copyStatement, 'utf8').subarray((tokens[1] as { end: number }).end, t.start).toString('utf8')
    }
  }
  return undefined
}
