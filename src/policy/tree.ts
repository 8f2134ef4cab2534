/** Helpers for libpg-query's JSON trees, where a node is `{ TypeName: { field: ... } }`. */
export type J = Record<string, unknown>

export function isObj(v: unknown): v is J {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** `{ SelectStmt: {...} }` -> ['SelectStmt', {...}]; anything else -> undefined. */
export function unwrap(v: unknown): [string, J] | undefined {
  if (!isObj(v)) return undefined
  let found: [string, J] | undefined
  for (const k in v) {
    if (found) return undefined
    const x = v[k]
    const c = k.charCodeAt(0)
    if (c < 65 || c > 90 || !isObj(x)) return undefined
    found = [k, x]
  }
  return found
}

/** `{ String: { sval } }` -> sval. */
export function str(v: unknown): string | undefined {
  if (!isObj(v)) return undefined
  const s = v.String
  if (isObj(s)) return typeof s.sval === 'string' ? s.sval : ''
  return undefined
}

/** A list of String nodes -> their values (other nodes, such as A_Star, are skipped). */
export function strings(list: unknown): string[] {
  if (!Array.isArray(list)) return []
  const out: string[] = []
  for (const x of list) {
    const s = str(x)
    if (s !== undefined) out.push(s)
  }
  return out
}
