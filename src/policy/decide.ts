/**
 * decide(classification, context) -> Decision. Pure. Every rule that matches counts; the most
 * restrictive action wins (deny > review > allow), and among rules of that action the first in
 * the file names the decision. SQL that does not parse is denied unless the connection allows it.
 * `EXECUTE p` is judged as what `p` was prepared as (every definition it may have: see
 * protocols/postgres/prepared.ts); an unknown name is denied.
 */
import type { Classification, Statement, Unit } from './classify.js'
import { leakOf } from './lineage.js'
import type { Action, CompiledPolicy, CompiledRule, RuleRef } from './rules.js'
import { isStatistics } from './sql-text.js'

export interface RuleMatch {
  rule: RuleRef
  /** Index of the statement in the text. */
  statement: number
  /** What matched: the statement kind, or `EXECUTE p -> DELETE` for a prepared statement. */
  what: string
  /** The matched part's kind (DELETE for `EXECUTE p -> DELETE`) and the relations it names: what a review grant is scoped to. */
  kind: string
  tables: string[]
  /** The statement is opaque (what it does cannot be known). */
  opaque?: true
}

export interface Decision {
  action: Action
  /** The rule that decided (absent when nothing matched, or the SQL did not parse). */
  rule?: RuleRef
  /** What the client is told when the statement is refused or held. */
  message: string
  matches: RuleMatch[]
  /** Set when the SQL did not parse. */
  parseError?: string
}

export interface DecideContext {
  /**
   * Every statement list a prepared name may stand for, for the EXECUTE at `statement` (the index
   * in the text: earlier statements of the same text may have prepared it); undefined or empty
   * when agw does not know the name.
   */
  prepared?: (name: string, statement: number) => Statement[][] | undefined
}

const RANK: Record<Action, number> = { allow: 0, review: 1, deny: 2 }

function dangerousIn(s: Statement, policy: CompiledPolicy): string[] {
  const out = s.functions.filter((f) => policy.dangerous.some((g) => g.matches(f)))
  return [...out, ...(s.serverAccess ?? [])]
}

function unitMatches(r: CompiledRule, u: Unit): boolean {
  if (r.kinds && !r.kinds.has(u.kind) && !r.kinds.has(u.detail)) return false
  if (r.where && u.where !== r.where) return false
  if (r.tables && !u.tables.some((t) => r.tables!.some((g) => g.matches(t)))) return false
  return true
}

/** Whether `r` matches statement `s`. An opaque statement may do anything: it matches every deny or review rule that looks at what a statement does. */
export function ruleMatches(r: CompiledRule, s: Statement, policy: CompiledPolicy): boolean {
  return matchedUnit(r, s, policy) !== undefined
}

/** The part of `s` that `r` matches (units[0] when the rule looks at the whole statement), or undefined. */
function matchedUnit(r: CompiledRule, s: Statement, policy: CompiledPolicy): Unit | undefined {
  const whole = s.units[0] as Unit
  if (r.regex && !r.regex.test(s.text)) return undefined
  const structural = r.kinds || r.where || r.tables || r.functions || r.schemas || r.dangerous !== undefined
  if (!structural) return whole
  if (s.opaque && r.action !== 'allow') return whole
  if (r.functions && !s.functions.some((f) => r.functions!.some((g) => g.matches(f)))) return undefined
  if (r.schemas && !s.schemas.some((x) => r.schemas!.some((g) => g.test(x)))) return undefined
  if (r.dangerous !== undefined && (dangerousIn(s, policy).length > 0) !== r.dangerous) return undefined
  if (r.kinds || r.where || r.tables) return s.units.find((u) => unitMatches(r, u))
  return whole
}

function describe(s: Statement, u: Unit): string {
  if (u !== s.units[0]) return `${u.detail} inside ${s.kind}`
  return s.detail === s.kind ? s.kind : s.detail
}

function refMessage(rule: RuleRef, what: string, connection: string): string {
  if (rule.action === 'review') return `${what} is held for review by rule "${rule.name}"`
  const why = rule.message ? `: ${rule.message}` : ''
  return `agw denied ${what} on connection "${connection}" by rule "${rule.name}"${why}`
}

/**
 * What a prepared name stands for from the statements before `index` of the same text
 * (`PREPARE p AS ...; EXECUTE p`): they ran if the statement at `index` runs.
 */
export function preparedInText(statements: readonly Statement[], name: string, index: number): Statement[][] | undefined {
  for (let i = index - 1; i >= 0; i--) {
    const s = statements[i] as Statement
    if (s.prepare?.name === name) return [s.prepare.statements]
    if (s.deallocate && (s.deallocate.name === null || s.deallocate.name === name)) return []
  }
  return undefined
}

/** Judges classified SQL under a connection's compiled policy. Without `ctx.prepared`, only names prepared earlier in the same text are known. */
export function decide(c: Classification, policy: CompiledPolicy, ctx: DecideContext = {}): Decision {
  if (!c.ok) {
    if (policy.allowUnparsed) return { action: 'allow', message: '', matches: [], parseError: c.error }
    return {
      action: 'deny',
      message: `agw denied a statement it cannot parse on connection "${policy.connection}" (${c.error}); statements agw cannot read are refused`,
      matches: [],
      parseError: c.error,
    }
  }
  const matches: RuleMatch[] = []
  let unknown: string | undefined
  let leak: string | undefined
  const masked = policy.maskedColumn
  const judge = (s: Statement, index: number, via: string | undefined, depth: number): void => {
    for (const r of policy.rules) {
      const u = matchedUnit(r, s, policy)
      if (!u) continue
      const m: RuleMatch = { rule: strip(r), statement: index, what: via ? `${via} -> ${describe(s, u)}` : describe(s, u), kind: u.kind, tables: u.tables }
      if (s.opaque) m.opaque = true
      matches.push(m)
    }
    if (masked && leak === undefined) {
      const why = leakOf(s.lineage, s.tables, masked, isStatistics)
      if (why) leak = `${via ? `${via} -> ` : ''}${describe(s, s.units[0] as Unit)}: ${why}`
    }
    if (s.execute && depth < 4) {
      const defs = ctx.prepared ? ctx.prepared(s.execute.name, index) : preparedInText(c.statements, s.execute.name, index)
      if (!defs || defs.length === 0) unknown ??= s.execute.name
      else for (const def of defs) for (const inner of def) judge(inner, index, `EXECUTE ${s.execute.name}`, depth + 1)
    }
  }
  c.statements.forEach((s, i) => judge(s, i, undefined, 0))
  let best: RuleMatch | undefined
  for (const m of matches) if (!best || RANK[m.rule.action] > RANK[best.rule.action]) best = m
  if (unknown !== undefined && (!best || best.rule.action !== 'deny')) {
    return {
      action: 'deny',
      message: `agw denied EXECUTE of prepared statement "${unknown}" on connection "${policy.connection}": agw does not know what it was prepared as; prepare it again on this connection`,
      matches,
    }
  }
  if (leak !== undefined && (!best || best.rule.action !== 'deny')) {
    return { action: 'deny', message: `agw denied ${leak} (connection "${policy.connection}")`, matches }
  }
  if (!best || best.rule.action === 'allow') {
    const d: Decision = { action: 'allow', message: '', matches }
    if (best) d.rule = best.rule
    return d
  }
  return { action: best.rule.action, rule: best.rule, message: refMessage(best.rule, best.what, policy.connection), matches }
}

function strip(r: CompiledRule): RuleRef {
  const out: RuleRef = { name: r.name, action: r.action, reviewers: r.reviewers, timeoutMs: r.timeoutMs }
  if (r.message !== undefined) out.message = r.message
  if (r.builtin) out.builtin = true
  return out
}

/** The dangerous functions and server access a statement uses under this policy (for explain). */
export function dangerousOf(s: Statement, policy: CompiledPolicy): string[] {
  return dangerousIn(s, policy)
}
