/**
 * How PostgreSQL's scanner (src/backend/parser/scan.l) splits text into string literals, as far as
 * `standard_conforming_strings` changes it. libpg-query always reads SQL with the setting on; a
 * session may have it off, and then a backslash in a plain '...' literal escapes the next
 * character, so `'a\', '` is one string to the server and two to a reader with the setting on.
 *
 * The two readings are the same state machine except inside a plain literal at a backslash, so:
 *  - `scsDependent(sql)`: the text means the same under both values unless, read with the setting
 *    on, some plain literal (or the continuation of one) holds a backslash;
 *  - `escapeStringForm(sql)`: the text the server reads with the setting off, written so that a
 *    reader with it on reads it the same way: every plain literal gets an `E` prefix (what the
 *    server does with the setting off is exactly what it does with E'...'). Undefined when that
 *    cannot be written (a national N'...' literal holding a backslash): such text is refused.
 *
 * Scanner facts followed here: comments (`--` to end of line, nested slash-star), quoted
 * identifiers ("" doubles), dollar quotes ($tag$ ... $tag$, a tag being an identifier without `$`,
 * only where a token starts: `a$b$` is one identifier), string prefixes E, B, X, N and U& only at a
 * token start, '' inside any literal but B'' and X'' ones (there it ends the string), and quote continuation: a literal followed by whitespace that
 * holds a newline (and `--` comments) and another quote continues in the same mode.
 */

/** A literal's mode: plain (xq, or xe when scs is off), escape (E), unicode (U&), bits (B/X), national (N). */
type Mode = 'plain' | 'escape' | 'unicode' | 'bits' | 'national'

interface Literal {
  /** Index of the opening quote. */
  quote: number
  /** Index where its prefix starts (the E, N, B, X or U), or the quote for a plain literal. */
  start: number
  mode: Mode
  /** A continuation of the literal before it (same mode). */
  continued: boolean
  backslash: boolean
}

const identStart = (c: string): boolean => /[A-Za-z_\u0080-\uffff]/.test(c)
const identChar = (c: string): boolean => /[A-Za-z0-9_$\u0080-\uffff]/.test(c)

/** The literals of `sql` as the server's scanner finds them with standard_conforming_strings on or off. */
function literals(sql: string, scsOn: boolean): Literal[] {
  const out: Literal[] = []
  const n = sql.length
  let i = 0
  let prevIdent = false
  while (i < n) {
    const c = sql[i] as string
    if (c === '-' && sql[i + 1] === '-') {
      while (i < n && sql[i] !== '\n' && sql[i] !== '\r') i++
      prevIdent = false
      continue
    }
    if (c === '/' && sql[i + 1] === '*') {
      let depth = 1
      i += 2
      while (i < n && depth > 0) {
        if (sql[i] === '/' && sql[i + 1] === '*') {
          depth++
          i += 2
        } else if (sql[i] === '*' && sql[i + 1] === '/') {
          depth--
          i += 2
        } else i++
      }
      prevIdent = false
      continue
    }
    if (c === '"') {
      i = skipQuoted(sql, i + 1, '"')
      prevIdent = false
      continue
    }
    if (c === '$' && !prevIdent) {
      const tag = dollarTag(sql, i)
      if (tag !== undefined) {
        const end = sql.indexOf(tag, i + tag.length)
        i = end < 0 ? n : end + tag.length
        prevIdent = false
        continue
      }
    }
    if (c === "'" || (!prevIdent && /[eEbBxXnNuU]/.test(c))) {
      let mode: Mode | undefined
      let quote = i
      if (c === "'") mode = 'plain'
      else if (sql[i + 1] === "'") {
        mode = /[eE]/.test(c) ? 'escape' : /[bBxX]/.test(c) ? 'bits' : /[nN]/.test(c) ? 'national' : undefined
        quote = i + 1
      } else if (/[uU]/.test(c) && sql[i + 1] === '&' && sql[i + 2] === "'") {
        mode = 'unicode'
        quote = i + 2
      }
      if (mode !== undefined) {
        i = literal(sql, i, quote, mode, scsOn, false, out)
        prevIdent = false
        continue
      }
    }
    if (identChar(c) && (prevIdent || identStart(c) || /[0-9]/.test(c))) {
      prevIdent = true
      i++
      continue
    }
    prevIdent = false
    i++
  }
  return out
}

/** Reads one literal from its quote (and its continuations); returns the index after it. */
function literal(sql: string, start: number, quote: number, mode: Mode, scsOn: boolean, continued: boolean, out: Literal[]): number {
  const n = sql.length
  // With the setting off, a plain (or national) literal is scanned like an E'...' one.
  const escapes = mode === 'escape' || ((mode === 'plain' || mode === 'national') && !scsOn)
  const lit: Literal = { quote, start, mode, continued, backslash: false }
  out.push(lit)
  let i = quote + 1
  while (i < n) {
    const c = sql[i]
    if (c === '\\') {
      lit.backslash = true
      i += escapes ? 2 : 1
      continue
    }
    if (c === "'") {
      // '' is a quote inside every literal but a bit or hex string (xb, xh: no xqdouble there).
      if (sql[i + 1] === "'" && mode !== 'bits') {
        i += 2
        continue
      }
      i++
      const next = continuation(sql, i)
      if (next === undefined) return i
      return literal(sql, next, next, mode, scsOn, true, out)
    }
    i++
  }
  return n
}

/** After a closing quote: the index of a continuing quote (whitespace with a newline between), or undefined. */
function continuation(sql: string, from: number): number | undefined {
  let i = from
  let newline = false
  while (i < sql.length) {
    const c = sql[i] as string
    if (c === '\n' || c === '\r') {
      newline = true
      i++
    } else if (c === ' ' || c === '\t' || c === '\f' || c === '\v') i++
    else if (newline && c === '-' && sql[i + 1] === '-') {
      while (i < sql.length && sql[i] !== '\n' && sql[i] !== '\r') i++
    } else break
  }
  return newline && sql[i] === "'" ? i : undefined
}

function skipQuoted(sql: string, from: number, q: string): number {
  let i = from
  while (i < sql.length) {
    if (sql[i] === q) {
      if (sql[i + 1] === q) {
        i += 2
        continue
      }
      return i + 1
    }
    i++
  }
  return sql.length
}

/** `$tag$` or `$$` at i (the tag is an identifier with no `$`), else undefined. */
function dollarTag(sql: string, i: number): string | undefined {
  let j = i + 1
  if (sql[j] === '$') return '$$'
  if (!identStart(sql[j] ?? '')) return undefined
  while (j < sql.length && identChar(sql[j] as string) && sql[j] !== '$') j++
  return sql[j] === '$' ? sql.slice(i, j + 1) : undefined
}

/** For tests: where each literal starts (its prefix), its mode, and whether it continues the one before. */
export function literalsOf(sql: string, scsOn: boolean): { start: number; mode: Mode; continued: boolean }[] {
  return literals(sql, scsOn).map((l) => ({ start: l.start, mode: l.mode, continued: l.continued }))
}

/** Whether `sql` may mean something else with standard_conforming_strings off than with it on. */
export function scsDependent(sql: string): boolean {
  if (!sql.includes('\\')) return false
  return literals(sql, true).some((l) => l.backslash && (l.mode === 'plain' || l.mode === 'national'))
}

/**
 * `sql` as the server reads it with standard_conforming_strings off, in a form a reader with the
 * setting on reads the same way (plain literals become E'...'); undefined when it cannot be written.
 */
export function escapeStringForm(sql: string): string | undefined {
  const lits = literals(sql, false)
  if (lits.some((l) => l.mode === 'national' && l.backslash)) return undefined
  let out = ''
  let at = 0
  for (const l of lits) {
    if (l.mode !== 'plain' || l.continued) continue
    // A space first: right after an identifier (`abc'x'`), a bare E would join it.
    out += sql.slice(at, l.quote) + ' E'
    at = l.quote
  }
  return out + sql.slice(at)
}

/**
 * Client encodings the server accepts in which the second byte of a character can be an ASCII
 * byte, a backslash among them (PostgreSQL's "client-only" encodings; pg_wchar.h
 * PG_VALID_BE_ENCODING excludes them for this reason), as the server names them in ParameterStatus.
 */
export const UNSAFE_CLIENT_ENCODINGS: ReadonlySet<string> = new Set(['SJIS', 'SHIFT_JIS_2004', 'BIG5', 'GBK', 'UHC', 'GB18030', 'JOHAB'])

/**
 * Whether `sql` (decoded as UTF-8) may read differently in such an encoding: a backslash right
 * after a non-ASCII character, which there may be the end of a two-byte character and no escape.
 */
export function encodingDependent(sql: string): boolean {
  for (let i = sql.indexOf('\\'); i > 0; i = sql.indexOf('\\', i + 1)) if (sql.charCodeAt(i - 1) > 0x7f) return true
  return false
}
