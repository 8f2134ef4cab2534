/** Identifiers: UUIDv7 (RFC 9562), time-ordered so ids sort by creation. */
import { randomBytes } from 'node:crypto'

let lastMs = 0
let counter = 0

export function uuidv7(now = Date.now()): string {
  const b = randomBytes(16)
  // A per-millisecond counter in rand_a keeps ids from one process strictly increasing.
  if (now === lastMs) counter = (counter + 1) & 0xfff
  else {
    lastMs = now
    counter = b.readUInt16BE(6) & 0x7ff
  }
  b.writeUIntBE(now, 0, 6)
  b[6] = 0x70 | (counter >> 8)
  b[7] = counter & 0xff
  b[8] = ((b[8] as number) & 0x3f) | 0x80
  const h = b.toString('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}
