/**
 * The chain's canonical encoding as docs/events.md defines it, rebuilt here byte by byte, so an
 * accidental change to src/audit/chain.ts (which would break every existing store) fails a test.
 */
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { canonical, chainHash, checkpointMessage, GENESIS, type ChainedEvent } from '../../../src/audit/chain.js'

function field(x: string | Buffer | null): Buffer {
  if (x === null) return Buffer.from([0xff, 0xff, 0xff, 0xff])
  const bytes = typeof x === 'string' ? Buffer.from(x, 'utf8') : x
  const len = Buffer.alloc(4)
  len.writeUInt32BE(bytes.length)
  return Buffer.concat([len, bytes])
}

const event: ChainedEvent = {
  id: '01900000-0000-7000-8000-000000000001',
  time: '2026-01-31T12:00:00.000Z',
  type: 'query',
  sessionId: '01900000-0000-7000-8000-0000000000aa',
  connectionId: null,
  connection: 'pg-prod-é',
  payload: Buffer.from('00112233445566778899aabbccddeeff', 'hex'),
}

describe('canonical encoding', () => {
  it('is the documented length-prefixed layout', () => {
    const expected = Buffer.concat([
      Buffer.from('agw.event.v1', 'ascii'),
      field(event.id),
      field(event.time),
      field(event.type),
      field(event.sessionId),
      field(event.connectionId),
      field(event.connection),
      field(event.payload),
    ])
    expect(Buffer.from(canonical(event)).toString('hex')).toBe(expected.toString('hex'))
  })

  it('chains: SHA-256(previous hash ‖ canonical)', () => {
    const first = chainHash(GENESIS, event)
    expect(first.toString('hex')).toBe(createHash('sha256').update(Buffer.alloc(32)).update(canonical(event)).digest('hex'))
    const second = chainHash(first, { ...event, id: '01900000-0000-7000-8000-000000000002' })
    expect(second.equals(chainHash(GENESIS, { ...event, id: '01900000-0000-7000-8000-000000000002' }))).toBe(false)
  })

  it('tells an absent field from an empty one', () => {
    const empty = Buffer.from(canonical({ ...event, connection: '' }))
    const absent = Buffer.from(canonical({ ...event, connection: null }))
    expect(empty.equals(absent)).toBe(false)
  })

  it('signs checkpoints over the documented text', () => {
    const msg = checkpointMessage({ seq: 42, hash: Buffer.alloc(32, 0xab), time: '2026-01-31T12:00:00.000Z', kind: 'interval' })
    expect(msg.toString('utf8')).toBe(`agw.checkpoint.v1\n42\n${'ab'.repeat(32)}\n2026-01-31T12:00:00.000Z\ninterval\n`)
  })
})
