/**
 * The PgInterceptor that carries out policy on a PostgreSQL connection: guardrails (deny, review)
 * on every Query, Parse, Bind and FunctionCall, and masking of everything the server sends.
 *
 * Deny (docs/adr/0003-deny-by-a-message-the-server-rejects.md): the refused message is replaced by
 * one the server is certain to reject at that point (a Query, or a Parse, whose text is a unique
 * marker that is a syntax error), and the server's ErrorResponse for it is rewritten into the
 * policy error (SQLSTATE 42501). So the server itself does what PostgreSQL does on an error: ends
 * a simple Query with ReadyForQuery, skips the rest of an extended batch until Sync, puts an
 * explicit transaction in the failed state and rolls back an implicit one. ResponseTracker says
 * which answer belongs to which message.
 *
 * Review: the message is held (the proxy stops reading the client), a NoticeResponse tells the
 * client at once, the gate decides; approved runs the original message, anything else denies it.
 */
import { createHash, randomBytes } from 'node:crypto'
import type { ConnectionConfig } from '../../config/schema.js'
import { AgwError, describeError } from '../../errors.js'
import {
  compilePolicy,
  decide,
  loadParser,
  MaskCounts,
  Masker,
  parserReady,
  reviewFingerprint,
  sharedClassifier,
  type Classification,
  type Classifier,
  type CompiledPolicy,
  type Decision,
  type OutputInfo,
  type ReviewGate,
  type Statement,
} from '../../policy/index.js'
import type { EngineContext } from '../engine.js'
import {
  BackendType as B,
  encodeBackend,
  encodeErrorResponse,
  encodeFrontend,
  encodeNoticeResponse,
  formatAt,
  type BackendMessage,
  type Frame,
  type FrontendMessage,
  type RowDescriptionField,
} from './codec/index.js'
import { maskCopyData, maskDataRow, maskFields, rowPlan, taintedNames, wholeColumns, type CopyPlan, type RowPlan } from './masking.js'
import { PreparedRegistry, type PreparedDef, type PreparedOp } from './prepared.js'
import type { FrontendVerdict, PgInterceptor, PgInterceptorFactory, PgProxyIo } from './proxy.js'
import { paramText } from './recorder.js'
import { ResponseTracker, type Entry, type EntryStatus } from './responses.js'

export interface PgPolicyOptions {
  /** Decides held statements; without one, a review rule fails closed (deny). */
  gate?: ReviewGate | undefined
  /** Key for the `hash` masking style (per gateway, so equal values get equal masks). */
  maskingKey?: Buffer | undefined
  classifier?: Classifier | undefined
}

/** The policy error a client gets, and what the audit event says. */
interface Denial {
  message: string
  rule?: string
  marker: string
}

interface Portal {
  defs: PreparedDef[]
  statement: string
  formats: number[]
  fields: RowDescriptionField[] | undefined
  described: boolean
}

/** A simple Query on its way: which statement the server is answering. */
interface QueryRun {
  statements: Statement[]
  index: number
  /** Prepared-statement changes per statement, resolved as each statement completes. */
  ops: (PreparedOp | undefined)[]
  outputs: OutputInfo[][]
  tainted: Set<string>
  /** Column names of `COPY table TO STDOUT` (statement 0), learnt by agw before the COPY runs. */
  copyNames?: string[]
}

interface Data {
  deny?: Denial
  /** Sent by agw itself: its answers are not the client's (errors still are, unless `quiet`). */
  internal?: boolean
  quiet?: boolean
  /** An internal query whose RowDescription names the columns of a COPY. */
  namesFor?: QueryRun
  ops?: PreparedOp[]
  query?: QueryRun
  portal?: Portal
  describe?: { target: 'S' | 'P'; name: string }
  plan?: RowPlan | undefined
  copy?: CopyPlan | undefined
  counts?: MaskCounts
  /** The statement text, for masking.applied. */
  sql?: string
}

const FORWARD: FrontendVerdict = { action: 'forward' }
const RANK = { allow: 0, review: 1, deny: 2 } as const
const MAX_TAINTED = 10_000
const MAX_PORTALS = 256

/** A compiled connection: rules, masker, and the policy version reviews are bound to. */
interface Compiled {
  policy: CompiledPolicy
  /** Decisions by classification (classifications are shared and immutable; shared by this connection's clients). */
  decisions: WeakMap<Classification, Decision>
  masker: Masker | undefined
  version: string
}

function compileConnection(c: ConnectionConfig, key: Buffer): Compiled {
  const policy = compilePolicy(c)
  let masker: Masker | undefined
  const m = c.masking
  if (m && (m.columns.length > 0 || m.detectors.length > 0)) {
    try {
      masker = new Masker(m, key)
    } catch (err) {
      throw new AgwError('bad_input', `connection "${c.name}": masking: ${describeError(err)}`)
    }
  }
  const version = createHash('sha256')
    .update(JSON.stringify({ rules: c.rules, masking: c.masking ?? null, allowUnparsed: c.allowUnparsed, dangerous: c.dangerousFunctions ?? null }))
    .digest('hex')
    .slice(0, 16)
  return { policy, decisions: new WeakMap(), masker, version }
}

/**
 * The interceptor factory for the PostgreSQL engine. Compiles every postgres connection now, so a
 * rule or masking setting that cannot work stops the gateway at start (AgwError 'bad_input').
 */
export function pgPolicy(connections: readonly ConnectionConfig[], opts: PgPolicyOptions = {}): PgInterceptorFactory {
  const key = opts.maskingKey ?? randomBytes(32)
  const compiled = new Map<string, Compiled>()
  for (const c of connections) if (c.type === 'postgres') compiled.set(c.name, compileConnection(c, key))
  void loadParser()
  return (ctx) => {
    const c = compiled.get(ctx.connection.name) ?? compileConnection(ctx.connection, key)
    return new PgPolicy(ctx, c, opts.gate, opts.classifier ?? sharedClassifier)
  }
}

export class PgPolicy implements PgInterceptor {
  private readonly policy: CompiledPolicy
  private readonly decisions: WeakMap<Classification, Decision>
  private readonly masker: Masker | undefined
  private readonly version: string
  private readonly registry = new PreparedRegistry()
  private readonly tracker: ResponseTracker<Data>
  private readonly portals = new Map<string, Portal>()
  private readonly statementFields = new Map<string, RowDescriptionField[]>()
  private readonly describedStatements = new Set<string>()
  private readonly tainted = new Set<string>()
  private readonly holds = new Set<AbortController>()
  private readonly nonce = randomBytes(8).toString('hex')
  private seq = 0
  private io: PgProxyIo | undefined
  /** An extended message of this batch was denied (or is certain to fail): the server skips everything until Sync. */
  private batchDenied = false
  /** Masking counts for messages outside any statement (asynchronous notices, notifications). */
  private readonly asyncCounts = new MaskCounts()
  /**
   * The session's standard_conforming_strings is off (the server says so in ParameterStatus). agw
   * reads SQL as the server does with it on; the two readings differ only for text with a
   * backslash, so such text is judged only when every earlier message has been answered (the
   * setting is then known), and refused while the setting is off.
   */
  private scsOff = false
  private readonly drained: (() => void)[] = []

  constructor(
    private readonly ctx: EngineContext,
    compiled: Compiled,
    private readonly gate: ReviewGate | undefined,
    private readonly classifier: Classifier,
  ) {
    this.policy = compiled.policy
    this.decisions = compiled.decisions
    this.masker = compiled.masker
    this.version = compiled.version
    this.tracker = new ResponseTracker<Data>((e, s) => this.done(e, s))
  }

  attach(io: PgProxyIo): void {
    this.io = io
    for (const [name, value] of io.parameters) if (name === 'standard_conforming_strings') this.scsOff = value !== 'on'
  }

  cancel(): void {
    for (const h of this.holds) h.abort()
  }

  close(): void {
    this.cancel()
    this.tracker.drain()
  }

  // ================= client -> server =================

  frontend(msg: FrontendMessage, frame: Frame): FrontendVerdict | Promise<FrontendVerdict> {
    if (!parserReady()) return loadParser().then(() => this.frontend(msg, frame))
    if ((msg.type === 'Query' || msg.type === 'Parse') && !this.batchDenied && msg.sql.includes('\\')) return this.withBackslash(msg, frame)
    switch (msg.type) {
      case 'Query':
        return this.query(msg.sql, frame.raw)
      case 'Parse':
        return this.parse(msg)
      case 'Bind':
        return this.bind(msg)
      case 'Describe': {
        if (msg.target === 'P') {
          const p = this.portals.get(msg.name)
          if (p) p.described = true
        } else this.describedStatements.add(msg.name)
        this.tracker.add('describe', { describe: { target: msg.target, name: msg.name } })
        return FORWARD
      }
      case 'Execute':
        return this.execute(msg, frame)
      case 'Close': {
        const data: Data = {}
        if (msg.target === 'S') {
          data.ops = [this.registry.remove(msg.name)]
          this.statementFields.delete(msg.name)
          this.describedStatements.delete(msg.name)
        } else this.portals.delete(msg.name)
        this.tracker.add('close', data)
        return FORWARD
      }
      case 'Sync':
        this.tracker.add('sync', {})
        this.batchDenied = false
        this.registry.endBatch()
        return FORWARD
      case 'FunctionCall':
        return this.functionCall(msg.oid)
      default:
        return FORWARD
    }
  }

  /** SQL with a backslash: wait until the server has answered everything before it, then judge it knowing standard_conforming_strings. */
  private withBackslash(msg: Extract<FrontendMessage, { type: 'Query' | 'Parse' }>, frame: Frame): FrontendVerdict | Promise<FrontendVerdict> {
    const judge = (): FrontendVerdict | Promise<FrontendVerdict> => {
      if (!this.scsOff) return msg.type === 'Query' ? this.query(msg.sql, frame.raw) : this.parse(msg)
      const message = `agw denied a statement with a backslash on connection "${this.policy.connection}": this session has standard_conforming_strings off, and agw reads SQL as PostgreSQL does with it on; SET standard_conforming_strings = on`
      return this.deny({ action: 'deny', message, matches: [] }, msg.sql, { protocol: msg.type === 'Query' ? 'simple' : 'extended', reason: 'standard_conforming_strings off' })
    }
    if (this.tracker.pending === 0) return judge()
    // Answers may sit in the server's output buffer until a Sync or Flush: ask for them (Flush changes nothing else).
    this.io?.sendToServer(encodeFrontend({ type: 'Flush' }))
    return new Promise<void>((resolve) => this.drained.push(resolve)).then(judge)
  }

  private classify(sql: string): Classification {
    return this.classifier.classify(sql)
  }

  /** decide(), cached per classification when no statement depends on prepared names. */
  private decide(c: Classification): Decision {
    const stmts = c.ok ? c.statements : []
    if (stmts.some((s) => s.execute)) return decide(c, this.policy, { prepared: this.preparedLookup(stmts) })
    let d = this.decisions.get(c)
    if (!d) {
      d = decide(c, this.policy)
      this.decisions.set(c, d)
    }
    return d
  }

  /** Statement lists a prepared name may stand for (for decide): earlier statements of the same text, then the registry. */
  private preparedLookup(statements: readonly Statement[]) {
    return (name: string, statement: number): Statement[][] | undefined => {
      const defs = this.registry.candidates(name, this.localOps(statements, statement))
      return defs.map((d) => (d.classification.ok ? d.classification.statements : []))
    }
  }

  /** Prepared-statement operations of statements before `i` in a text (they ran if statement i runs). */
  private localOps(statements: readonly Statement[], i: number): PreparedOp[] {
    const ops: PreparedOp[] = []
    for (let k = 0; k < i; k++) {
      const op = opOf(statements[k] as Statement)
      if (op) ops.push({ ...op, batch: -1, dropsFirst: false })
    }
    return ops
  }

  // ---- simple Query ----

  private query(sql: string, frame: Buffer): FrontendVerdict | Promise<FrontendVerdict> {
    if (this.batchDenied) {
      // The server skips it (an extended message of this batch was refused): nothing to judge.
      this.tracker.add('query', {})
      return FORWARD
    }
    const c = this.classify(sql)
    const d = this.decide(c)
    if (d.action === 'deny') return this.deny(d, sql, { protocol: 'simple' })
    if (d.action === 'review') return this.hold(d, sql, [], () => this.forwardQuery(c, frame), { protocol: 'simple' })
    return this.forwardQuery(c, frame)
  }

  private forwardQuery(c: Classification, frame: Buffer): FrontendVerdict {
    const statements = c.ok ? c.statements : []
    const ops: (PreparedOp | undefined)[] = []
    const outputs: OutputInfo[][] = []
    for (let i = 0; i < statements.length; i++) {
      const s = statements[i] as Statement
      const op = opOf(s)
      ops.push(op ? (op.def ? this.registry.define(op.name as string, op.def) : this.registry.remove(op.name)) : undefined)
      outputs.push(this.outputsOf(s, this.localOps(statements, i)))
    }
    const run: QueryRun = { statements, index: 0, ops, outputs, tainted: this.taint(outputs.flat()) }
    const probe = this.copyProbe(statements[0])
    if (probe) this.tracker.add('query', { internal: true, quiet: true, namesFor: run })
    // A simple Query drops the unnamed prepared statement before it runs anything.
    const drop = this.registry.remove('')
    drop.dropsFirst = true
    this.tracker.add('query', { query: run, ops: [drop], counts: new MaskCounts() })
    this.registry.endBatch()
    return probe ? { action: 'replace', messages: [encodeFrontend({ type: 'Query', sql: probe }), frame] } : FORWARD
  }

  /**
   * `COPY t TO STDOUT` names no columns: to mask by column, agw first asks the server for the
   * table's columns with `SELECT * FROM t LIMIT 0` (the same session, so the same search_path),
   * sent as its own Query just before the client's, its answers kept from the client. It reads
   * nothing and changes nothing; a simple Query drops the unnamed statement, as the client's
   * own Query does anyway. Only for a COPY that is the first statement of its Query (an earlier
   * statement might change what the name means).
   */
  private copyProbe(s: Statement | undefined): string | undefined {
    const c = s?.copy
    if (!this.masker?.columnsOn || !c || c.direction !== 'to' || c.program || c.file || c.columns || c.header || !c.relationName) return undefined
    if (s.output?.targets.some((t) => !t.star)) return undefined
    const [schema, rel] = c.relationName
    const q = (id: string) => `"${id.replace(/"/g, '""')}"`
    return `SELECT * FROM ${schema ? `${q(schema)}.` : ''}${q(rel)} LIMIT 0`
  }

  /** The output analyses a statement's rows may have (EXECUTE: every definition of the name). */
  private outputsOf(s: Statement, local: PreparedOp[]): OutputInfo[] {
    if (s.output) return [s.output]
    if (s.execute) {
      return this.registry
        .candidates(s.execute.name, local)
        .flatMap((d) => (d.classification.ok ? d.classification.statements.map((x) => x.output).filter((o): o is OutputInfo => o !== undefined) : []))
    }
    return []
  }

  /** Names masked for a statement; they stay masked on this connection (cursors, views, tables made from them). */
  private taint(outputs: OutputInfo[]): Set<string> {
    if (!this.masker?.columnsOn) return this.tainted
    const t = taintedNames(this.masker, outputs, this.tainted)
    for (const n of t) if (this.tainted.size < MAX_TAINTED) this.tainted.add(n)
    return t
  }

  // ---- extended protocol ----

  private parse(msg: Extract<FrontendMessage, { type: 'Parse' }>): FrontendVerdict {
    const c = this.classify(msg.sql)
    this.statementFields.delete(msg.name)
    this.describedStatements.delete(msg.name)
    if (!this.batchDenied) {
      const d = this.decide(c)
      // Reviews wait for Bind, where the parameters are known; a deny is certain now.
      if (d.action === 'deny') {
        const ops = msg.name === '' ? [this.registry.remove('')] : []
        if (ops[0]) ops[0].dropsFirst = true
        return this.deny(d, msg.sql, { protocol: 'extended', parseName: msg.name === '' ? '' : undefined, ops })
      }
    }
    if (c.ok && c.statements.length > 1) {
      // The server refuses to prepare several statements: this Parse fails, so the rest of the batch is skipped.
      const ops = msg.name === '' ? [this.registry.remove('')] : []
      if (ops[0]) ops[0].dropsFirst = true
      this.batchDenied = true
      this.tracker.add('parse', { ops })
      return FORWARD
    }
    const op = this.registry.define(msg.name, { sql: msg.sql, classification: c })
    this.tracker.add('parse', { ops: [op] })
    return FORWARD
  }

  private bind(msg: Extract<FrontendMessage, { type: 'Bind' }>): FrontendVerdict | Promise<FrontendVerdict> {
    const forward = (defs: PreparedDef[]): FrontendVerdict => {
      const fields = this.statementFields.get(msg.statement)
      // Portals end with their transaction; agw keeps the last ones by name (Bind replaces).
      if (this.portals.size >= MAX_PORTALS && !this.portals.has(msg.portal)) this.portals.delete(this.portals.keys().next().value as string)
      this.portals.set(msg.portal, {
        defs,
        statement: msg.statement,
        formats: msg.resultFormats,
        fields: defs.length === 1 ? fields : undefined,
        described: defs.length === 1 && this.describedStatements.has(msg.statement),
      })
      this.tracker.add('bind', {})
      return FORWARD
    }
    if (this.batchDenied) return forward([])
    const defs = this.registry.candidates(msg.statement)
    // No definition: the server answers "prepared statement does not exist" itself.
    if (defs.length === 0) return forward(defs)
    const params = msg.params.map((p, i) => paramText(p, formatAt(msg.paramFormats, i)))
    let worst: Decision | undefined
    let worstSql = ''
    for (const def of defs) {
      const d = this.decide(def.classification)
      if (!worst || RANK[d.action] > RANK[worst.action]) {
        worst = d
        worstSql = def.sql
      }
    }
    const d = worst as Decision
    if (d.action === 'deny') return this.deny(d, worstSql, { protocol: 'extended', params })
    if (d.action === 'review') return this.hold(d, worstSql, params, () => forward(defs), { protocol: 'extended', params })
    return forward(defs)
  }

  private execute(msg: Extract<FrontendMessage, { type: 'Execute' }>, frame: Frame): FrontendVerdict {
    const portal = this.batchDenied ? undefined : this.portals.get(msg.portal)
    const data: Data = { counts: new MaskCounts() }
    if (portal) {
      data.portal = portal
      data.sql = portal.defs[0]?.sql ?? ''
      // PREPARE / DEALLOCATE run through the extended protocol change the names too.
      const first = portal.defs.length === 1 && portal.defs[0]?.classification.ok ? portal.defs[0].classification.statements[0] : undefined
      const op = first ? opOf(first) : undefined
      if (op) data.ops = [op.def ? this.registry.define(op.name as string, op.def) : this.registry.remove(op.name)]
      if (this.masker) this.taint(portal.defs.flatMap((d) => (d.classification.ok ? d.classification.statements.map((s) => s.output).filter((o): o is OutputInfo => !!o) : [])))
    }
    // Column masking needs the result's column names: when the client did not ask for them, agw does.
    if (portal && this.masker?.columnsOn && !portal.described && !portal.fields) {
      portal.described = true
      this.tracker.add('describe', { internal: true, describe: { target: 'P', name: msg.portal }, portal })
      this.tracker.add('execute', data)
      return { action: 'replace', messages: [encodeFrontend({ type: 'Describe', target: 'P', name: msg.portal }), frame.raw] }
    }
    this.tracker.add('execute', data)
    return FORWARD
  }

  private functionCall(oid: number): FrontendVerdict {
    if (this.batchDenied) {
      this.tracker.add('function', {})
      return FORWARD
    }
    // The function-call message names a function by OID only: agw cannot read what it does.
    const strict = this.policy.rules.some((r) => r.action !== 'allow')
    if (strict) {
      const message = `agw denied a function call by OID ${oid} on connection "${this.policy.connection}": the function-call protocol message names no function agw can check; call the function in a SELECT instead`
      return this.deny({ action: 'deny', message, matches: [] }, `-- function call oid ${oid}`, { protocol: 'function' })
    }
    this.tracker.add('function', {})
    this.registry.endBatch()
    return FORWARD
  }

  // ---- deny and review ----

  private deny(
    d: Decision,
    sql: string,
    how: { protocol: 'simple' | 'extended' | 'function'; params?: (string | null)[]; parseName?: string | undefined; ops?: PreparedOp[]; reason?: string },
  ): FrontendVerdict {
    const marker = `agw_denied_${this.nonce}_${++this.seq}`
    const denial: Denial = { message: d.message, marker }
    if (d.rule) denial.rule = d.rule.name
    const event: Record<string, unknown> = { sql, protocol: how.protocol === 'function' ? 'function' : how.protocol, action: 'deny', message: d.message }
    if (d.rule) event.rule = d.rule.name
    if (d.parseError) event.parseError = d.parseError
    if (how.params && how.params.length > 0) event.params = how.params
    if (how.reason) event.reason = how.reason
    this.ctx.record('query.denied', event)
    if (how.protocol !== 'extended') {
      // The marker is a simple Query: like any, it drops the unnamed prepared statement.
      const drop = this.registry.remove('')
      drop.dropsFirst = true
      this.tracker.add('query', { deny: denial, ops: [drop] })
      this.registry.endBatch()
      return { action: 'replace', messages: [encodeFrontend({ type: 'Query', sql: marker })] }
    }
    this.batchDenied = true
    const data: Data = { deny: denial }
    if (how.ops && how.ops.length > 0) data.ops = how.ops
    this.tracker.add('parse', data)
    return { action: 'replace', messages: [encodeFrontend({ type: 'Parse', name: how.parseName ?? marker, sql: marker, paramTypes: [] })] }
  }

  private hold(
    d: Decision,
    sql: string,
    params: (string | null)[],
    approve: () => FrontendVerdict,
    how: { protocol: 'simple' | 'extended'; params?: (string | null)[] },
  ): FrontendVerdict | Promise<FrontendVerdict> {
    const rule = d.rule
    if (!rule) return this.deny(d, sql, how)
    if (!this.gate) {
      const message = `agw denied a statement that rule "${rule.name}" holds for review on connection "${this.policy.connection}": reviews are not available on this gateway`
      return this.deny({ ...d, message }, sql, { ...how, reason: 'reviews unavailable' })
    }
    const ac = new AbortController()
    this.holds.add(ac)
    let reviewId = ''
    const req = {
      sessionId: this.ctx.sessionId,
      connectionId: this.ctx.connectionId,
      connection: this.policy.connection,
      principal: this.ctx.principal,
      rule: { name: rule.name, reviewers: rule.reviewers, timeoutMs: rule.timeoutMs },
      statement: sql,
      params,
      fingerprint: reviewFingerprint(sql, params, this.ctx.sessionId, this.version),
    }
    const onPending = (id: string): void => {
      reviewId = id
      this.io?.sendToClient(
        encodeNoticeResponse({
          severity: 'NOTICE',
          code: '01000',
          message: `agw: held for review ${id} by rule "${rule.name}"; waiting for ${rule.reviewers.join(', ')}`,
          hint: 'The statement runs when a reviewer approves it; cancel the query to withdraw it.',
        }),
      )
    }
    return this.gate.request(req, ac.signal, onPending).then(
      (o) => {
        this.holds.delete(ac)
        if (o.outcome === 'approved') return approve()
        const id = o.reviewId || reviewId
        const why = o.reason ? `: ${o.reason}` : ''
        const by = o.decidedBy ? ` by ${o.decidedBy}` : ''
        const message = `agw: review ${id} ${o.outcome}${by}${why}; the statement held by rule "${rule.name}" was not run`
        return this.deny({ ...d, message }, sql, { ...how, reason: `review ${o.outcome}` })
      },
      (err: unknown) => {
        this.holds.delete(ac)
        this.ctx.log.warn({ err: describeError(err) }, 'review gate failed')
        const message = `agw: the review for rule "${rule.name}" failed (${describeError(err)}); the statement was not run`
        return this.deny({ ...d, message }, sql, { ...how, reason: 'review failed' })
      },
    )
  }

  // ================= server -> client =================

  backend(msg: BackendMessage | undefined, frame: Frame): Buffer | null | undefined {
    const type = frame.type
    const e = this.tracker.backend(type)
    if (this.drained.length > 0 && this.tracker.pending === 0) for (const resolve of this.drained.splice(0)) resolve()
    if (msg?.type === 'ParameterStatus' && msg.name === 'standard_conforming_strings') this.scsOff = msg.value !== 'on'
    if (e?.data.internal && (type !== B.ErrorResponse || e.data.quiet)) {
      if (type === B.RowDescription && msg?.type === 'RowDescription' && e.data.namesFor) e.data.namesFor.copyNames = msg.fields.map((f) => f.name)
      if (type === B.RowDescription && msg?.type === 'RowDescription' && e.data.portal) e.data.portal.fields = msg.fields
      if (type === B.NoData && e.data.portal) e.data.portal.fields = []
      return null
    }
    switch (type) {
      case B.DataRow:
        return this.masker && e ? this.dataRow(e, frame) : undefined
      case B.CopyData:
        return this.masker && e?.data.copy ? this.copyData(e, frame) : undefined
      case B.RowDescription:
        if (msg?.type === 'RowDescription' && e) this.rowDescription(e, msg.fields)
        return undefined
      case B.NoData:
        if (e?.data.describe) this.described(e.data.describe, [])
        return undefined
      case B.CopyOutResponse:
      case B.CopyBothResponse:
        if (this.masker && e && msg && (msg.type === 'CopyOutResponse' || msg.type === 'CopyBothResponse')) this.copyStart(e, msg.format, msg.columnFormats.length)
        return undefined
      case B.CommandComplete:
      case B.EmptyQueryResponse:
      case B.PortalSuspended:
        if (e) this.statementEnd(e, 'ok')
        return undefined
      case B.ErrorResponse:
        return msg?.type === 'ErrorResponse' ? this.error(e, msg.fields) : undefined
      case B.NoticeResponse:
        return this.masker && msg?.type === 'NoticeResponse' ? this.notice(msg.fields) : undefined
      case B.NotificationResponse:
        return this.masker && msg?.type === 'NotificationResponse' ? this.notification(msg) : undefined
      default:
        return undefined
    }
  }

  /** An entry completed (answered, failed, or skipped by the server). */
  private done(e: Entry<Data>, status: EntryStatus): void {
    for (const op of e.data.ops ?? []) this.registry.resolve(op, status)
    const q = e.data.query
    if (q) {
      // Statements after a failed one were not run.
      for (let i = q.index; i < q.ops.length; i++) {
        const op = q.ops[i]
        if (op) this.registry.resolve(op, 'skipped')
      }
    }
  }

  private rowDescription(e: Entry<Data>, fields: RowDescriptionField[]): void {
    if (e.data.describe) {
      this.described(e.data.describe, fields)
      return
    }
    const q = e.data.query
    if (q && this.masker) e.data.plan = rowPlan(fields, undefined, q.outputs[q.index] ?? [], this.masker, q.tainted)
  }

  private described(d: { target: 'S' | 'P'; name: string }, fields: RowDescriptionField[]): void {
    if (d.target === 'S') this.statementFields.set(d.name, fields)
    else {
      const p = this.portals.get(d.name)
      if (p) p.fields = fields
    }
  }

  private planForExecute(e: Entry<Data>): RowPlan | undefined {
    const m = this.masker as Masker
    const p = e.data.portal
    if (!p) return undefined
    const outputs = p.defs.flatMap((d) => (d.classification.ok ? d.classification.statements.map((s) => s.output).filter((o): o is OutputInfo => !!o) : []))
    const fields = p.fields ?? (p.defs.length === 1 ? this.statementFields.get(p.statement) : undefined)
    if (fields) return rowPlan(fields, p.formats, outputs, m, this.tainted)
    // Names unknown (agw could not describe the portal): every column is masked whole when column rules exist.
    return undefined
  }

  private dataRow(e: Entry<Data>, frame: Frame): Buffer | undefined {
    const m = this.masker as Masker
    let plan = e.data.plan
    if (!plan && e.kind === 'execute') plan = e.data.plan = this.planForExecute(e)
    const counts = (e.data.counts ??= new MaskCounts())
    if (!plan) {
      if (!m.columnsOn && !m.detectorsOn) return undefined
      // A row without a known shape: fail closed, mask every column when column rules exist.
      const n = frame.body.readUInt16BE(0)
      plan = { cols: new Array(n).fill(m.columnsOn ? 2 : 1), names: [], formats: e.data.portal?.formats ?? [], types: [], whole: m.columnsOn, content: true }
      e.data.plan = plan
    }
    return maskDataRow(frame.body, plan, m, counts)
  }

  private copyStart(e: Entry<Data>, format: number, columns: number): void {
    const m = this.masker as Masker
    let s: Statement | undefined
    let outputs: OutputInfo[] = []
    let tainted = this.tainted
    if (e.data.query) {
      const q = e.data.query
      s = q.statements[q.index]
      outputs = q.outputs[q.index] ?? []
      tainted = q.tainted
    } else if (e.data.portal?.defs.length === 1) {
      const c = e.data.portal.defs[0]?.classification
      s = c?.ok ? c.statements[0] : undefined
      outputs = s?.output ? [s.output] : []
    }
    const copy = s?.copy
    const plan: CopyPlan = {
      format: format === 1 ? 'binary' : (copy?.format ?? 'text') === 'csv' ? 'csv' : 'text',
      delimiter: copy?.delimiter ?? '\t',
      header: format !== 1 && (copy?.header ?? false),
      whole: undefined,
      all: false,
      names: [],
      content: format !== 1,
      started: false,
    }
    const probed = e.data.query?.index === 0 ? e.data.query.copyNames : undefined
    if (m.columnsOn) {
      const t = outputs[0]?.targets
      if (probed && probed.length === columns) {
        plan.names = probed
        plan.whole = wholeColumns(probed, [], m, tainted)
      } else if (t && !t.some((x) => x.star) && t.length === columns) {
        plan.names = t.map((x) => x.name)
        plan.whole = wholeColumns(plan.names, outputs, m, tainted)
      } else if (!plan.header) {
        // Which column is which is not in the statement (COPY t TO STDOUT, SELECT *): fail closed.
        plan.all = true
      }
    }
    e.data.copy = plan
    e.data.counts ??= new MaskCounts()
  }

  private copyData(e: Entry<Data>, frame: Frame): Buffer | undefined {
    const plan = e.data.copy as CopyPlan
    const counts = (e.data.counts ??= new MaskCounts())
    let out: Buffer | undefined
    try {
      out = maskCopyData(frame.body, plan, this.masker as Masker, counts)
    } catch (err) {
      throw new AgwError('protocol', `cannot mask COPY data: ${describeError(err)}`)
    }
    return out ? encodeBackend({ type: 'CopyData', data: out }) : undefined
  }

  /** A statement's result ended: report what was masked, move to the next statement of a Query. */
  private statementEnd(e: Entry<Data>, status: EntryStatus): void {
    const counts = e.data.counts
    const q = e.data.query
    if (counts && counts.total > 0) {
      const s = q ? q.statements[q.index] : undefined
      const sql = s?.text ?? e.data.sql ?? ''
      this.ctx.record('masking.applied', {
        // The statement as the client wrote it, with what the detectors find in it masked too.
        sql: this.masker?.text(sql, undefined) ?? sql,
        ...(q ? { statementIndex: q.index } : {}),
        detectors: counts.detectors,
        columns: counts.columns,
        values: counts.total,
      })
      e.data.counts = new MaskCounts()
    }
    e.data.plan = undefined
    e.data.copy = undefined
    if (q) {
      const op = q.ops[q.index]
      if (op) this.registry.resolve(op, status)
      q.index++
    }
  }

  private error(e: Entry<Data> | undefined, fields: Record<string, string>): Buffer | undefined {
    const deny = e?.data.deny
    if (deny) {
      if (fields.C === '42601' && (fields.M ?? '').includes(deny.marker)) {
        const out = { severity: 'ERROR', code: '42501', message: deny.message, hint: `\`agw policy explain -c ${this.policy.connection} "SQL"\` shows how agw reads a statement and which rules match.` }
        return encodeErrorResponse(deny.rule ? { ...out, detail: `rule: ${deny.rule}` } : out)
      }
      this.ctx.log.warn({ code: fields.C }, 'the error for a denied statement is not the expected syntax error; passing it on')
    }
    const hot = this.hot(e)
    const counts = e?.data.counts ?? this.asyncCounts
    const masked = this.masker ? maskFields(fields, this.masker, counts, hot) : undefined
    // The failed statement did not run; later ones of its Query will not either.
    if (e && !deny && (e.data.query || e.data.counts)) this.statementEnd(e, 'failed')
    return masked ? encodeBackend({ type: 'ErrorResponse', fields: masked }) : undefined
  }

  private notice(fields: Record<string, string>): Buffer | undefined {
    const e = this.tracker.head
    const masked = maskFields(fields, this.masker as Masker, e?.data.counts ?? this.asyncCounts, this.hot(e))
    return masked ? encodeBackend({ type: 'NoticeResponse', fields: masked }) : undefined
  }

  private notification(msg: Extract<BackendMessage, { type: 'NotificationResponse' }>): Buffer | undefined {
    const payload = (this.masker as Masker).text(msg.payload, this.asyncCounts)
    if (payload === undefined) return undefined
    this.ctx.record('masking.applied', { notification: msg.channel, detectors: this.asyncCounts.detectors, columns: this.asyncCounts.columns, values: this.asyncCounts.total })
    this.asyncCounts.detectors = {}
    this.asyncCounts.columns = {}
    this.asyncCounts.total = 0
    return encodeBackend({ ...msg, payload })
  }

  /** When the statement being answered reads masked columns, its error and notice text is masked harder. */
  private hot(e: Entry<Data> | undefined): { identifiers: Set<string>; whole: boolean } | undefined {
    const m = this.masker
    if (!m?.columnsOn || !e) return undefined
    const q = e.data.query
    const list = q ? q.statements.slice(Math.min(q.index, q.statements.length - 1)) : (e.data.portal?.defs ?? []).flatMap((d) => (d.classification.ok ? d.classification.statements : []))
    const tainted = q?.tainted ?? this.tainted
    const s = list.find((x) => x.references.some((r) => m.isMaskedColumn(r) || tainted.has(r)))
    if (!s) return undefined
    const identifiers = new Set<string>([...s.references, ...s.functions, ...s.tables.flatMap((t) => t.toLowerCase().split('.'))])
    return { identifiers, whole: s.kind === 'DO' }
  }
}

/** The prepared-statement change a statement makes, if any. */
function opOf(s: Statement): { name: string | null; def: PreparedDef | undefined } | undefined {
  if (s.prepare) return { name: s.prepare.name, def: { sql: s.text, classification: { ok: true, statements: s.prepare.statements } } }
  if (s.deallocate) return { name: s.deallocate.name, def: undefined }
  return undefined
}
