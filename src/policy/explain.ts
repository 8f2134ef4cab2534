/**
 * `agw policy explain`: how agw reads SQL under a connection's policy, without a database. What
 * each statement is, which rules match it, the final decision, and which result columns the
 * column rules would mask. The same code paths the gateway uses (classify, decide, output).
 */
import type { ConnectionConfig } from '../config/schema.js'
import { AgwError } from '../errors.js'
import { sharedClassifier } from './classifier.js'
import type { Statement, Unit } from './classify.js'
import { dangerousOf, decide, type Decision } from './decide.js'
import { Masker } from './masking.js'
import { loadParser } from './parser.js'
import { compilePolicy, type Action } from './rules.js'

export interface ExplainedStatement {
  index: number
  text: string
  kind: string
  detail: string
  units: Unit[]
  tables: string[]
  schemas: string[]
  functions: string[]
  dangerous: string[]
  opaque?: string
  prepares?: string
  executes?: string
  /** Result columns (as the parse tree names them) masked whole by the column rules; `*` columns are decided by name when the rows come. */
  maskedColumns?: string[]
  matches: { rule: string; action: Action }[]
}

export interface Explanation {
  connection: string
  sql: string
  parseError?: string
  statements: ExplainedStatement[]
  decision: { action: Action; rule?: string; message?: string }
  masking?: { columns: string[]; detectors: string[]; style: string }
}

function maskedColumnsOf(s: Statement, masker: Masker | undefined): string[] | undefined {
  if (!masker?.columnsOn || !s.output) return undefined
  const masked = (n: string) => masker.isMaskedColumn(n)
  const tainted = new Set<string>()
  for (let changed = true, n = 0; changed && n < 32; n++) {
    changed = false
    for (const d of s.output.derived) {
      if (!tainted.has(d.name) && (d.wholeRow || d.refs.some((r) => masked(r) || tainted.has(r)))) {
        tainted.add(d.name)
        changed = true
      }
    }
  }
  return s.output.targets.filter((t) => !t.star && (t.wholeRow || masked(t.name) || t.refs.some((r) => masked(r) || tainted.has(r)))).map((t) => t.name)
}

export async function explain(connection: ConnectionConfig, sql: string): Promise<Explanation> {
  if (connection.type !== 'postgres') throw new AgwError('bad_input', `connection "${connection.name}" is of type ${connection.type}; policy explain reads PostgreSQL SQL`)
  await loadParser()
  const policy = compilePolicy(connection)
  const m = connection.masking
  const masker = m && (m.columns.length > 0 || m.detectors.length > 0) ? new Masker(m, Buffer.alloc(32)) : undefined
  if (masker?.columnsOn) policy.maskedColumn = (name) => masker.isMaskedColumn(name)
  const c = sharedClassifier.classify(sql)
  const d: Decision = decide(c, policy)
  const out: Explanation = { connection: connection.name, sql, statements: [], decision: { action: d.action } }
  if (d.rule) out.decision.rule = d.rule.name
  if (d.message) out.decision.message = d.message
  if (!c.ok) out.parseError = c.error
  if (m) out.masking = { columns: m.columns, detectors: m.detectors, style: m.style }
  if (c.ok) {
    out.statements = c.statements.map((s, index) => {
      const e: ExplainedStatement = {
        index,
        text: s.text,
        kind: s.kind,
        detail: s.detail,
        units: s.units,
        tables: s.tables,
        schemas: s.schemas,
        functions: s.functions,
        dangerous: dangerousOf(s, policy),
        matches: d.matches.filter((x) => x.statement === index).map((x) => ({ rule: x.rule.name, action: x.rule.action })),
      }
      if (s.opaque) e.opaque = s.opaque
      if (s.prepare) e.prepares = s.prepare.name
      if (s.execute) e.executes = s.execute.name
      const masked = maskedColumnsOf(s, masker)
      if (masked) e.maskedColumns = masked
      return e
    })
  }
  return out
}

/** The human-readable form. */
export function formatExplanation(x: Explanation): string[] {
  const lines: string[] = []
  if (x.parseError) lines.push(`does not parse: ${x.parseError}`)
  for (const s of x.statements) {
    lines.push(`${s.index + 1}. ${s.detail}${s.detail !== s.kind ? ` (${s.kind})` : ''}: ${s.text.replace(/\s+/g, ' ').slice(0, 200)}`)
    for (const u of s.units.slice(1)) lines.push(`   also ${u.detail}${u.where ? ` (WHERE ${u.where})` : ''}${u.tables.length ? ` on ${u.tables.join(', ')}` : ''}`)
    const where = s.units[0]?.where
    if (where && /^(UPDATE|DELETE|SELECT|MERGE)$/.test(s.kind)) lines.push(`   WHERE: ${where}`)
    if (s.tables.length) lines.push(`   tables: ${s.tables.join(', ')}`)
    if (s.schemas.length) lines.push(`   schemas: ${s.schemas.join(', ')}`)
    if (s.functions.length) lines.push(`   functions: ${s.functions.join(', ')}`)
    if (s.dangerous.length) lines.push(`   dangerous: ${s.dangerous.join(', ')}`)
    if (s.opaque) lines.push(`   opaque: ${s.opaque} (matches every deny and review rule)`)
    if (s.prepares) lines.push(`   prepares: ${s.prepares} (judged when it is executed)`)
    if (s.executes) lines.push(`   executes: ${s.executes} (judged as what it was prepared as)`)
    if (s.maskedColumns?.length) lines.push(`   masked columns: ${s.maskedColumns.join(', ')}`)
    lines.push(`   rules: ${s.matches.length ? s.matches.map((m) => `${m.rule} (${m.action})`).join(', ') : 'none match'}`)
  }
  const d = x.decision
  lines.push(`decision: ${d.action}${d.rule ? ` by rule "${d.rule}"` : ''}`)
  if (d.message) lines.push(`  the client is told: ${d.message}`)
  return lines
}
