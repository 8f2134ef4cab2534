/**
 * Client messages and the startup phase: every fixture round-trips, the encoders match bytes
 * written by hand from "Message Formats", and malformed bodies are refused with
 * AgwError('protocol') instead of being misread.
 */
import { describe, expect, it } from 'vitest'
import { AgwError } from '../../../../../src/errors.js'
import {
  decodeFrontend,
  decodePassword,
  decodeSASLInitialResponse,
  decodeSASLResponse,
  decodeStartupPhase,
  encodeCancelRequest,
  encodeFrontend,
  encodeGSSENCRequest,
  encodePassword,
  encodeSASLInitialResponse,
  encodeSASLResponse,
  encodeSSLRequest,
  encodeStartup,
  formatAt,
  FrontendType,
} from '../../../../../src/protocols/postgres/codec/index.js'
import type { FrontendMessage, StartupPhaseMessage } from '../../../../../src/protocols/postgres/codec/index.js'
import { frameOf, frontendFixtures, handWritten, startupFixtures } from './fixtures.js'

function encodeStartupPhase(m: StartupPhaseMessage): Buffer {
  switch (m.kind) {
    case 'ssl':
      return encodeSSLRequest()
    case 'gssenc':
      return encodeGSSENCRequest()
    case 'cancel':
      return encodeCancelRequest(m.pid, m.secret)
    case 'startup':
      return encodeStartup(m.params, m.minor)
  }
}

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

describe('frontend messages round-trip (decode(encode(x)) == x)', () => {
  it.each(frontendFixtures.map((f) => [f.name, f] as const))('%s', (_name, f) => {
    const bytes = encodeFrontend(f.message)
    const frame = frameOf(bytes)
    expect(decodeFrontend(frame)).toEqual(f.message)
    expect(encodeFrontend(decodeFrontend(frame))).toEqual(bytes)
  })
})

describe('startup-phase messages round-trip', () => {
  it.each(startupFixtures.map((f) => [f.name, f] as const))('%s', (_name, f) => {
    const frame = frameOf(encodeStartupPhase(f.message), true)
    expect(frame.type).toBe(0)
    expect(decodeStartupPhase(frame)).toEqual(f.message)
  })
})

describe('encoders match bytes written from "Message Formats"', () => {
  it.each(handWritten.filter((h) => h.direction !== 'backend').map((h) => [h.name, h] as const))('%s', (_name, h) => {
    if (h.direction === 'startup') {
      expect(encodeStartupPhase(h.message as StartupPhaseMessage).toString('hex')).toBe(h.bytes.toString('hex'))
      expect(decodeStartupPhase(frameOf(h.bytes, true))).toEqual(h.message)
    } else {
      expect(encodeFrontend(h.message as FrontendMessage).toString('hex')).toBe(h.bytes.toString('hex'))
      expect(decodeFrontend(frameOf(h.bytes))).toEqual(h.message)
    }
  })
})

describe('truncated or padded client messages are refused', () => {
  const closed = frontendFixtures.filter((f) => f.openTail !== 'both')
  it.each(closed.map((f) => [f.name, f] as const))('%s: every shorter body, and one extra byte where that is illegal', (_name, f) => {
    const { type, body } = frameOf(encodeFrontend(f.message))
    for (let k = 0; k < body.length; k++) expectProtocolError(() => decodeFrontend({ type, body: body.subarray(0, k) }))
    if (!f.openTail) expectProtocolError(() => decodeFrontend({ type, body: Buffer.concat([body, Buffer.from([0])]) }), /trailing/)
  })

  it.each(startupFixtures.filter((f) => f.openTail !== 'both').map((f) => [f.name, f] as const))('startup %s: every shorter body, and one extra byte where that is illegal', (_name, f) => {
    const { type, body } = frameOf(encodeStartupPhase(f.message), true)
    for (let k = 0; k < body.length; k++) expectProtocolError(() => decodeStartupPhase({ type, body: body.subarray(0, k) }))
    if (!f.openTail) expectProtocolError(() => decodeStartupPhase({ type, body: Buffer.concat([body, Buffer.from([0])]) }))
  })
})

describe('malformed client messages', () => {
  const body = (hex: string) => Buffer.from(hex.replace(/\s+/g, ''), 'hex')

  it('refuses an unknown type byte, naming it', () => {
    expectProtocolError(() => decodeFrontend({ type: 0x7a, body: Buffer.alloc(0) }), /unknown frontend message type 'z'/)
  })

  it('refuses a Bind parameter whose length runs past the end', () => {
    expectProtocolError(() => decodeFrontend({ type: FrontendType.Bind, body: body('00 00 0000 0001 000003e8 6162 0000') }), /parameter 1/)
  })

  it('refuses a Bind parameter with a negative length other than -1', () => {
    expectProtocolError(() => decodeFrontend({ type: FrontendType.Bind, body: body('00 00 0000 0001 fffffffe 0000') }), /negative length/)
  })

  it('refuses a Bind whose parameter count (0xffff, "-1") exceeds the body', () => {
    expectProtocolError(() => decodeFrontend({ type: FrontendType.Bind, body: body('00 00 0000 ffff 00000000') }), /count 65535/)
  })

  it('refuses a Query without its NUL terminator', () => {
    expectProtocolError(() => decodeFrontend({ type: FrontendType.Query, body: Buffer.from('select 1') }), /terminator/)
  })

  it('refuses a Query with bytes after the terminator (a second, smuggled statement)', () => {
    expectProtocolError(() => decodeFrontend({ type: FrontendType.Query, body: Buffer.from('select 1\0drop table users\0') }), /trailing/)
  })

  it("refuses a Describe or Close target other than 'S' or 'P'", () => {
    expectProtocolError(() => decodeFrontend({ type: FrontendType.Describe, body: Buffer.from('X\0') }), /'S' or 'P'/)
    expectProtocolError(() => decodeFrontend({ type: FrontendType.Close, body: Buffer.from('\0\0') }), /'S' or 'P'/)
  })

  it('reads parameter counts as unsigned, as PostgreSQL does (65535 parameters are legal)', () => {
    const params = Array.from({ length: 65535 }, () => null)
    const msg: FrontendMessage = { type: 'Bind', portal: '', statement: '', paramFormats: [], params, resultFormats: [] }
    expect(decodeFrontend(frameOf(encodeFrontend(msg)))).toEqual(msg)
  })
})

describe("'p' messages (meaning depends on the authentication exchange)", () => {
  it('PasswordMessage decodes to the password', () => {
    expect(decodePassword(frameOf(encodePassword('md5abc')).body)).toBe('md5abc')
  })

  it('PasswordMessage refuses bytes after the password', () => {
    expectProtocolError(() => decodePassword(Buffer.from('pw\0x')), /trailing/)
  })

  it('SASLInitialResponse carries the mechanism and the client-first message', () => {
    const frame = frameOf(encodeSASLInitialResponse('SCRAM-SHA-256', Buffer.from('n,,n=,r=abc')))
    expect(decodeFrontend(frame).type).toBe('PasswordLike')
    expect(decodeSASLInitialResponse(frame.body)).toEqual({ mechanism: 'SCRAM-SHA-256', data: Buffer.from('n,,n=,r=abc') })
  })

  it('SASLInitialResponse with no initial data encodes length -1', () => {
    const frame = frameOf(encodeSASLInitialResponse('SCRAM-SHA-256', null))
    expect(frame.body.subarray(-4).toString('hex')).toBe('ffffffff')
    expect(decodeSASLInitialResponse(frame.body)).toEqual({ mechanism: 'SCRAM-SHA-256', data: null })
  })

  it('SASLInitialResponse refuses data whose length runs past the end', () => {
    expectProtocolError(() => decodeSASLInitialResponse(Buffer.concat([Buffer.from('SCRAM-SHA-256\0'), Buffer.from('00000064', 'hex'), Buffer.from('abc')])))
  })

  it('SASLResponse is the raw mechanism bytes', () => {
    const frame = frameOf(encodeSASLResponse(Buffer.from('c=biws,r=abc,p=xyz')))
    expect(decodeSASLResponse(frame.body).toString()).toBe('c=biws,r=abc,p=xyz')
  })
})

describe('startup phase', () => {
  it('keeps every startup parameter, including _pq_ protocol options of 3.2', () => {
    const m = decodeStartupPhase(frameOf(encodeStartup({ user: 'a', '_pq_.foo': 'bar', replication: 'database' }, 2), true))
    expect(m).toEqual({ kind: 'startup', major: 3, minor: 2, params: { user: 'a', '_pq_.foo': 'bar', replication: 'database' } })
  })

  it('keeps a parameter named __proto__ as data (no prototype pollution)', () => {
    const m = decodeStartupPhase(frameOf(encodeStartup({ user: 'a', ['__proto__']: 'x' }), true))
    expect(m.kind === 'startup' && Object.hasOwn(m.params, '__proto__') && m.params['__proto__']).toBe('x')
    expect(({} as Record<string, unknown>).x).toBeUndefined()
  })

  it('refuses protocol 2.0', () => {
    expectProtocolError(() => decodeStartupPhase({ type: 0, body: Buffer.from('00020000 00', 'hex') }), /unsupported protocol version 2\.0/)
  })

  it('refuses an unknown 1234.x request code', () => {
    expectProtocolError(() => decodeStartupPhase({ type: 0, body: Buffer.from('04d2ffff', 'hex') }), /unknown request code 1234\.65535/)
  })

  it('refuses a parameter name without a value', () => {
    expectProtocolError(() => decodeStartupPhase({ type: 0, body: Buffer.from('00030000757365720000', 'hex').subarray(0, 9) }))
  })

  it('refuses a CancelRequest key shorter than 4 or longer than 256 bytes', () => {
    const cancel = (n: number) => Buffer.concat([Buffer.from('04d2162e000004d2', 'hex'), Buffer.alloc(n)])
    expectProtocolError(() => decodeStartupPhase({ type: 0, body: cancel(3) }), /secret key of 3 bytes/)
    expectProtocolError(() => decodeStartupPhase({ type: 0, body: cancel(257) }), /secret key of 257 bytes/)
    expect(() => encodeCancelRequest(1, Buffer.alloc(257))).toThrow(AgwError)
  })

  it('refuses a typed frame where an untyped one is expected', () => {
    expectProtocolError(() => decodeStartupPhase(frameOf(encodeFrontend({ type: 'Sync' }))), /untyped/)
  })
})

describe('encoders refuse values that would corrupt the stream', () => {
  it('a NUL inside a string (it would end the field and inject protocol bytes)', () => {
    expectProtocolError(() => encodeFrontend({ type: 'Query', sql: 'select 1\0X' }), /NUL/)
    expectProtocolError(() => encodeStartup({ user: 'a\0b' }), /NUL/)
  })

  it('an empty startup parameter name (it would end the list early)', () => {
    expectProtocolError(() => encodeStartup({ '': 'x' }), /empty name/)
  })

  it('numbers out of range for their field', () => {
    expectProtocolError(() => encodeFrontend({ type: 'Execute', portal: '', maxRows: 2 ** 31 }), /row limit/)
    expectProtocolError(() => encodeFrontend({ type: 'Parse', name: '', sql: '', paramTypes: [-1] }), /OID/)
    expectProtocolError(() => encodeFrontend({ type: 'Bind', portal: '', statement: '', paramFormats: [70000], params: [], resultFormats: [] }))
  })
})

describe('formatAt applies the Bind format-code rule', () => {
  it('no codes: text; one code: all; else per item', () => {
    expect(formatAt([], 5)).toBe(0)
    expect(formatAt([1], 5)).toBe(1)
    expect(formatAt([0, 1], 1)).toBe(1)
  })
})
