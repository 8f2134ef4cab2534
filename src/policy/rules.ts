/**
 * A connection's rules (SPEC section 3), compiled once: statement kinds as a set, globs as regular
 * expressions. Rule names default to "rule N" (1-based, in file order). A connection that says
 * nothing about dangerous functions gets the built-in rule that denies them.
 */
import { parseDuration, type ConnectionConfig, type RuleConfig } from '../config/schema.js'
import { AgwError } from '../errors.js'
import { normalizeKind, unknownKindProblem } from './kinds.js'

export type Action = 'allow' | 'deny' | 'review'

/** Functions that read or write server files, run programs, reach other servers or end other sessions. */
export const DEFAULT_DANGEROUS_FUNCTIONS: readonly string[] = [
  'pg_read_file',
  'pg_read_binary_file',
  'pg_ls_dir',
  'pg_ls_logdir',
  'pg_ls_waldir',
  'pg_ls_tmpdir',
  'pg_ls_archive_statusdir',
  'pg_stat_file',
  'pg_file_write',
  'pg_file_rename',
  'pg_file_unlink',
  'pg_logdir_ls',
  'lo_import',
  'lo_export',
  'dblink*',
  'pg_terminate_backend',
  'pg_cancel_backend',
  'pg_reload_conf',
  'pg_rotate_logfile',
  'pg_promote',
]

export const DEFAULT_REVIEW_TIMEOUT_MS = 10 * 60_000

/** A glob over names: `*` any run, `?` one character, case-insensitive; `schema.name` or `name`. */
export class NameGlob {
  readonly pattern: string
  private readonly schema: RegExp | undefined
  private readonly name: RegExp

  constructor(pattern: string) {
    this.pattern = pattern
    const dot = pattern.lastIndexOf('.')
    this.schema = dot > 0 ? globRegExp(pattern.slice(0, dot)) : undefined
    this.name = globRegExp(dot > 0 ? pattern.slice(dot + 1) : pattern)
  }

  /**
   * `name` as written in the statement. An unqualified name matches a qualified pattern on its
   * last part: agw does not know the session's search_path, so it assumes the name may be that one.
   */
  matches(written: string): boolean {
    const dot = written.lastIndexOf('.')
    const last = dot >= 0 ? written.slice(dot + 1) : written
    if (!this.name.test(last)) return false
    if (!this.schema || dot < 0) return true
    return this.schema.test(written.slice(0, dot))
  }
}

/**
 * Why a function name (glob) in a rule can never match a call, or undefined. Calls are read from
 * the parse tree as `name` or `schema.name` (lower case, no arguments), so `pg_read_file()`,
 * `pg_read_file(text)` or `db.schema.name` would never match.
 */
export function functionGlobProblem(pattern: string): string | undefined {
  if (/[()\s]/.test(pattern)) return `function "${pattern}" can never match: write the name without arguments or spaces, e.g. pg_read_file or pg_catalog.pg_read_file`
  const parts = pattern.split('.')
  if (parts.length > 2 || parts.some((p) => p === '')) return `function "${pattern}" can never match: write name or schema.name`
  return undefined
}

export function globRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')
  return new RegExp(`^${body}$`, 'i')
}

export interface RuleRef {
  /** The rule's name, or "rule N" (its place in the connection's list). */
  name: string
  action: Action
  message?: string
  reviewers: string[]
  timeoutMs: number
  builtin?: boolean
}

export interface CompiledRule extends RuleRef {
  kinds?: Set<string>
  where?: 'absent' | 'present'
  tables?: NameGlob[]
  functions?: NameGlob[]
  schemas?: RegExp[]
  regex?: RegExp
  dangerous?: boolean
}

export interface CompiledPolicy {
  connection: string
  rules: CompiledRule[]
  allowUnparsed: boolean
  dangerous: NameGlob[]
  /** The connection's column masking rules, when it has any: statements that put a masked value where masking cannot follow are refused (lineage.ts). */
  maskedColumn?: (name: string) => boolean
}


function compileRule(r: RuleConfig, index: number, connection: string): CompiledRule {
  const name = r.name ?? `rule ${index + 1}`
  const m = r.match
  const reviewers = r.reviewers ?? []
  if (r.action === 'review' && reviewers.length === 0) {
    throw new AgwError('bad_input', `connection "${connection}", ${name}: a review rule needs reviewers (the groups that may approve)`)
  }
  const out: CompiledRule = {
    name,
    action: r.action,
    reviewers,
    timeoutMs: r.timeout ? parseDuration(r.timeout) : DEFAULT_REVIEW_TIMEOUT_MS,
  }
  if (r.message !== undefined) out.message = r.message
  if (m.statement) {
    for (const k of m.statement) {
      const problem = unknownKindProblem(k)
      if (problem) throw new AgwError('bad_input', `connection "${connection}", ${name}: ${problem}`)
    }
    out.kinds = new Set(m.statement.map(normalizeKind))
  }
  if (m.where) out.where = m.where
  if (m.tables) out.tables = m.tables.map((t) => new NameGlob(t))
  if (m.functions) {
    for (const f of m.functions) {
      const problem = functionGlobProblem(f)
      if (problem) throw new AgwError('bad_input', `connection "${connection}", ${name}: ${problem}`)
    }
    out.functions = m.functions.map((t) => new NameGlob(t))
  }
  if (m.schemas) out.schemas = m.schemas.map(globRegExp)
  if (m.regex !== undefined) {
    try {
      out.regex = new RegExp(m.regex, 'is')
    } catch (err) {
      throw new AgwError('bad_input', `connection "${connection}", ${name}: match.regex does not compile: ${(err as Error).message}`)
    }
  }
  if (m.dangerous !== undefined) out.dangerous = m.dangerous
  return out
}

export const BUILTIN_DANGEROUS_RULE: CompiledRule = {
  name: 'builtin:dangerous-functions',
  action: 'deny',
  message: 'it calls a function that reads server files, runs programs, reaches other servers or changes other sessions',
  reviewers: [],
  timeoutMs: DEFAULT_REVIEW_TIMEOUT_MS,
  builtin: true,
  dangerous: true,
}

/** Compiles a connection's policy. Throws AgwError('bad_input') for a rule that cannot work. */
export function compilePolicy(c: Pick<ConnectionConfig, 'name' | 'rules' | 'allowUnparsed' | 'dangerousFunctions'>): CompiledPolicy {
  const rules = c.rules.map((r, i) => compileRule(r, i, c.name))
  if (!rules.some((r) => r.dangerous !== undefined)) rules.push(BUILTIN_DANGEROUS_RULE)
  return {
    connection: c.name,
    rules,
    allowUnparsed: c.allowUnparsed,
    dangerous: (c.dangerousFunctions ?? DEFAULT_DANGEROUS_FUNCTIONS).map((f) => new NameGlob(f)),
  }
}
