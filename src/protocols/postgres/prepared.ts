/**
 * What each prepared-statement name stands for on one connection, so `EXECUTE p` and a Bind of a
 * named (or the unnamed) statement are judged as what was prepared. SQL PREPARE and protocol Parse
 * share one namespace in PostgreSQL, and so they do here.
 *
 * A definition becomes certain only when the server confirms it (ParseComplete, PREPARE's
 * CommandComplete); until then it is pending. `candidates(name)` returns every definition the name
 * may have on the server at the point of the message being judged:
 *  - an operation on the name earlier in the same batch (since the last Sync) decides it exactly,
 *    because a message runs only if everything before it in its batch succeeded;
 *  - otherwise the confirmed definition plus every pending one from earlier batches (any of them
 *    may or may not have happened). A superset: judging against all of them fails closed.
 * Facts of the server this follows: a Parse of the unnamed statement drops the old one before it
 * parses (so a failed Parse leaves none); a simple Query drops the unnamed statement; redefining a
 * named statement fails; DEALLOCATE ALL and DISCARD ALL drop every name; names are compared on
 * their first NAMEDATALEN-1 (63) bytes only (serverName).
 *
 * Server code can change the names too (`EXECUTE 'PREPARE ...'` in a DO block): agw cannot follow
 * that, so such a statement poisons the registry: every name agw knew becomes unknown, and a Bind
 * or EXECUTE of it is refused (policy-frontend.ts).
 */
import type { Classification } from '../../policy/index.js'

/** NAMEDATALEN - 1: the server keys prepared statements, portals and cursors on this many bytes. */
export const NAME_BYTES = 63

/**
 * A statement, portal or cursor name as the server compares it: its first 63 bytes (hash tables
 * of `keysize NAMEDATALEN`, HASH_STRINGS). Kept as a string of those bytes (latin1), so names
 * that are one on the server are one here; ASCII names of up to 63 characters are unchanged.
 */
export function serverName(name: string): string {
  if (name.length <= NAME_BYTES && Buffer.byteLength(name, 'utf8') === name.length) return name
  return Buffer.from(name, 'utf8').subarray(0, NAME_BYTES).toString('latin1')
}

export interface PreparedDef {
  sql: string
  classification: Classification
}

/** One pending change: define (def set), remove (def undefined), or remove all (name null). */
export interface PreparedOp {
  name: string | null
  def: PreparedDef | undefined
  batch: number
  /** A Parse of the unnamed statement: even when it fails, the old unnamed statement is gone. */
  dropsFirst: boolean
}

export class PreparedRegistry {
  private readonly confirmed = new Map<string, PreparedDef>()
  private pending: PreparedOp[] = []
  private readonly voided = new WeakSet<PreparedOp>()
  private batch = 0

  /** The batch messages forwarded now belong to. */
  get currentBatch(): number {
    return this.batch
  }

  /** A Sync, Query or FunctionCall was forwarded: later messages no longer depend on earlier ones. */
  endBatch(): void {
    this.batch++
  }

  define(name: string, def: PreparedDef): PreparedOp {
    return this.push({ name: serverName(name), def, batch: this.batch, dropsFirst: name === '' })
  }

  remove(name: string | null): PreparedOp {
    return this.push({ name: name === null ? null : serverName(name), def: undefined, batch: this.batch, dropsFirst: false })
  }

  /**
   * A statement about to run may define or drop names agw cannot see (server code): forget every
   * name, confirmed or pending. Operations already queued are resolved to nothing.
   */
  poison(): void {
    this.confirmed.clear()
    for (const op of this.pending) this.voided.add(op)
    this.pending = []
  }

  private push(op: PreparedOp): PreparedOp {
    this.pending.push(op)
    return op
  }

  /** The server answered (ok), refused (failed) or skipped the message that carried `op`. */
  resolve(op: PreparedOp, status: 'ok' | 'failed' | 'skipped'): void {
    if (this.voided.has(op)) return
    const i = this.pending.indexOf(op)
    if (i < 0) return
    this.pending.splice(i, 1)
    if (status === 'ok') {
      if (op.name === null) this.confirmed.clear()
      else if (op.def) this.confirmed.set(op.name, op.def)
      else this.confirmed.delete(op.name)
    } else if (status === 'failed' && op.dropsFirst) {
      this.confirmed.delete('')
    }
  }

  /**
   * Every definition `name` may have for a message judged now. `local` holds operations that
   * certainly ran before it (earlier statements of the same Query), newest last.
   */
  candidates(raw: string, local: readonly PreparedOp[] = []): PreparedDef[] {
    const name = serverName(raw)
    const decisive = (ops: readonly PreparedOp[]): PreparedOp | undefined => {
      for (let i = ops.length - 1; i >= 0; i--) {
        const op = ops[i] as PreparedOp
        if (op.name === null || serverName(op.name) === name) return op
      }
      return undefined
    }
    const exact = decisive(local) ?? decisive(this.pending.filter((p) => p.batch === this.batch))
    if (exact) return exact.def && exact.name !== null ? [exact.def] : []
    const out: PreparedDef[] = []
    const c = this.confirmed.get(name)
    if (c) out.push(c)
    for (const p of this.pending) if (p.name === name && p.def && !out.includes(p.def)) out.push(p.def)
    return out
  }

  /** For tests and explain: the confirmed names. */
  names(): string[] {
    return [...this.confirmed.keys()]
  }
}
