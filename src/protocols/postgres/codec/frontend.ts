/**
 * Client (frontend) messages: decode and encode, including the untyped startup phase.
 * PostgreSQL documentation: "Message Formats" (every message marked (F)) and "Message Flow",
 * sections "Start-up", "Simple Query", "Extended Query", "Function Call", "COPY Operations",
 * "Canceling Requests in Progress", "SSL Session Encryption", "GSSAPI Session Encryption".
 *
 * Decoded Buffers (CopyData, Bind parameters, ...) are views of the frame body, not copies.
 * Strings are decoded as UTF-8: run the target with client_encoding UTF8, or forward `frame.raw`
 * unchanged when a message is not rewritten.
 */
import { AgwError } from '../../../errors.js'
import {
  CANCEL_REQUEST_CODE,
  FrontendType as F,
  GSSENC_REQUEST_CODE,
  MAX_CANCEL_KEY_LENGTH,
  MIN_CANCEL_KEY_LENGTH,
  SSL_REQUEST_CODE,
  describeType,
} from './constants.js'
import type { TargetByte } from './constants.js'
import type { Frame } from './framer.js'
import { Reader, Writer, encodeRaw } from './writer.js'

// ---- startup phase (untyped messages) ----

export type StartupPhaseMessage =
  /** StartupMessage: `params` holds user, database, application_name, options, _pq_.* ... (a
   * prototype-free object, so a parameter named `__proto__` is kept as data). */
  | { kind: 'startup'; major: number; minor: number; params: Record<string, string> }
  | { kind: 'ssl' }
  | { kind: 'gssenc' }
  /** CancelRequest: the secret is 4 bytes in protocol 3.0, 4 to 256 bytes in 3.2. */
  | { kind: 'cancel'; pid: number; secret: Buffer }

export function decodeStartupPhase(frame: Pick<Frame, 'type' | 'body'>): StartupPhaseMessage {
  if (frame.type !== 0) {
    throw new AgwError('protocol', `expected an untyped startup-phase message, got message type ${describeType(frame.type)}`)
  }
  const r = new Reader(frame.body, 'startup')
  const code = r.int32('protocol version')
  switch (code) {
    case SSL_REQUEST_CODE:
      r.end()
      return { kind: 'ssl' }
    case GSSENC_REQUEST_CODE:
      r.end()
      return { kind: 'gssenc' }
    case CANCEL_REQUEST_CODE: {
      const pid = r.int32('process ID')
      const secret = r.rest()
      checkCancelKey(secret.length, 'CancelRequest')
      return { kind: 'cancel', pid, secret }
    }
  }
  const major = code >>> 16
  const minor = code & 0xffff
  if (major === 1234) r.fail(`unknown request code 1234.${minor}`)
  if (major !== 3) r.fail(`unsupported protocol version ${major}.${minor} (only 3.x is supported)`)
  const params = Object.create(null) as Record<string, string>
  while (true) {
    const name = r.cstring('parameter name')
    if (name === '') break
    params[name] = r.cstring(`value of parameter ${JSON.stringify(name)}`)
  }
  r.end()
  return { kind: 'startup', major, minor, params }
}

export function checkCancelKey(length: number, what: string): void {
  if (length < MIN_CANCEL_KEY_LENGTH || length > MAX_CANCEL_KEY_LENGTH) {
    throw new AgwError('protocol', `malformed ${what} message: secret key of ${length} bytes (must be ${MIN_CANCEL_KEY_LENGTH} to ${MAX_CANCEL_KEY_LENGTH})`)
  }
}

/** StartupMessage for protocol 3.`minor` (default 3.0). */
export function encodeStartup(params: Record<string, string>, minor = 0): Buffer {
  const w = new Writer()
  const at = w.begin(0)
  w.int32((3 << 16) | minor, 'protocol version')
  for (const [name, value] of Object.entries(params)) {
    if (name === '') throw new AgwError('protocol', 'cannot encode a startup parameter with an empty name')
    w.cstring(name).cstring(value)
  }
  w.uint8(0)
  return w.end(at).finish()
}

function requestCode(code: number): Buffer {
  const out = Buffer.allocUnsafe(8)
  out.writeInt32BE(8, 0)
  out.writeInt32BE(code, 4)
  return out
}

export function encodeSSLRequest(): Buffer {
  return requestCode(SSL_REQUEST_CODE)
}

export function encodeGSSENCRequest(): Buffer {
  return requestCode(GSSENC_REQUEST_CODE)
}

export function encodeCancelRequest(pid: number, secret: Buffer): Buffer {
  checkCancelKey(secret.length, 'CancelRequest')
  const w = new Writer(12 + secret.length)
  const at = w.begin(0)
  w.int32(CANCEL_REQUEST_CODE).int32(pid, 'process ID').bytes(secret)
  return w.end(at).finish()
}

// ---- typed frontend messages ----

export type FrontendMessage =
  | { type: 'Query'; sql: string }
  | { type: 'Parse'; name: string; sql: string; paramTypes: number[] }
  | {
      type: 'Bind'
      portal: string
      statement: string
      paramFormats: number[]
      params: (Buffer | null)[]
      resultFormats: number[]
    }
  | { type: 'Describe'; target: TargetByte; name: string }
  | { type: 'Execute'; portal: string; maxRows: number }
  | { type: 'Close'; target: TargetByte; name: string }
  | { type: 'Sync' }
  | { type: 'Flush' }
  | { type: 'Terminate' }
  | { type: 'CopyData'; data: Buffer }
  | { type: 'CopyDone' }
  | { type: 'CopyFail'; message: string }
  | { type: 'FunctionCall'; oid: number; argFormats: number[]; args: (Buffer | null)[]; resultFormat: number }
  /**
   * 'p': PasswordMessage, GSSResponse, SASLInitialResponse or SASLResponse; which one depends on
   * the authentication request the server sent last. Decode `data` with decodePassword,
   * decodeSASLInitialResponse or decodeSASLResponse.
   */
  | { type: 'PasswordLike'; data: Buffer }

export type FrontendMessageType = FrontendMessage['type']

/** Decodes one typed client message. Unknown type bytes and malformed bodies throw AgwError('protocol'). */
export function decodeFrontend(frame: Pick<Frame, 'type' | 'body'>): FrontendMessage {
  const body = frame.body
  switch (frame.type) {
    case F.Query: {
      const r = new Reader(body, 'Query')
      const sql = r.cstring('query')
      r.end()
      return { type: 'Query', sql }
    }
    case F.Parse: {
      const r = new Reader(body, 'Parse')
      const name = r.cstring('statement name')
      const sql = r.cstring('query')
      const n = r.uint16('parameter type')
      r.checkCount(n, 4, 'parameter type')
      const paramTypes = new Array<number>(n)
      for (let i = 0; i < n; i++) paramTypes[i] = r.uint32('parameter type OID')
      r.end()
      return { type: 'Parse', name, sql, paramTypes }
    }
    case F.Bind: {
      const r = new Reader(body, 'Bind')
      const portal = r.cstring('portal name')
      const statement = r.cstring('statement name')
      const paramFormats = r.formats('parameter format')
      const n = r.uint16('parameter')
      r.checkCount(n, 4, 'parameter')
      const params = new Array<Buffer | null>(n)
      for (let i = 0; i < n; i++) params[i] = r.nullableBytes(`parameter ${i + 1}`)
      const resultFormats = r.formats('result format')
      r.end()
      return { type: 'Bind', portal, statement, paramFormats, params, resultFormats }
    }
    case F.Describe:
    case F.Close: {
      const what = frame.type === F.Describe ? 'Describe' : 'Close'
      const r = new Reader(body, what)
      const target = readTarget(r)
      const name = r.cstring('name')
      r.end()
      return { type: what, target, name }
    }
    case F.Execute: {
      const r = new Reader(body, 'Execute')
      const portal = r.cstring('portal name')
      const maxRows = r.int32('row limit')
      r.end()
      return { type: 'Execute', portal, maxRows }
    }
    case F.Sync:
      return empty(body, 'Sync')
    case F.Flush:
      return empty(body, 'Flush')
    case F.Terminate:
      return empty(body, 'Terminate')
    case F.CopyDone:
      return empty(body, 'CopyDone')
    case F.CopyData:
      return { type: 'CopyData', data: body }
    case F.CopyFail: {
      const r = new Reader(body, 'CopyFail')
      const message = r.cstring('error message')
      r.end()
      return { type: 'CopyFail', message }
    }
    case F.FunctionCall: {
      const r = new Reader(body, 'FunctionCall')
      const oid = r.uint32('function OID')
      const argFormats = r.formats('argument format')
      const n = r.uint16('argument')
      r.checkCount(n, 4, 'argument')
      const args = new Array<Buffer | null>(n)
      for (let i = 0; i < n; i++) args[i] = r.nullableBytes(`argument ${i + 1}`)
      const resultFormat = r.int16('result format')
      r.end()
      return { type: 'FunctionCall', oid, argFormats, args, resultFormat }
    }
    case F.Password:
      return { type: 'PasswordLike', data: body }
    default:
      throw new AgwError('protocol', `unknown frontend message type ${describeType(frame.type)}`)
  }
}

function empty<T extends 'Sync' | 'Flush' | 'Terminate' | 'CopyDone'>(body: Buffer, type: T): { type: T } {
  if (body.length !== 0) new Reader(body, type).end()
  return { type }
}

function readTarget(r: Reader): TargetByte {
  const b = r.uint8('target')
  if (b === 0x53) return 'S'
  if (b === 0x50) return 'P'
  return r.fail(`target must be 'S' or 'P', got ${describeType(b)}`)
}

/** The format code that applies to parameter/column `index` under PostgreSQL's rule: no codes
 * means text for all, one code applies to all, otherwise one code per item. */
export function formatAt(formats: readonly number[], index: number): number {
  if (formats.length === 0) return 0
  if (formats.length === 1) return formats[0] as number
  return formats[index] ?? 0
}

/** PasswordMessage body: the password (cleartext, or "md5" + hex digest). */
export function decodePassword(body: Buffer): string {
  const r = new Reader(body, 'PasswordMessage')
  const password = r.cstring('password')
  r.end()
  return password
}

/** SASLInitialResponse body: the chosen mechanism and the client-first message (null when absent). */
export function decodeSASLInitialResponse(body: Buffer): { mechanism: string; data: Buffer | null } {
  const r = new Reader(body, 'SASLInitialResponse')
  const mechanism = r.cstring('mechanism')
  const data = r.nullableBytes('initial response')
  r.end()
  return { mechanism, data }
}

/** SASLResponse (and GSSResponse) body: the mechanism's bytes, as they are. */
export function decodeSASLResponse(body: Buffer): Buffer {
  return body
}

export function encodePassword(password: string): Buffer {
  return passwordLike((w) => w.cstring(password))
}

export function encodeSASLInitialResponse(mechanism: string, data: Buffer | null): Buffer {
  return passwordLike((w) => w.cstring(mechanism).nullableBytes(data))
}

export function encodeSASLResponse(data: Buffer): Buffer {
  return encodeRaw(F.Password, data)
}

function passwordLike(fill: (w: Writer) => void): Buffer {
  const w = new Writer()
  const at = w.begin(F.Password)
  fill(w)
  return w.end(at).finish()
}

function writeFormats(w: Writer, formats: readonly number[], what: string): void {
  w.uint16(formats.length, `${what} count`)
  for (const f of formats) w.int16(f, what)
}

function writeValues(w: Writer, values: readonly (Buffer | null)[], what: string): void {
  w.uint16(values.length, `${what} count`)
  for (const v of values) w.nullableBytes(v)
}

export function encodeFrontend(msg: FrontendMessage): Buffer {
  switch (msg.type) {
    case 'Sync':
      return encodeRaw(F.Sync)
    case 'Flush':
      return encodeRaw(F.Flush)
    case 'Terminate':
      return encodeRaw(F.Terminate)
    case 'CopyDone':
      return encodeRaw(F.CopyDone)
    case 'CopyData':
      return encodeRaw(F.CopyData, msg.data)
    case 'PasswordLike':
      return encodeRaw(F.Password, msg.data)
  }
  const w = new Writer()
  switch (msg.type) {
    case 'Query': {
      const at = w.begin(F.Query)
      w.cstring(msg.sql)
      return w.end(at).finish()
    }
    case 'Parse': {
      const at = w.begin(F.Parse)
      w.cstring(msg.name).cstring(msg.sql).uint16(msg.paramTypes.length, 'parameter type count')
      for (const oid of msg.paramTypes) w.uint32(oid, 'parameter type OID')
      return w.end(at).finish()
    }
    case 'Bind': {
      const at = w.begin(F.Bind)
      w.cstring(msg.portal).cstring(msg.statement)
      writeFormats(w, msg.paramFormats, 'parameter format')
      writeValues(w, msg.params, 'parameter')
      writeFormats(w, msg.resultFormats, 'result format')
      return w.end(at).finish()
    }
    case 'Describe':
    case 'Close': {
      if (msg.target !== 'S' && msg.target !== 'P') throw new AgwError('protocol', `cannot encode ${msg.type} target ${JSON.stringify(msg.target)}`)
      const at = w.begin(F[msg.type])
      w.uint8(msg.target.charCodeAt(0)).cstring(msg.name)
      return w.end(at).finish()
    }
    case 'Execute': {
      const at = w.begin(F.Execute)
      w.cstring(msg.portal).int32(msg.maxRows, 'row limit')
      return w.end(at).finish()
    }
    case 'CopyFail': {
      const at = w.begin(F.CopyFail)
      w.cstring(msg.message)
      return w.end(at).finish()
    }
    case 'FunctionCall': {
      const at = w.begin(F.FunctionCall)
      w.uint32(msg.oid, 'function OID')
      writeFormats(w, msg.argFormats, 'argument format')
      writeValues(w, msg.args, 'argument')
      w.int16(msg.resultFormat, 'result format')
      return w.end(at).finish()
    }
  }
}
