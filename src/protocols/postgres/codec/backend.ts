/**
 * Server (backend) messages: decode and encode, plus allocation-free helpers for the hot path
 * (DataRow) and builders for the messages the gateway itself answers with (ErrorResponse,
 * NoticeResponse, ReadyForQuery).
 * PostgreSQL documentation: "Message Formats" (every message marked (B)), "Error and Notice
 * Message Fields", and "Message Flow" ("Start-up", "Simple Query", "Extended Query", "COPY
 * Operations", "Asynchronous Operations", "Protocol Versions" for NegotiateProtocolVersion).
 *
 * Decoded Buffers (DataRow values, CopyData, SASL data) are views of the frame body, not copies.
 */
import { AgwError } from '../../../errors.js'
import { AuthCode, BackendType as B, ErrorField, describeType } from './constants.js'
import type { TransactionStatusByte } from './constants.js'
import type { Frame } from './framer.js'
import { checkCancelKey } from './frontend.js'
import { Reader, Writer, encodeRaw, readAll } from './writer.js'

export type AuthenticationMessage =
  | { type: 'AuthenticationOk' }
  | { type: 'AuthenticationKerberosV5' }
  | { type: 'AuthenticationCleartextPassword' }
  | { type: 'AuthenticationMD5Password'; salt: Buffer }
  | { type: 'AuthenticationGSS' }
  | { type: 'AuthenticationGSSContinue'; data: Buffer }
  | { type: 'AuthenticationSSPI' }
  | { type: 'AuthenticationSASL'; mechanisms: string[] }
  | { type: 'AuthenticationSASLContinue'; data: Buffer }
  | { type: 'AuthenticationSASLFinal'; data: Buffer }

/** One column of a RowDescription. */
export interface RowDescriptionField {
  name: string
  /** OID of the table the column comes from, 0 when it is not a plain column reference. */
  tableOid: number
  /** Attribute number of that column, 0 when not a plain column reference. */
  columnAttr: number
  typeOid: number
  /** pg_type.typlen: negative for variable-width types. */
  typeSize: number
  /** pg_attribute.atttypmod, -1 when none. */
  typeMod: number
  /** 0 text, 1 binary. */
  format: number
}

export interface CopyResponseFields {
  /** 0 textual, 1 binary (the whole COPY). */
  format: number
  columnFormats: number[]
}

export type BackendMessage =
  | AuthenticationMessage
  | { type: 'BackendKeyData'; pid: number; secret: Buffer }
  | { type: 'BindComplete' }
  | { type: 'CloseComplete' }
  | { type: 'CommandComplete'; tag: string }
  | { type: 'CopyData'; data: Buffer }
  | { type: 'CopyDone' }
  | ({ type: 'CopyInResponse' } & CopyResponseFields)
  | ({ type: 'CopyOutResponse' } & CopyResponseFields)
  | ({ type: 'CopyBothResponse' } & CopyResponseFields)
  | { type: 'DataRow'; values: (Buffer | null)[] }
  | { type: 'EmptyQueryResponse' }
  /** `fields` keyed by the one-letter field code (S, V, C, M, D, H, P, W ...; see ErrorField). */
  | { type: 'ErrorResponse'; fields: Record<string, string> }
  | { type: 'NoticeResponse'; fields: Record<string, string> }
  | { type: 'FunctionCallResponse'; value: Buffer | null }
  | { type: 'NegotiateProtocolVersion'; newestMinor: number; unsupported: string[] }
  | { type: 'NoData' }
  | { type: 'NotificationResponse'; pid: number; channel: string; payload: string }
  | { type: 'ParameterDescription'; typeOids: number[] }
  | { type: 'ParameterStatus'; name: string; value: string }
  | { type: 'ParseComplete' }
  | { type: 'PortalSuspended' }
  | { type: 'ReadyForQuery'; status: TransactionStatusByte }
  | { type: 'RowDescription'; fields: RowDescriptionField[] }

export type BackendMessageType = BackendMessage['type']

/** Messages without a body, by type byte. */
const EMPTY: Readonly<Record<number, EmptyType>> = {
  [B.BindComplete]: 'BindComplete',
  [B.CloseComplete]: 'CloseComplete',
  [B.CopyDone]: 'CopyDone',
  [B.EmptyQueryResponse]: 'EmptyQueryResponse',
  [B.NoData]: 'NoData',
  [B.ParseComplete]: 'ParseComplete',
  [B.PortalSuspended]: 'PortalSuspended',
}
type EmptyType = 'BindComplete' | 'CloseComplete' | 'CopyDone' | 'EmptyQueryResponse' | 'NoData' | 'ParseComplete' | 'PortalSuspended'
type CopyResponseType = 'CopyInResponse' | 'CopyOutResponse' | 'CopyBothResponse'
const COPY_RESPONSE: Readonly<Record<number, CopyResponseType>> = {
  [B.CopyInResponse]: 'CopyInResponse',
  [B.CopyOutResponse]: 'CopyOutResponse',
  [B.CopyBothResponse]: 'CopyBothResponse',
}
/** Authentication subtype names by code ('Ok' for 0 ...). */
const AUTH_NAME: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(AuthCode).map(([k, v]) => [v, k]))

/** Decodes one server message. Unknown type bytes and malformed bodies throw AgwError('protocol'). */
export function decodeBackend(frame: Pick<Frame, 'type' | 'body'>): BackendMessage {
  const { type, body } = frame
  const empty = EMPTY[type]
  if (empty !== undefined) return readAll(body, empty, () => ({ type: empty }))
  const copy = COPY_RESPONSE[type]
  if (copy !== undefined) {
    return readAll(body, copy, (r) => ({ type: copy, format: r.uint8('format'), columnFormats: r.formats('column format') }))
  }
  switch (type) {
    case B.Authentication:
      return decodeAuthentication(body)
    case B.BackendKeyData: {
      const r = new Reader(body, 'BackendKeyData')
      const pid = r.int32('process ID')
      const secret = r.rest()
      checkCancelKey(secret.length, 'BackendKeyData')
      return { type: 'BackendKeyData', pid, secret }
    }
    case B.CommandComplete:
      return readAll(body, 'CommandComplete', (r) => ({ type: 'CommandComplete', tag: r.cstring('command tag') }))
    case B.CopyData:
      return { type: 'CopyData', data: body }
    case B.DataRow: {
      const values = new Array<Buffer | null>(dataRowColumnCount(body))
      forEachDataRowValue(body, (i, v) => (values[i] = v))
      return { type: 'DataRow', values }
    }
    case B.ErrorResponse:
    case B.NoticeResponse: {
      const what = type === B.ErrorResponse ? 'ErrorResponse' : 'NoticeResponse'
      return readAll(body, what, (r) => {
        const fields: Record<string, string> = {}
        for (let code = r.uint8('field code'); code !== 0; code = r.uint8('field code')) {
          const key = String.fromCharCode(code)
          fields[key] = r.cstring(`field ${key}`)
        }
        return { type: what, fields }
      })
    }
    case B.FunctionCallResponse:
      return readAll(body, 'FunctionCallResponse', (r) => ({ type: 'FunctionCallResponse', value: r.nullableBytes('result') }))
    case B.NegotiateProtocolVersion:
      return readAll(body, 'NegotiateProtocolVersion', (r) => ({
        type: 'NegotiateProtocolVersion',
        newestMinor: r.int32('newest minor version'),
        unsupported: r.list(r.int32('option count'), 1, 'option', () => r.cstring('option name')),
      }))
    case B.NotificationResponse:
      return readAll(body, 'NotificationResponse', (r) => ({
        type: 'NotificationResponse',
        pid: r.int32('process ID'),
        channel: r.cstring('channel'),
        payload: r.cstring('payload'),
      }))
    case B.ParameterDescription:
      return readAll(body, 'ParameterDescription', (r) => ({
        type: 'ParameterDescription',
        typeOids: r.list(r.uint16('parameter count'), 4, 'parameter', () => r.uint32('parameter type OID')),
      }))
    case B.ParameterStatus:
      return readAll(body, 'ParameterStatus', (r) => ({
        type: 'ParameterStatus',
        name: r.cstring('parameter name'),
        value: r.cstring('parameter value'),
      }))
    case B.ReadyForQuery: {
      const r = new Reader(body, 'ReadyForQuery')
      const b = r.uint8('transaction status')
      r.end()
      const status = String.fromCharCode(b)
      if (status !== 'I' && status !== 'T' && status !== 'E') return r.fail(`unknown transaction status ${describeType(b)}`)
      return { type: 'ReadyForQuery', status }
    }
    case B.RowDescription:
      return readAll(body, 'RowDescription', (r) => ({
        type: 'RowDescription',
        fields: r.list(r.uint16('field count'), 19, 'field', () => ({
          name: r.cstring('field name'),
          tableOid: r.uint32('table OID'),
          columnAttr: r.int16('column number'),
          typeOid: r.uint32('type OID'),
          typeSize: r.int16('type size'),
          typeMod: r.int32('type modifier'),
          format: r.int16('format code'),
        })),
      }))
    default:
      throw new AgwError('protocol', `unknown backend message type ${describeType(type)}`)
  }
}

function decodeAuthentication(body: Buffer): AuthenticationMessage {
  const r = new Reader(body, 'Authentication')
  const code = r.int32('authentication type')
  const name = AUTH_NAME[code]
  if (name === undefined) r.fail(`unsupported authentication request type ${code}`)
  switch (code) {
    case AuthCode.MD5Password: {
      const salt = r.bytes(4, 'salt')
      r.end()
      return { type: 'AuthenticationMD5Password', salt }
    }
    case AuthCode.GSSContinue:
      return { type: 'AuthenticationGSSContinue', data: r.rest() }
    case AuthCode.SASLContinue:
      return { type: 'AuthenticationSASLContinue', data: r.rest() }
    case AuthCode.SASLFinal:
      return { type: 'AuthenticationSASLFinal', data: r.rest() }
    case AuthCode.SASL: {
      const mechanisms = r.cstringList('mechanism')
      r.end()
      return { type: 'AuthenticationSASL', mechanisms }
    }
    default:
      // Ok, KerberosV5, CleartextPassword, GSS, SSPI: the code is the whole body.
      r.end()
      return { type: `Authentication${name}` } as AuthenticationMessage
  }
}

// ---- hot path: DataRow without intermediate arrays ----

/** Number of columns in a DataRow body. */
export function dataRowColumnCount(body: Buffer): number {
  if (body.length < 2) throw new AgwError('protocol', `malformed DataRow message: body of ${body.length} bytes has no column count`)
  return body.readUInt16BE(0)
}

/**
 * Calls `fn(index, value)` for each column of a DataRow body (values are views, null for SQL
 * NULL). Bounds are checked as it goes; a malformed row throws AgwError('protocol'), possibly
 * after some columns were already delivered.
 */
export function forEachDataRowValue(body: Buffer, fn: (index: number, value: Buffer | null) => void): void {
  const n = dataRowColumnCount(body)
  const end = body.length
  let pos = 2
  for (let i = 0; i < n; i++) {
    if (end - pos < 4) throw dataRowError(`column ${i + 1} of ${n} is missing`)
    const len = body.readInt32BE(pos)
    pos += 4
    if (len === -1) {
      fn(i, null)
      continue
    }
    if (len < 0) throw dataRowError(`column ${i + 1} has negative length ${len}`)
    if (len > end - pos) throw dataRowError(`column ${i + 1} length ${len} runs past the end of the message`)
    fn(i, body.subarray(pos, pos + len))
    pos += len
  }
  if (pos !== end) throw dataRowError(`${end - pos} unexpected trailing bytes`)
}

function dataRowError(reason: string): AgwError {
  return new AgwError('protocol', `malformed DataRow message: ${reason}`)
}

/** A DataRow message; strings are written as UTF-8. One size computation, one allocation. */
export function encodeDataRow(values: readonly (Buffer | string | null)[]): Buffer {
  const n = values.length
  if (n > 0xffff) throw new AgwError('protocol', `cannot encode a DataRow of ${n} columns`)
  let size = 7 + 4 * n
  for (let i = 0; i < n; i++) {
    const v = values[i]
    if (v != null) size += typeof v === 'string' ? Buffer.byteLength(v, 'utf8') : v.length
  }
  const out = Buffer.allocUnsafe(size)
  out[0] = B.DataRow
  out.writeInt32BE(size - 1, 1)
  out.writeUInt16BE(n, 5)
  let pos = 7
  for (let i = 0; i < n; i++) {
    const v = values[i]
    if (v == null) {
      out.writeInt32BE(-1, pos)
      pos += 4
    } else if (typeof v === 'string') {
      const written = out.write(v, pos + 4, 'utf8')
      out.writeInt32BE(written, pos)
      pos += 4 + written
    } else {
      out.writeInt32BE(v.length, pos)
      out.set(v, pos + 4)
      pos += 4 + v.length
    }
  }
  return out
}

// ---- messages the gateway answers with itself ----

/** Named ErrorResponse / NoticeResponse fields; `severity` goes in both S and V; undefined fields are left out. */
export interface ErrorFields {
  /** ERROR, FATAL or PANIC (errors); WARNING, NOTICE, DEBUG, INFO or LOG (notices). */
  severity: string
  /** SQLSTATE, e.g. 42501 insufficient_privilege. */
  code: string
  message: string
  detail?: string | undefined
  hint?: string | undefined
  position?: string | number | undefined
  internalPosition?: string | number | undefined
  internalQuery?: string | undefined
  where?: string | undefined
  schema?: string | undefined
  table?: string | undefined
  column?: string | undefined
  dataType?: string | undefined
  constraint?: string | undefined
  file?: string | undefined
  line?: string | number | undefined
  routine?: string | undefined
}

/** The one-letter field record for ErrorFields, S and V first (the order PostgreSQL uses). */
export function errorFieldRecord(fields: ErrorFields): Record<string, string> {
  const out: Record<string, string> = { S: fields.severity, V: fields.severity }
  for (const [name, code] of Object.entries(ErrorField)) {
    if (name === 'severity' || name === 'severityNonLocalized') continue
    const value = (fields as unknown as Record<string, string | number | undefined>)[name]
    if (value !== undefined) out[code] = String(value)
  }
  return out
}

/** The named view of a decoded field record (absent fields stay absent; severity prefers V). */
export function namedErrorFields(record: Readonly<Record<string, string>>): Partial<ErrorFields> {
  const out: Record<string, string> = {}
  for (const [name, code] of Object.entries(ErrorField)) {
    const value = record[code]
    if (value !== undefined && name !== 'severityNonLocalized') out[name] = value
  }
  if (record.V !== undefined) out.severity = record.V
  return out as Partial<ErrorFields>
}

export function encodeErrorResponse(fields: ErrorFields): Buffer {
  return encodeBackend({ type: 'ErrorResponse', fields: errorFieldRecord(fields) })
}

export function encodeNoticeResponse(fields: ErrorFields): Buffer {
  return encodeBackend({ type: 'NoticeResponse', fields: errorFieldRecord(fields) })
}

export function encodeReadyForQuery(status: TransactionStatusByte): Buffer {
  const out = Buffer.allocUnsafe(6)
  out[0] = B.ReadyForQuery
  out.writeInt32BE(5, 1)
  out[5] = status.charCodeAt(0)
  return out
}

// ---- encoder ----

export function encodeBackend(msg: BackendMessage): Buffer {
  switch (msg.type) {
    case 'BindComplete':
    case 'CloseComplete':
    case 'CopyDone':
    case 'EmptyQueryResponse':
    case 'NoData':
    case 'ParseComplete':
    case 'PortalSuspended':
      return encodeRaw(B[msg.type])
    case 'CopyData':
      return encodeRaw(B.CopyData, msg.data)
    case 'DataRow':
      return encodeDataRow(msg.values)
    case 'ReadyForQuery':
      return encodeReadyForQuery(msg.status)
  }
  const w = new Writer()
  switch (msg.type) {
    case 'BackendKeyData': {
      checkCancelKey(msg.secret.length, 'BackendKeyData')
      const at = w.begin(B.BackendKeyData)
      w.int32(msg.pid, 'process ID').bytes(msg.secret)
      return w.end(at).finish()
    }
    case 'CommandComplete': {
      const at = w.begin(B.CommandComplete)
      w.cstring(msg.tag)
      return w.end(at).finish()
    }
    case 'CopyInResponse':
    case 'CopyOutResponse':
    case 'CopyBothResponse': {
      const at = w.begin(B[msg.type])
      w.uint8(msg.format).uint16(msg.columnFormats.length, 'column count')
      for (const f of msg.columnFormats) w.int16(f, 'column format')
      return w.end(at).finish()
    }
    case 'ErrorResponse':
    case 'NoticeResponse': {
      const at = w.begin(B[msg.type])
      for (const [code, value] of Object.entries(msg.fields)) {
        const c = code.charCodeAt(0)
        if (code.length !== 1 || c === 0 || c > 0xff) {
          throw new AgwError('protocol', `cannot encode error field code ${JSON.stringify(code)}: it must be one byte`)
        }
        w.uint8(c).cstring(value)
      }
      w.uint8(0)
      return w.end(at).finish()
    }
    case 'FunctionCallResponse': {
      const at = w.begin(B.FunctionCallResponse)
      w.nullableBytes(msg.value)
      return w.end(at).finish()
    }
    case 'NegotiateProtocolVersion': {
      const at = w.begin(B.NegotiateProtocolVersion)
      w.int32(msg.newestMinor, 'minor version').int32(msg.unsupported.length, 'option count')
      for (const o of msg.unsupported) w.cstring(o)
      return w.end(at).finish()
    }
    case 'NotificationResponse': {
      const at = w.begin(B.NotificationResponse)
      w.int32(msg.pid, 'process ID').cstring(msg.channel).cstring(msg.payload)
      return w.end(at).finish()
    }
    case 'ParameterDescription': {
      const at = w.begin(B.ParameterDescription)
      w.uint16(msg.typeOids.length, 'parameter count')
      for (const oid of msg.typeOids) w.uint32(oid, 'type OID')
      return w.end(at).finish()
    }
    case 'ParameterStatus': {
      const at = w.begin(B.ParameterStatus)
      w.cstring(msg.name).cstring(msg.value)
      return w.end(at).finish()
    }
    case 'RowDescription': {
      const at = w.begin(B.RowDescription)
      w.uint16(msg.fields.length, 'field count')
      for (const f of msg.fields) {
        w.cstring(f.name).uint32(f.tableOid, 'table OID').int16(f.columnAttr, 'column number')
        w.uint32(f.typeOid, 'type OID').int16(f.typeSize, 'type size').int32(f.typeMod, 'type modifier').int16(f.format, 'format')
      }
      return w.end(at).finish()
    }
    default:
      return encodeAuthentication(w, msg)
  }
}

function encodeAuthentication(w: Writer, msg: AuthenticationMessage): Buffer {
  const at = w.begin(B.Authentication)
  w.int32(AuthCode[msg.type.slice('Authentication'.length) as keyof typeof AuthCode])
  if (msg.type === 'AuthenticationMD5Password') {
    if (msg.salt.length !== 4) throw new AgwError('protocol', `cannot encode an MD5 salt of ${msg.salt.length} bytes (must be 4)`)
    w.bytes(msg.salt)
  } else if (msg.type === 'AuthenticationSASL') {
    for (const m of msg.mechanisms) {
      if (m === '') throw new AgwError('protocol', 'cannot encode an empty SASL mechanism name')
      w.cstring(m)
    }
    w.uint8(0)
  } else if ('data' in msg) {
    w.bytes(msg.data)
  }
  return w.end(at).finish()
}
