/**
 * The client -> server half of the PostgreSQL policy interceptor (policy.ts): every Query, Parse,
 * Bind, Execute and FunctionCall is classified and decided, and carried out: forwarded, denied (a
 * message the server is certain to reject, docs/adr/0003) or held for review.
 */
import { randomBytes } from 'node:crypto'
import { describeError } from '../../errors.js'
import {
  decide,
  copyQueryText,
  loadParser,
  MaskCounts,
  parserReady,
  reviewFingerprint,
  reviewScope,
  type Classification,
  type Classifier,
  type Decision,
  type OutputInfo,
  type ReviewGate,
  type Statement,
} from '../../policy/index.js'
import type { EngineContext } from '../engine.js'
import { encodeFrontend, encodeNoticeResponse, formatAt, type Frame, type FrontendMessage } from './codec/index.js'
import { encodingDependent, escapeStringForm, scsDependent, UNSAFE_CLIENT_ENCODINGS } from '../../policy/pg-lexer.js'
import { taintedNames } from './masking.js'
import { PgPolicyBackend } from './policy-backend.js'
import type { Compiled, Data, Denial, QueryRun } from './policy-state.js'
import { serverName, type PreparedDef, type PreparedOp } from './prepared.js'
import type { FrontendVerdict, PgInterceptor, PgProxyIo } from './proxy.js'
import { paramText } from './recorder.js'

const FORWARD: FrontendVerdict = { action: 'forward' }
const RANK = { allow: 0, review: 1, deny: 2 } as const
const MAX_TAINTED = 10_000
const MAX_PORTALS = 256

/** The policy interceptor of one PostgreSQL client connection (created by pgPolicy(), policy.ts). */
export class PgPolicy extends PgPolicyBackend implements PgInterceptor {
  private readonly decisions: WeakMap<Classification, Decision>
  private readonly version: string
  private readonly describedStatements = new Set<string>()
  private readonly holds = new Set<AbortController>()
  private readonly nonce = randomBytes(8).toString('hex')
  private seq = 0
  private io: PgProxyIo | undefined
  /** An extended message of this batch was denied (or is certain to fail): the server skips everything until Sync. */
  private batchDenied = false

  constructor(
    ctx: EngineContext,
    compiled: Compiled,
    private readonly gate: ReviewGate | undefined,
    private readonly classifier: Classifier,
  ) {
    super(ctx, compiled)
    this.decisions = compiled.decisions
    this.version = compiled.version
  }

  attach(io: PgProxyIo): void {
    this.io = io
    for (const [name, value] of io.parameters) {
      if (name === 'standard_conforming_strings') this.scsOff = value !== 'on'
      if (name === 'client_encoding') this.clientEncoding = value.toUpperCase()
    }
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
    if ((msg.type === 'Query' || msg.type === 'Parse') && !this.batchDenied && msg.sql.includes('\\') && (scsDependent(msg.sql) || encodingDependent(msg.sql))) {
      return this.withBackslash(msg, frame)
    }
    if (msg.type !== 'Flush') this.settled = false
    switch (msg.type) {
      case 'Query':
        return this.query(msg.sql, frame.raw)
      case 'Parse':
        return this.parse(msg)
      case 'Bind':
        return this.bind(msg)
      case 'Describe': {
        if (msg.target === 'P') {
          const p = this.portals.get(serverName(msg.name))
          if (p) p.described = true
        } else this.describedStatements.add(serverName(msg.name))
        this.tracker.add('describe', { describe: { target: msg.target, name: msg.name } })
        return FORWARD
      }
      case 'Execute':
        return this.execute(msg, frame)
      case 'Close': {
        const data: Data = {}
        const name = serverName(msg.name)
        if (msg.target === 'S') {
          data.ops = [this.registry.remove(msg.name)]
          this.statementFields.delete(name)
          this.describedStatements.delete(name)
        } else {
          this.portals.delete(name)
          this.cursors.delete(name)
        }
        this.tracker.add('close', data)
        return FORWARD
      }
      case 'Sync':
        this.tracker.add('sync', { endsBatch: this.registry.currentBatch })
        this.batchDenied = false
        this.registry.endBatch()
        return FORWARD
      case 'FunctionCall':
        return this.functionCall(msg.oid)
      default:
        return FORWARD
    }
  }

  /**
   * SQL whose meaning depends on standard_conforming_strings (a backslash in a plain literal).
   * agw reads SQL as the server does with the setting on; with it off, the text is read in its
   * escape-string form (pg-lexer.ts). Which value the server has is certain only when the session
   * is settled (`settled`): so agw first asks for every pending answer (a Flush changes nothing
   * else); if the server has still not confirmed the setting (a SET run by an Execute with no Sync
   * reports its new value only at the next ReadyForQuery), the text is judged under both values: it
   * is refused when the two readings are different statements, else judged as the stricter.
   * The same holds for client_encoding: in SJIS, BIG5, GBK ... a backslash after a non-ASCII byte
   * may be the second byte of a character (pg-lexer.ts, encodingDependent): refused there, and
   * while the encoding is unconfirmed.
   */
  private withBackslash(msg: Extract<FrontendMessage, { type: 'Query' | 'Parse' }>, frame: Frame): FrontendVerdict | Promise<FrontendVerdict> {
    const how = { protocol: msg.type === 'Query' ? ('simple' as const) : ('extended' as const), reason: 'standard_conforming_strings' }
    const refuse = (why: string): FrontendVerdict => {
      const message = `agw denied a statement on connection "${this.policy.connection}": ${why}; write the literal as E'...' or with the backslash doubled, or SET standard_conforming_strings = on and send it after a Sync`
      return this.deny({ action: 'deny', message, matches: [] }, msg.sql, how)
    }
    const judge = (): FrontendVerdict | Promise<FrontendVerdict> => {
      const settled = this.settled
      this.settled = false
      if (encodingDependent(msg.sql) && (!settled || UNSAFE_CLIENT_ENCODINGS.has(this.clientEncoding))) {
        const enc = settled ? `the session's client_encoding ${this.clientEncoding}` : 'a client_encoding the server has not confirmed yet'
        return refuse(`a backslash right after a non-ASCII character may be part of that character in ${enc}`)
      }
      if (!scsDependent(msg.sql)) return msg.type === 'Query' ? this.query(msg.sql, frame.raw) : this.parse(msg)
      const off = escapeStringForm(msg.sql)
      let c: Classification
      if (settled && !this.scsOff) c = this.classify(msg.sql)
      else if (off === undefined) return refuse('with standard_conforming_strings off a national literal (N\'...\') with a backslash cannot be read')
      else if (settled) c = this.classify(off)
      else {
        const on = this.classify(msg.sql)
        const escaped = this.classify(off)
        if (shape(on) !== shape(escaped)) return refuse('its meaning depends on standard_conforming_strings, whose new value the server has not confirmed yet')
        c = RANK[this.decide(escaped).action] > RANK[this.decide(on).action] ? escaped : on
      }
      return msg.type === 'Query' ? this.query(msg.sql, frame.raw, c) : this.parse(msg, c)
    }
    if (this.tracker.pending === 0) return judge()
    // Answers may sit in the server's output buffer until a Sync or Flush: ask for them.
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

  private query(sql: string, frame: Buffer, classified?: Classification): FrontendVerdict | Promise<FrontendVerdict> {
    if (this.batchDenied) {
      // The server skips it (an extended message of this batch was refused): nothing to judge.
      this.tracker.add('query', { endsBatch: this.registry.currentBatch })
      this.registry.endBatch()
      return FORWARD
    }
    const c = classified ?? this.classify(sql)
    const d = this.unknownCursor(c) ?? this.decide(c)
    if (d.action === 'deny') return this.deny(d, sql, { protocol: 'simple' })
    if (d.action === 'review') return this.hold(d, sql, [], () => this.forwardQuery(c, frame), { protocol: 'simple' })
    return this.forwardQuery(c, frame)
  }

  private forwardQuery(c: Classification, frame: Buffer): FrontendVerdict | Promise<FrontendVerdict> {
    // A probe must know the transaction state it will run in (see probeMessages): when answers are
    // still pending, the Query waits for them (they come at their ReadyForQuery, no Flush needed).
    if (this.tracker.pending > 0 && !this.tracker.openBatch && this.copyProbe(c.ok ? c.statements[0] : undefined)) {
      return new Promise<void>((resolve) => this.drained.push(resolve)).then(() => this.sendQuery(c, frame))
    }
    return this.sendQuery(c, frame)
  }

  private sendQuery(c: Classification, frame: Buffer): FrontendVerdict {
    const statements = c.ok ? c.statements : []
    const ops: (PreparedOp | undefined)[] = []
    const outputs: OutputInfo[][] = []
    for (let i = 0; i < statements.length; i++) {
      const s = statements[i] as Statement
      outputs.push(this.outputsOf(s, this.localOps(statements, i)))
      const op = opOf(s)
      ops.push(op ? (op.def ? this.registry.define(op.name as string, op.def) : this.registry.remove(op.name)) : undefined)
      this.namesChanged(s)
    }
    // A simple Query runs in an unnamed portal of its own: the client's unnamed portal is gone.
    this.portals.delete('')
    const run: QueryRun = { statements, index: 0, ops, outputs, tainted: this.taint(outputs.flat()) }
    const probe = this.probeMessages(statements[0], run)
    // A simple Query drops the unnamed prepared statement before it runs anything.
    const drop = this.registry.remove('')
    drop.dropsFirst = true
    this.tracker.add('query', { query: run, ops: [drop], counts: new MaskCounts(), endsBatch: this.registry.currentBatch })
    this.registry.endBatch()
    return probe ? { action: 'replace', messages: [...probe, frame] } : FORWARD
  }

  /**
   * The probe for a COPY (copyProbe), queued in the tracker, as the messages to send before the
   * client's Query; undefined for none. It must leave the session as it was:
   * - in a transaction block (status T), a failing probe would abort the client's transaction, and
   *   a succeeding one would keep its lock: it runs inside a savepoint of its own (named with this
   *   connection's random nonce; savepoints stack, so even a client's savepoint of the same name
   *   would be left alone), rolled back and released after it, whatever the probe's outcome;
   * - in a failed transaction (E), the server refuses the COPY anyway: no probe;
   * - inside an extended batch not yet synced, the probe's Sync (or Query) would end the client's
   *   batch early, or make the server run a Query it is skipping after an error: no probe.
   * Without a probe the COPY is masked whole when column rules exist (copyStart, fail closed).
   * Called only with nothing pending or an open batch (forwardQuery), so `txStatus` is current.
   */
  private probeMessages(s: Statement | undefined, run: QueryRun): Buffer[] | undefined {
    if (this.tracker.openBatch || this.txStatus === 'E') return undefined
    const probe = this.copyProbe(s)
    if (!probe) return undefined
    const savepoint = this.txStatus === 'T' ? `agw_probe_${this.nonce}` : undefined
    const internal = (): Data => ({ internal: true, quiet: true })
    if (savepoint) this.tracker.add('query', internal())
    if (probe.kind === 'query') this.tracker.add('query', { ...internal(), namesFor: run })
    else {
      this.tracker.add('parse', internal())
      this.tracker.add('describe', { ...internal(), namesFor: run })
      this.tracker.add('sync', internal())
    }
    if (!savepoint) return probe.messages
    this.tracker.add('query', internal())
    return [
      encodeFrontend({ type: 'Query', sql: `SAVEPOINT ${savepoint}` }),
      ...probe.messages,
      encodeFrontend({ type: 'Query', sql: `ROLLBACK TO SAVEPOINT ${savepoint}; RELEASE SAVEPOINT ${savepoint}` }),
    ]
  }

  /**
   * A COPY that names no columns cannot be masked by column name from its text alone, so agw asks
   * the server first, on the same session (same search_path), its answers kept from the client:
   * - `COPY t TO STDOUT`: `SELECT * FROM t LIMIT 0` as its own Query, just before the client's. It
   *   reads nothing and changes nothing.
   * - `COPY (SELECT * ...) TO STDOUT`: Parse of the inner query as the unnamed statement, Describe,
   *   Sync. The server plans it and names its columns without running it (a function in it is not
   *   called). The client's Query drops the unnamed statement anyway.
   * Only for a COPY that is the first statement of its Query (an earlier statement might change
   * what the names mean). Either can fail (no such table): its error is not the client's, and in a
   * transaction block it must not abort the client's transaction (probeMessages).
   */
  private copyProbe(s: Statement | undefined): { kind: 'query' | 'describe'; messages: Buffer[] } | undefined {
    const c = s?.copy
    if (!this.masker?.columnsOn || !c || c.direction !== 'to' || c.program || c.file || c.columns || c.header) return undefined
    if (!c.relationName) {
      // Named targets only: the statement itself names every column.
      if (!s.output?.targets.some((t) => t.star)) return undefined
      const inner = copyQueryText(s.text)
      if (inner === undefined) return undefined
      return {
        kind: 'describe',
        messages: [encodeFrontend({ type: 'Parse', name: '', sql: inner, paramTypes: [] }), encodeFrontend({ type: 'Describe', target: 'S', name: '' }), encodeFrontend({ type: 'Sync' })],
      }
    }
    if (s.output?.targets.some((t) => !t.star)) return undefined
    const [schema, rel] = c.relationName
    const q = (id: string) => `"${id.replace(/"/g, '""')}"`
    return { kind: 'query', messages: [encodeFrontend({ type: 'Query', sql: `SELECT * FROM ${schema ? `${q(schema)}.` : ''}${q(rel)} LIMIT 0` })] }
  }

  /** The output analyses a statement's rows may have (EXECUTE: every definition of the name). */
  private outputsOf(s: Statement, local: PreparedOp[]): OutputInfo[] {
    if (s.output) return [s.output]
    if (s.cursor && !s.cursor.declare) return this.cursors.get(serverName(s.cursor.name))?.outputs ?? []
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

  private parse(msg: Extract<FrontendMessage, { type: 'Parse' }>, classified?: Classification): FrontendVerdict {
    const c = classified ?? this.classify(msg.sql)
    this.statementFields.delete(serverName(msg.name))
    this.describedStatements.delete(serverName(msg.name))
    if (!this.batchDenied) {
      const d = this.unknownCursor(c) ?? this.decide(c)
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
    const statement = serverName(msg.statement)
    const portal = serverName(msg.portal)
    const forward = (defs: PreparedDef[]): FrontendVerdict => {
      const fields = this.statementFields.get(statement)
      // Portals end with their transaction (transactionEnded); agw keeps the last ones by name (Bind replaces).
      if (this.portals.size >= MAX_PORTALS && !this.portals.has(portal)) this.portals.delete(this.portals.keys().next().value as string)
      this.cursors.delete(portal)
      this.portals.set(portal, {
        defs,
        statement,
        formats: msg.resultFormats,
        fields: defs.length === 1 ? fields : undefined,
        described: defs.length === 1 && this.describedStatements.has(statement),
        batch: this.registry.currentBatch,
        // Only masking reads them: no allocation per Bind on a connection without it.
        outputs: this.masker ? defs.flatMap((d) => (d.classification.ok ? d.classification.statements.flatMap((x) => this.outputsOf(x, [])) : [])) : [],
      })
      this.tracker.add('bind', {})
      return FORWARD
    }
    if (this.batchDenied) {
      // The server skips it: whatever portal had the name keeps it.
      this.tracker.add('bind', {})
      return FORWARD
    }
    const defs = this.registry.candidates(msg.statement)
    const params = msg.params.map((p, i) => paramText(p, formatAt(msg.paramFormats, i)))
    if (defs.length === 0) {
      // Never forwarded on the theory that the server will refuse it: server code may have prepared it (EXECUTE 'PREPARE ...').
      const name = msg.statement === '' ? 'the unnamed prepared statement' : `prepared statement "${msg.statement}"`
      const message = `agw denied a Bind of ${name} on connection "${this.policy.connection}": agw has not seen it prepared on this connection (or server code may have changed it); Parse it again`
      return this.deny({ action: 'deny', message, matches: [] }, `-- bind ${msg.statement}`, { protocol: 'extended', params, reason: 'unknown prepared statement' })
    }
    let worst: Decision | undefined
    let worstSql = ''
    for (const def of defs) {
      const d = this.unknownCursor(def.classification) ?? this.decide(def.classification)
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
    const portal = this.batchDenied ? undefined : this.portals.get(serverName(msg.portal))
    if (!portal && !this.batchDenied) {
      const name = msg.portal === '' ? 'the unnamed portal' : `portal "${msg.portal}"`
      const message = `agw denied an Execute of ${name} on connection "${this.policy.connection}": agw has not seen it bound in this transaction (cursors opened by server code are not followed); Bind it again, or DECLARE the cursor and FETCH from it`
      return this.deny({ action: 'deny', message, matches: [] }, `-- execute ${msg.portal}`, { protocol: 'extended', reason: 'unknown portal' })
    }
    const data: Data = { counts: new MaskCounts() }
    if (portal) {
      data.portal = portal
      data.sql = portal.defs[0]?.sql ?? ''
      // PREPARE / DEALLOCATE run through the extended protocol change the names too.
      const first = portal.defs.length === 1 && portal.defs[0]?.classification.ok ? portal.defs[0].classification.statements[0] : undefined
      const op = first ? opOf(first) : undefined
      if (op) data.ops = [op.def ? this.registry.define(op.name as string, op.def) : this.registry.remove(op.name)]
      for (const d of portal.defs) if (d.classification.ok) for (const s of d.classification.statements) this.namesChanged(s)
      if (this.masker) this.taint(portal.outputs)
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
    this.tracker.add('function', { endsBatch: this.registry.currentBatch })
    this.registry.endBatch()
    return FORWARD
  }

  // ---- names server code or SQL changes ----

  /**
   * Follows what a statement about to run does to prepared statements, cursors and portals that
   * agw cannot read from the protocol: DECLARE and CLOSE (and DISCARD ALL), and server code (a DO
   * block may PREPARE, DEALLOCATE, OPEN or CLOSE anything: every name agw knew becomes unknown).
   */
  private namesChanged(s: Statement): void {
    if (s.kind === 'DO') {
      this.registry.poison()
      this.cursors.clear()
      this.portals.clear()
      this.statementFields.clear()
      this.describedStatements.clear()
      return
    }
    if (s.cursor?.declare) {
      const name = serverName(s.cursor.name)
      this.portals.delete(name)
      if (this.cursors.size >= MAX_PORTALS && !this.cursors.has(name)) this.cursors.delete(this.cursors.keys().next().value as string)
      this.cursors.set(name, { outputs: s.output ? [s.output] : [], hold: s.cursor.hold === true, batch: this.registry.currentBatch })
    }
    if (s.closeCursor) {
      if (s.closeCursor.name === null) {
        this.cursors.clear()
        this.portals.clear()
      } else {
        this.cursors.delete(serverName(s.closeCursor.name))
        this.portals.delete(serverName(s.closeCursor.name))
      }
    }
  }

  /** A FETCH or MOVE of a cursor agw did not see declared (earlier in the same text, or on this connection): refused. */
  private unknownCursor(c: Classification): Decision | undefined {
    if (!c.ok) return undefined
    const declared = new Set<string>()
    for (const s of c.statements) {
      if (s.cursor?.declare) declared.add(serverName(s.cursor.name))
      else if (s.cursor) {
        const name = serverName(s.cursor.name)
        if (declared.has(name) || this.cursors.has(name)) continue
        const message = `agw denied ${s.kind} of cursor "${s.cursor.name}" on connection "${this.policy.connection}": agw has not seen it declared on this connection (cursors opened by functions or DO blocks are not followed); DECLARE it in SQL`
        return { action: 'deny', message, matches: [] }
      }
    }
    return undefined
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
      this.tracker.add('query', { deny: denial, ops: [drop], endsBatch: this.registry.currentBatch })
      this.registry.endBatch()
      this.portals.delete('')
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
    approve: () => FrontendVerdict | Promise<FrontendVerdict>,
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
      // What a grant (`approve --for`) from this review covers: src/reviews/scope.ts.
      scope: reviewScope(d),
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
}

/** The prepared-statement change a statement makes, if any. */
function opOf(s: Statement): { name: string | null; def: PreparedDef | undefined } | undefined {
  if (s.prepare) return { name: s.prepare.name, def: { sql: s.text, classification: { ok: true, statements: s.prepare.statements } } }
  if (s.deallocate) return { name: s.deallocate.name, def: undefined }
  return undefined
}

/** What a reading of SQL does, for comparing two readings of one text: statement kinds and what they touch. */
function shape(c: Classification): string {
  if (!c.ok) return 'unparsed'
  return JSON.stringify(c.statements.map((s) => [s.units.map((u) => [u.kind, u.detail, u.where, [...u.tables].sort()]), [...s.tables].sort(), [...s.functions].sort(), s.opaque ?? '']))
}
