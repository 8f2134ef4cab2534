/**
 * Server messages: every fixture round-trips, the encoders match bytes written by hand from
 * "Message Formats", the DataRow hot-path helpers agree with the full decoder, the gateway's own
 * ErrorResponse / NoticeResponse builders carry Severity in S and V, and malformed bodies are
 * refused with AgwError('protocol').
 */
import { describe, expect, it } from 'vitest'
import { AgwError } from '../../../../../src/errors.js'
import {
  BackendType,
  dataRowColumnCount,
  decodeBackend,
  encodeBackend,
  encodeDataRow,
  encodeReadyForQuery,
  forEachDataRowValue,
  namedErrorFields,
} from '../../../../../src/protocols/postgres/codec/index.js'
import type { BackendMessage } from '../../../../../src/protocols/postgres/codec/index.js'
import { backendFixtures, builtErrors, frameOf, handWritten } from './fixtures.js'

function expectProtocolError(fn: () => unknown, message?: RegExp): void {
  let caught: unknown
  try {
    fn()
  } catch (err) {
    caught = err
  }
  expect(caught, 'expected an AgwError').toBeInstanceOf(AgwError)
  expect((caught as AgwError).code).toBe('protocol')
  if (message) expect((caught as AgwError).message).toMatch(message)
}

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex')

describe('backend messages round-trip (decode(encode(x)) == x)', () => {
  it.each(backendFixtures.map((f) => [f.name, f] as const))('%s', (_name, f) => {
    const bytes = encodeBackend(f.message)
    const frame = frameOf(bytes)
    expect(decodeBackend(frame)).toEqual(f.message)
    expect(encodeBackend(decodeBackend(frame))).toEqual(bytes)
  })

  it('covers every backend message type byte', () => {
    const seen = new Set(backendFixtures.map((f) => encodeBackend(f.message)[0]))
    for (const [name, byte] of Object.entries(BackendType)) expect(seen.has(byte), name).toBe(true)
  })
})

describe('encoders match bytes written from "Message Formats"', () => {
  it.each(handWritten.filter((h) => h.direction === 'backend').map((h) => [h.name, h] as const))('%s', (_name, h) => {
    expect(encodeBackend(h.message as BackendMessage).toString('hex')).toBe(h.bytes.toString('hex'))
    expect(decodeBackend(frameOf(h.bytes))).toEqual(h.message)
  })
})

describe('truncated or padded server messages are refused', () => {
  it.each(backendFixtures.filter((f) => f.openTail !== 'both').map((f) => [f.name, f] as const))('%s: every shorter body, and one extra byte where that is illegal', (_name, f) => {
    const { type, body } = frameOf(encodeBackend(f.message))
    for (let k = 0; k < body.length; k++) expectProtocolError(() => decodeBackend({ type, body: body.subarray(0, k) }))
    if (!f.openTail) expectProtocolError(() => decodeBackend({ type, body: Buffer.concat([body, Buffer.from([0])]) }), /trailing/)
  })
})

describe('malformed server messages', () => {
  it('refuses an unknown type byte, naming it', () => {
    expectProtocolError(() => decodeBackend({ type: 0x21, body: Buffer.alloc(0) }), /unknown backend message type '!'/)
  })

  it('refuses an unknown authentication request (SCMCredential, 6)', () => {
    expectProtocolError(() => decodeBackend({ type: BackendType.Authentication, body: hex('00000006') }), /authentication request type 6/)
  })

  it('refuses an MD5 salt that is not 4 bytes', () => {
    expectProtocolError(() => decodeBackend({ type: BackendType.Authentication, body: hex('00000005 010203') }), /salt/)
  })

  it('refuses a DataRow value length that runs past the end', () => {
    expectProtocolError(() => decodeBackend({ type: BackendType.DataRow, body: hex('0001 000003e8 6162') }), /runs past the end/)
  })

  it('refuses a DataRow value with a negative length other than -1', () => {
    expectProtocolError(() => decodeBackend({ type: BackendType.DataRow, body: hex('0001 fffffffe') }), /negative length -2/)
  })

  it('refuses a DataRow whose column count (0xffff, "-1") exceeds the body', () => {
    expectProtocolError(() => decodeBackend({ type: BackendType.DataRow, body: hex('ffff 00000000') }), /missing/)
  })

  it('refuses a RowDescription whose field count exceeds the body before building the array', () => {
    expectProtocolError(() => decodeBackend({ type: BackendType.RowDescription, body: hex('ffff 00') }), /count 65535/)
  })

  it('refuses a NegotiateProtocolVersion with a negative option count', () => {
    expectProtocolError(() => decodeBackend({ type: BackendType.NegotiateProtocolVersion, body: hex('00000000 ffffffff') }), /negative/)
  })

  it('refuses an ErrorResponse without its final terminator', () => {
    expectProtocolError(() => decodeBackend({ type: BackendType.ErrorResponse, body: Buffer.from('SERROR\0') }))
  })

  it('refuses an unknown ReadyForQuery status', () => {
    expectProtocolError(() => decodeBackend({ type: BackendType.ReadyForQuery, body: Buffer.from('Q') }), /transaction status 'Q'/)
  })

  it('refuses a BackendKeyData key shorter than 4 or longer than 256 bytes', () => {
    expectProtocolError(() => decodeBackend({ type: BackendType.BackendKeyData, body: hex('00000001 0102') }), /secret key of 2 bytes/)
    expectProtocolError(() => decodeBackend({ type: BackendType.BackendKeyData, body: Buffer.alloc(4 + 257) }), /257 bytes/)
  })
})

describe('DataRow hot path', () => {
  const row = encodeBackend({ type: 'DataRow', values: [Buffer.from('1'), null, Buffer.from(''), Buffer.from('é')] })
  const body = frameOf(row).body

  it('dataRowColumnCount reads the count without decoding values', () => {
    expect(dataRowColumnCount(body)).toBe(4)
    expectProtocolError(() => dataRowColumnCount(Buffer.alloc(1)), /column count/)
  })

  it('forEachDataRowValue yields each value as a view of the body, null for NULL', () => {
    const seen: [number, string | null][] = []
    forEachDataRowValue(body, (i, v) => {
      if (v) expect(v.buffer).toBe(body.buffer)
      seen.push([i, v === null ? null : v.toString('utf8')])
    })
    expect(seen).toEqual([[0, '1'], [1, null], [2, ''], [3, 'é']])
  })

  it('forEachDataRowValue refuses trailing bytes after the last column', () => {
    expectProtocolError(() => forEachDataRowValue(Buffer.concat([body, Buffer.from([1])]), () => {}), /trailing/)
  })

  it('encodeDataRow writes strings as UTF-8 and matches encodeBackend', () => {
    expect(encodeDataRow(['1', null, '', 'é'])).toEqual(row)
    expect(encodeDataRow([Buffer.from('1'), null, '', Buffer.from('é')])).toEqual(row)
  })

  it('encodeDataRow refuses more than 65535 columns', () => {
    expectProtocolError(() => encodeDataRow(new Array<null>(65536).fill(null)), /65536 columns/)
  })
})

describe("the gateway's own answers", () => {
  it('encodeErrorResponse puts Severity in both S and V, then C, M and the optional fields', () => {
    const m = decodeBackend(frameOf(builtErrors.error))
    expect(m).toEqual({
      type: 'ErrorResponse',
      fields: { S: 'ERROR', V: 'ERROR', C: '42501', M: 'denied by rule "no-ddl"', H: 'schema changes go through migrations' },
    })
  })

  it('encodeNoticeResponse builds a NoticeResponse', () => {
    expect(decodeBackend(frameOf(builtErrors.notice))).toEqual({
      type: 'NoticeResponse',
      fields: { S: 'NOTICE', V: 'NOTICE', C: '00000', M: 'statement held for review' },
    })
  })

  it('every named field maps to its one-letter code and back', () => {
    const m = decodeBackend(frameOf(builtErrors.full))
    if (m.type !== 'ErrorResponse') throw new Error(m.type)
    expect(Object.keys(m.fields).join('')).toBe('SVCMDHPpqWstcdnFLR')
    expect(namedErrorFields(m.fields)).toMatchObject({ severity: 'ERROR', code: '23505', position: '15', line: '666', routine: '_bt_check_unique' })
  })

  it('encodeReadyForQuery matches encodeBackend for each status', () => {
    for (const status of ['I', 'T', 'E'] as const) {
      expect(encodeReadyForQuery(status)).toEqual(encodeBackend({ type: 'ReadyForQuery', status }))
    }
  })

  it('refuses an error field code that is not one byte', () => {
    expectProtocolError(() => encodeBackend({ type: 'ErrorResponse', fields: { SS: 'x' } }), /one byte/)
  })

  it('refuses an error message containing NUL (it would end the field and inject protocol bytes)', () => {
    expectProtocolError(() => encodeBackend({ type: 'ErrorResponse', fields: { M: 'a\0Z' } }), /NUL/)
  })
})
