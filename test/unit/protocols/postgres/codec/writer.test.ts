/**
 * The byte helpers under every encoder and decoder: the growable Writer (length back-patching,
 * range checks) and the bounds-checked Reader.
 */
import { describe, expect, it } from 'vitest'
import { AgwError } from '../../../../../src/errors.js'
import { Reader, Writer } from '../../../../../src/protocols/postgres/codec/index.js'

describe('Writer', () => {
  it('grows past its initial size and back-patches the length', () => {
    const w = new Writer(16)
    const at = w.begin(0x51)
    w.cstring('x'.repeat(1000))
    const out = w.end(at).finish()
    expect(out.length).toBe(1 + 4 + 1001)
    expect(out.readInt32BE(1)).toBe(1005)
    expect(out[0]).toBe(0x51)
  })

  it('writes each width big-endian', () => {
    const out = new Writer().uint8(1).int16(-2).uint16(65535).int32(-3).uint32(4000000000).nullableBytes(null).finish()
    expect(out.toString('hex')).toBe('01' + 'fffe' + 'ffff' + 'fffffffd' + 'ee6b2800' + 'ffffffff')
  })

  it('refuses out-of-range and non-integer numbers instead of wrapping them', () => {
    expect(() => new Writer().int16(40000)).toThrow(AgwError)
    expect(() => new Writer().int32(1.5)).toThrow(AgwError)
    expect(() => new Writer().uint32(-1)).toThrow(AgwError)
    expect(() => new Writer().uint8(256)).toThrow(AgwError)
  })
})

describe('Reader', () => {
  it('reads past the end as AgwError("protocol"), naming the message and field', () => {
    const r = new Reader(Buffer.from('0001', 'hex'), 'Test')
    expect(r.int16()).toBe(1)
    expect(() => r.int32('row limit')).toThrow(/malformed Test message: row limit needs 4 bytes at offset 2 but only 0 remain/)
  })

  it('refuses a count that cannot fit in what remains, before building the array', () => {
    const r = new Reader(Buffer.alloc(8), 'Test')
    expect(() => r.list(1_000_000, 4, 'item', () => 0)).toThrow(/count 1000000 needs at least 4000000 bytes/)
  })
})
