/**
 * Classification with a bounded LRU: a repeated statement costs a lookup, not a parse.
 *
 * Keyed by the SQL text, and for texts without quotes of any kind, comments or backslashes also by
 * the text with the digits of numeric literals replaced by 0 (same length, so statement positions
 * line up). `... WHERE aid = 12345` and `... WHERE aid = 67890` then share one parse. That is safe
 * because with no quote, dollar quote or comment in the text a digit outside an identifier can only
 * be part of a numeric literal, and a numeric literal does not change what a statement is, which
 * tables or functions it names or whether its WHERE reads a column, with one exception: boolean
 * options written as numbers (`HEADER 0`, `EXPLAIN (ANALYZE 1)`), which classify() flags and which
 * are then cached by their exact text. Statement texts (what regex rules, events and reviews see)
 * are always cut from the real text.
 */
import { classify, retext, type Classification } from './classify.js'
import { Lru } from './lru.js'

/** Texts longer than this are classified every time rather than kept in memory. */
const MAX_CACHED_TEXT = 64 * 1024

/** The text with numeric-literal digits as 0, or undefined when that is not certainly safe. */
export function numberKey(sql: string): string | undefined {
  // Only plain ASCII text with no quotes, dollar signs, backslashes or comments.
  if (!/^[\x20-\x7e\t\n\r]*$/.test(sql) || /['"$\\`]|--|\/\*/.test(sql)) return undefined
  let changed = false
  const key = sql.replace(/(?<![A-Za-z0-9_])[0-9]+/g, (d) => {
    const z = '0'.repeat(d.length)
    if (z !== d) changed = true
    return z
  })
  return changed ? key : undefined
}

function numeric(c: Classification): boolean {
  return c.ok && c.statements.some((x) => x.numeric)
}

export class Classifier {
  private readonly cache: Lru<string, Classification>
  hits = 0
  misses = 0

  constructor(capacity = 4096) {
    this.cache = new Lru(capacity)
  }

  classify(sql: string): Classification {
    const cached = this.cache.get(sql)
    if (cached) {
      this.hits++
      return cached
    }
    if (sql.length > MAX_CACHED_TEXT) {
      this.misses++
      return classify(sql)
    }
    const key = numberKey(sql)
    if (key !== undefined) {
      const base = this.cache.get(key)
      if (base && !numeric(base)) {
        this.hits++
        return retext(base, sql)
      }
      this.misses++
      const c = classify(sql)
      // A statement whose meaning depends on a number (`HEADER 0`) is kept under its own text only.
      this.cache.set(numeric(c) ? sql : key, c)
      return c
    }
    this.misses++
    const c = classify(sql)
    this.cache.set(sql, c)
    return c
  }
}

/** One classifier for the process: classifications depend on the text only, never on the connection. */
export const sharedClassifier = new Classifier()
