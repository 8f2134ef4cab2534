/**
 * Turns the PostgreSQL message stream into `query` and `query.result` events. It follows the
 * protocol as the server does: named statements and portals from Parse/Bind, one record per simple
 * Query statement result or per Execute, rows as sent to the client (after masking) up to the
 * connection's caps. It sees every message but does work only at boundaries and for the first rows.
 */
import type { ConnectionConfig } from '../../config/schema.js'
import type { EventType } from '../../recording/events.js'
import { forEachDataRowValue, type RowDescriptionField } from './codec/index.js'

type Record_ = (type: EventType, data: Record<string, unknown>) => void

interface Pending {
  id: number
  sql: string
  protocol: 'simple' | 'extended' | 'function'
  started: bigint
  /** Statement index inside a multi-statement simple Query. */
  index: number
  /** Result format codes from Bind (0 text, 1 binary; one code for all columns, or one per column). */
  formats?: number[]
}

interface Result {
  fields: string[] | undefined
  formats: number[] | undefined
  rows: unknown[][]
  rowCount: number
  bytes: number
  truncated: boolean
  copyBytes: number
}

/** A value as kept in the recording: text as text, binary as \x-hex (PostgreSQL's bytea output). */
function valueText(v: Buffer | null, format: number, limit: number): string | null {
  if (v === null) return null
  if (format === 1) return `\\x${v.subarray(0, limit / 2).toString('hex')}${v.length > limit / 2 ? '…' : ''}`
  return v.length > limit ? `${v.toString('utf8', 0, limit)}…` : v.toString('utf8')
}

export function paramText(v: Buffer | null, format: number): string | null {
  return valueText(v, format, 4096)
}

export class QueryRecorder {
  private readonly statements = new Map<string, string>()
  private readonly portals = new Map<string, { sql: string; params: (string | null)[]; formats: number[] }>()
  private readonly queue: Pending[] = []
  private result: Result | undefined
  private fields: RowDescriptionField[] | undefined
  private nextId = 1
  private readonly maxRows: number
  private readonly maxBytes: number

  constructor(
    private readonly record: Record_,
    recording: ConnectionConfig['recording'],
  ) {
    this.maxRows = recording.maxRowsPerQuery
    this.maxBytes = recording.maxBytesPerQuery
  }

  // ---- client side ----

  onQuery(sql: string): void {
    const p: Pending = { id: this.nextId++, sql, protocol: 'simple', started: process.hrtime.bigint(), index: 0 }
    this.queue.push(p)
    this.record('query', { queryId: p.id, sql, protocol: 'simple' })
  }

  onParse(name: string, sql: string): void {
    this.statements.set(name, sql)
  }

  onBind(portal: string, statement: string, params: (string | null)[], resultFormats: number[] = []): void {
    this.portals.set(portal, { sql: this.statements.get(statement) ?? '', params, formats: resultFormats })
  }

  onClose(target: 'S' | 'P', name: string): void {
    if (target === 'S') this.statements.delete(name)
    else this.portals.delete(name)
  }

  statementText(name: string): string | undefined {
    return this.statements.get(name)
  }

  portal(name: string): { sql: string; params: (string | null)[]; formats: number[] } | undefined {
    return this.portals.get(name)
  }

  onExecute(portalName: string, maxRows: number): void {
    const portal = this.portals.get(portalName)
    const p: Pending = { id: this.nextId++, sql: portal?.sql ?? '', protocol: 'extended', started: process.hrtime.bigint(), index: 0 }
    if (portal && portal.formats.length > 0) p.formats = portal.formats
    this.queue.push(p)
    const data: Record<string, unknown> = { queryId: p.id, sql: p.sql, protocol: 'extended', params: portal?.params ?? [] }
    if (portalName) data.portal = portalName
    if (maxRows) data.maxRows = maxRows
    this.record('query', data)
  }

  onFunctionCall(oid: number, args: (string | null)[]): void {
    const p: Pending = { id: this.nextId++, sql: `-- function call oid ${oid}`, protocol: 'function', started: process.hrtime.bigint(), index: 0 }
    this.queue.push(p)
    this.record('query', { queryId: p.id, sql: p.sql, protocol: 'function', functionOid: oid, params: args })
  }

  // ---- server side ----

  private current(): Result {
    if (!this.result) this.result = { fields: undefined, formats: undefined, rows: [], rowCount: 0, bytes: 0, truncated: false, copyBytes: 0 }
    return this.result
  }

  onRowDescription(fields: RowDescriptionField[]): void {
    this.fields = fields
    const r = this.current()
    r.fields = fields.map((f) => f.name)
    r.formats = fields.map((f) => f.format)
  }

  /** Called for every DataRow, with the row as the client receives it. */
  onDataRow(body: Buffer): void {
    const r = this.current()
    r.rowCount++
    if (r.truncated) return
    if (r.rows.length >= this.maxRows || r.bytes >= this.maxBytes) {
      r.truncated = true
      return
    }
    // An Execute's rows come in the formats its Bind asked for (a RowDescription of the statement
    // says text for every column, and a re-executed portal has none); else RowDescription's.
    const bound = this.queue[0]?.formats
    const formats = bound ?? r.formats ?? this.fields?.map((f) => f.format) ?? []
    const all = bound?.length === 1 ? (bound[0] as number) : undefined
    const row: unknown[] = []
    const budget = this.maxBytes - r.bytes
    forEachDataRowValue(body, (i, v) => {
      row.push(valueText(v, all ?? formats[i] ?? 0, Math.max(16, budget)))
    })
    r.bytes += body.length
    r.rows.push(row)
  }

  onCopyData(data: Buffer, outbound: boolean): void {
    const r = this.current()
    r.copyBytes += data.length
    if (!outbound) return
    r.rowCount++
    if (r.truncated) return
    if (r.rows.length >= this.maxRows || r.bytes >= this.maxBytes) {
      r.truncated = true
      return
    }
    r.bytes += data.length
    r.rows.push([data.toString('utf8', 0, Math.min(data.length, this.maxBytes)).replace(/\n$/, '')])
  }

  /** A statement finished: CommandComplete, EmptyQueryResponse or PortalSuspended. */
  onComplete(tag: string | null, suspended = false): void {
    const p = this.queue[0]
    const r = this.result
    this.result = undefined
    if (!p) return
    const data: Record<string, unknown> = {
      queryId: p.id,
      tag,
      rowCount: r?.rowCount ?? 0,
      durationMs: Number(process.hrtime.bigint() - p.started) / 1e6,
    }
    if (p.protocol === 'simple') data.statementIndex = p.index
    if (r?.fields) data.columns = r.fields
    if (r && r.rows.length > 0) data.rows = r.rows
    if (r?.truncated) data.truncated = true
    if (r && r.copyBytes > 0) data.copyBytes = r.copyBytes
    if (suspended) data.suspended = true
    this.record('query.result', data)
    if (p.protocol === 'simple') p.index++
    else this.queue.shift()
  }

  onError(fields: Record<string, string>): void {
    const p = this.queue[0]
    const r = this.result
    this.result = undefined
    if (!p) return
    this.record('query.result', {
      queryId: p.id,
      error: { code: fields.C, message: fields.M, severity: fields.V ?? fields.S },
      rowCount: r?.rowCount ?? 0,
      durationMs: Number(process.hrtime.bigint() - p.started) / 1e6,
      ...(r && r.rows.length > 0 ? { rows: r.rows } : {}),
    })
    if (p.protocol === 'simple') p.index++
    else this.queue.shift()
  }

  /** ReadyForQuery: every query still pending was not run (an earlier error in the batch). */
  onReady(): void {
    this.result = undefined
    for (const p of this.queue) {
      if (p.protocol === 'simple') continue
      this.record('query.result', { queryId: p.id, skipped: true, reason: 'not run: an earlier message in the batch failed' })
    }
    this.queue.length = 0
    this.fields = undefined
  }
}
