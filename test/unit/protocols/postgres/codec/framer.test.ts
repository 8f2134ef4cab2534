/**
 * The framing loop. TCP may cut a stream anywhere, so every fixture stream is fed split at every
 * byte offset and one byte at a time (pg-protocol `inbound-parser.test.ts`), and must frame
 * exactly as when fed whole. Bad lengths are refused before anything is allocated.
 * PostgreSQL documentation: "Message Formats", "Message Flow" / "Start-up".
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { AgwError } from '../../../../../src/errors.js'
import {
  decodeStartupPhase,
  encodeBackend,
  encodeCancelRequest,
  encodeFrontend,
  encodeSSLRequest,
  encodeStartup,
  MessageFramer,
} from '../../../../../src/protocols/postgres/codec/index.js'
import type { Frame, FramerOptions } from '../../../../../src/protocols/postgres/codec/index.js'
import { backendFixtures, frontendFixtures } from './fixtures.js'

interface Seen {
  type: number
  body: string
}

function collect(chunks: Buffer[], opts?: FramerOptions, onFrame?: (f: Frame, framer: MessageFramer) => void): Seen[] {
  const framer = new MessageFramer(opts)
  const seen: Seen[] = []
  for (const chunk of chunks) {
    framer.push(chunk, (f) => {
      seen.push({ type: f.type, body: f.body.toString('hex') })
      onFrame?.(f, framer)
    })
  }
  expect(framer.buffered).toBe(0)
  return seen
}

function protocolError(fn: () => unknown): AgwError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(AgwError)
    expect((err as AgwError).code).toBe('protocol')
    return err as AgwError
  }
  throw new Error('expected an AgwError')
}

const messages = [...frontendFixtures.map((f) => encodeFrontend(f.message)), ...backendFixtures.map((f) => encodeBackend(f.message))]
const stream = Buffer.concat(messages)

afterEach(() => {
  vi.restoreAllMocks()
})

describe('framing a stream of every fixture', () => {
  const whole = collect([stream])

  it('yields one frame per message, raw bytes as encoded', () => {
    const raws: Buffer[] = []
    new MessageFramer().push(stream, (f) => raws.push(f.raw))
    expect(raws).toEqual(messages)
    expect(whole).toHaveLength(messages.length)
  })

  it('hands out views of the pushed chunk, not copies, when a message lies inside it', () => {
    new MessageFramer().push(stream, (f) => {
      expect(f.raw.buffer).toBe(stream.buffer)
      expect(f.body.buffer).toBe(stream.buffer)
      expect(f.body.byteOffset).toBe(f.raw.byteOffset + 5)
    })
  })

  it('frames the same when split into two chunks at every byte offset', () => {
    for (let i = 1; i < stream.length; i++) {
      expect(collect([stream.subarray(0, i), stream.subarray(i)]), `split at ${i}`).toEqual(whole)
    }
  })

  it('frames the same when fed one byte at a time', () => {
    const bytes = Array.from({ length: stream.length }, (_, i) => stream.subarray(i, i + 1))
    expect(collect(bytes)).toEqual(whole)
  })

  it('frames the same for pseudo-random chunk sizes (messages spanning three or more chunks)', () => {
    let seed = 42
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31)
    for (let round = 0; round < 50; round++) {
      const chunks: Buffer[] = []
      for (let at = 0; at < stream.length; ) {
        const n = 1 + (next() % 40)
        chunks.push(stream.subarray(at, at + n))
        at += n
      }
      expect(collect(chunks)).toEqual(whole)
    }
  })

  it('reports the bytes of an incomplete message as buffered', () => {
    const framer = new MessageFramer()
    const first = messages[0] as Buffer
    framer.push(first.subarray(0, 3), () => {})
    expect(framer.buffered).toBe(3)
    framer.push(first.subarray(3, 7), () => {})
    expect(framer.buffered).toBe(7)
  })
})

describe('a message that spans chunks', () => {
  it('is assembled in exactly one allocation of its own size, without Buffer.concat', () => {
    const big = encodeFrontend({ type: 'CopyData', data: Buffer.alloc(100_000, 7) })
    const chunks = Array.from({ length: Math.ceil(big.length / 1000) }, (_, i) => big.subarray(i * 1000, (i + 1) * 1000))
    const alloc = vi.spyOn(Buffer, 'allocUnsafe')
    const concat = vi.spyOn(Buffer, 'concat')
    const frames: Frame[] = []
    const framer = new MessageFramer()
    for (const c of chunks) framer.push(c, (f) => frames.push(f))
    expect(alloc).toHaveBeenCalledTimes(1)
    expect(alloc).toHaveBeenCalledWith(big.length)
    expect(concat).not.toHaveBeenCalled()
    expect(frames).toHaveLength(1)
    expect(frames[0]?.raw).toEqual(big)
  })

  it('works when the 5-byte header itself is split (1 byte, then 4)', () => {
    const q = encodeFrontend({ type: 'Query', sql: 'select 1' })
    expect(collect([q.subarray(0, 1), q.subarray(1, 5), q.subarray(5)])).toEqual(collect([q]))
  })
})

describe('startup phase (untyped first message)', () => {
  const startup = encodeStartup({ user: 'agent', database: 'app' })
  const query = encodeFrontend({ type: 'Query', sql: 'select 1' })

  it('SSLRequest, then after expectStartup() a StartupMessage, then typed messages', () => {
    const framer = new MessageFramer({ startup: true })
    const kinds: string[] = []
    const on = (f: Frame) => kinds.push(f.type === 0 ? decodeStartupPhase(f).kind : String.fromCharCode(f.type))
    framer.push(encodeSSLRequest(), on)
    framer.expectStartup() // the server answered 'N'
    framer.push(Buffer.concat([startup, query]), on)
    expect(kinds).toEqual(['ssl', 'startup', 'Q'])
  })

  it('frames SSLRequest + StartupMessage + Query the same at every split when expectStartup() is called from the callback', () => {
    const s = Buffer.concat([encodeSSLRequest(), startup, query])
    const onFrame = (f: Frame, framer: MessageFramer) => {
      if (f.type === 0 && decodeStartupPhase(f).kind === 'ssl') framer.expectStartup()
    }
    const whole = collect([s], { startup: true }, onFrame)
    expect(whole.map((f) => f.type)).toEqual([0, 0, 0x51])
    for (let i = 1; i < s.length; i++) {
      expect(collect([s.subarray(0, i), s.subarray(i)], { startup: true }, onFrame), `split at ${i}`).toEqual(whole)
    }
  })

  it('frames a CancelRequest as an untyped message', () => {
    const frames: Frame[] = []
    new MessageFramer({ startup: true }).push(encodeCancelRequest(4242, Buffer.from('deadbeef', 'hex')), (f) => frames.push(f))
    expect(frames.map((f) => decodeStartupPhase(f))).toEqual([{ kind: 'cancel', pid: 4242, secret: Buffer.from('deadbeef', 'hex') }])
  })

  it('refuses expectStartup() while part of a typed message is held (bytes pipelined after an SSLRequest)', () => {
    const framer = new MessageFramer({ startup: true })
    framer.push(Buffer.concat([encodeSSLRequest(), query.subarray(0, 3)]), () => {})
    protocolError(() => framer.expectStartup())
  })
})

describe('bad input is refused with AgwError("protocol")', () => {
  it('a length of 2 GB, before anything is allocated', () => {
    const alloc = vi.spyOn(Buffer, 'allocUnsafe')
    const framer = new MessageFramer()
    const err = protocolError(() => framer.push(Buffer.from('4480000000', 'hex'), () => {}))
    expect(err.message).toMatch(/length 2147483648 exceeds the limit of 1073741824 bytes/)
    expect(framer.buffered).toBe(0)
    expect(alloc).not.toHaveBeenCalled()
  })

  it('a length of 2 GB whose header arrives split (1 byte, then 4)', () => {
    const alloc = vi.spyOn(Buffer, 'allocUnsafe')
    const framer = new MessageFramer()
    framer.push(Buffer.from('44', 'hex'), () => {})
    expect(framer.buffered).toBe(1)
    protocolError(() => framer.push(Buffer.from('80000000', 'hex'), () => {}))
    expect(framer.buffered).toBe(0)
    expect(alloc).not.toHaveBeenCalled()
  })

  it('a length field of 3 (less than the field itself)', () => {
    const err = protocolError(() => new MessageFramer().push(Buffer.from('5100000003', 'hex'), () => {}))
    expect(err.message).toMatch(/'Q' \(0x51\) has invalid length 3/)
  })

  it('a message larger than maxMessageSize', () => {
    const framer = new MessageFramer({ maxMessageSize: 1000 })
    framer.push(encodeBackend({ type: 'CopyData', data: Buffer.alloc(996) }), () => {})
    expect(protocolError(() => framer.push(encodeBackend({ type: 'CopyData', data: Buffer.alloc(997) }), () => {})).message).toMatch(/'d' \(0x64\) length 1001 exceeds the limit of 1000/)
  })

  it('a startup message of 20000 bytes (PostgreSQL refuses more than 10000)', () => {
    const huge = encodeStartup({ user: 'a', options: 'x'.repeat(20000 - 30) })
    const err = protocolError(() => new MessageFramer({ startup: true }).push(huge, () => {}))
    expect(err.message).toMatch(/startup packet length \d+ \(must be 8 to 10000 bytes\)/)
  })

  it('an HTTP request sent to the PostgreSQL port, with a hint', () => {
    const err = protocolError(() => new MessageFramer({ startup: true }).push(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), () => {}))
    expect(err.message).toMatch(/looks like an HTTP request/)
  })

  it('a TLS ClientHello without an SSLRequest (direct TLS), with a hint', () => {
    const err = protocolError(() => new MessageFramer({ startup: true }).push(Buffer.from('160301020001', 'hex'), () => {}))
    expect(err.message).toMatch(/TLS handshake/)
  })

  it('and keeps refusing input after a protocol error', () => {
    const framer = new MessageFramer()
    protocolError(() => framer.push(Buffer.from('5100000003', 'hex'), () => {}))
    protocolError(() => framer.push(encodeFrontend({ type: 'Sync' }), () => {}))
  })
})
