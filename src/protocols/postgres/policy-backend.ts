/**
 * The server -> client half of the PostgreSQL policy interceptor (policy.ts), and the state both
 * halves share: which answer belongs to which client message (ResponseTracker), masking of rows,
 * COPY data, errors, notices and notifications, and the audit of what was masked.
 */
import { AgwError, describeError } from '../../errors.js'
import { MaskCounts, type CompiledPolicy, type Masker, type OutputInfo, type Statement } from '../../policy/index.js'
import type { EngineContext } from '../engine.js'
import { BackendType as B, encodeBackend, encodeErrorResponse, type BackendMessage, type Frame, type RowDescriptionField } from './codec/index.js'
import { maskCopyData, maskDataRow, maskFields, rowPlan, wholeColumns, type CopyPlan, type RowPlan } from './masking.js'
import { PreparedRegistry } from './prepared.js'
import type { Compiled, Cursor, Data, Portal } from './policy-state.js'
import { ResponseTracker, type Entry, type EntryStatus } from './responses.js'

/** PgPolicy (policy-frontend.ts) without its client -> server half. */
export abstract class PgPolicyBackend {
  protected readonly policy: CompiledPolicy
  protected readonly masker: Masker | undefined
  protected readonly registry = new PreparedRegistry()
  protected readonly tracker: ResponseTracker<Data>
  /** Portals bound on this connection, and cursors it declared, by serverName (one namespace on the server). */
  protected readonly portals = new Map<string, Portal>()
  protected readonly cursors = new Map<string, Cursor>()
  protected readonly statementFields = new Map<string, RowDescriptionField[]>()
  protected readonly tainted = new Set<string>()
  /** Masking counts for messages outside any statement (asynchronous notices, notifications). */
  private readonly asyncCounts = new MaskCounts()
  /**
   * The session's standard_conforming_strings is off (the server says so in ParameterStatus). agw
   * reads SQL as the server does with it on; the two readings differ only for text with a
   * backslash, so such text is judged only when every earlier message has been answered (the
   * setting is then known), and refused while the setting is off.
   */
  protected scsOff = false
  /** The session's client_encoding, as the server last reported it. */
  protected clientEncoding = 'UTF8'
  /**
   * Nothing has been sent since a ReadyForQuery that answered everything: the settings the server
   * reported (ParameterStatus comes just before ReadyForQuery) are the ones the next message runs
   * under. A Flush changes nothing; any other message may (SET by an unsynced Execute).
   */
  protected settled = true
  protected readonly drained: (() => void)[] = []
  /**
   * The session's transaction status in the last ReadyForQuery (internal ones too: they are the
   * server's state as well). It is the state the next message runs in only when nothing is pending
   * (`tracker.pending === 0`); a new session is idle.
   */
  protected txStatus: 'I' | 'T' | 'E' = 'I'

  constructor(
    protected readonly ctx: EngineContext,
    compiled: Compiled,
  ) {
    this.policy = compiled.policy
    this.masker = compiled.masker
    this.tracker = new ResponseTracker<Data>((e, s) => this.done(e, s))
  }

  // ================= server -> client =================

  backend(msg: BackendMessage | undefined, frame: Frame): Buffer | null | undefined {
    const type = frame.type
    const e = this.tracker.backend(type)
    if (msg?.type === 'ReadyForQuery') {
      this.txStatus = msg.status
      this.settled = this.tracker.pending === 0
      if (msg.status === 'I' && e?.data.endsBatch !== undefined) this.transactionEnded(e.data.endsBatch)
    }
    if (this.drained.length > 0 && this.tracker.pending === 0) for (const resolve of this.drained.splice(0)) resolve()
    if (msg?.type === 'ParameterStatus' && msg.name === 'standard_conforming_strings') this.scsOff = msg.value !== 'on'
    if (msg?.type === 'ParameterStatus' && msg.name === 'client_encoding') this.clientEncoding = msg.value.toUpperCase()
    // A notice while agw's own quiet message is being answered (the COPY probe) was caused by it.
    if (type === B.NoticeResponse && this.tracker.head?.data.quiet) return null
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

  /**
   * The session is idle after the batch `batch`: every portal of it and of earlier batches is
   * gone on the server, and every cursor not declared WITH HOLD.
   */
  private transactionEnded(batch: number): void {
    for (const [name, p] of this.portals) if (p.batch <= batch) this.portals.delete(name)
    for (const [name, c] of this.cursors) if (!c.hold && c.batch <= batch) this.cursors.delete(name)
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
    const outputs = p.outputs
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
        plan.whole = wholeColumns(probed, outputs, m, tainted)
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
