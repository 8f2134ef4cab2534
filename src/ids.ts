/** Identifiers: UUIDv7 (RFC 9562), time-ordered so ids sort by creation. */
import { randomFillSync } from 'node:crypto'

// Random bytes come from a pool refilled 4 KiB at a time: one syscall per 512 ids, not one per id.
const POOL_SIZE = 4096
const pool = Buffer.allocUnsafe(POOL_SIZE)
let poolAt = POOL_SIZE

function random8(): Buffer {
  if (poolAt + 8 > POOL_SIZE) {
    randomFillSync(pool)
    poolAt = 0
  }
  const r = pool.subarray(poolAt, poolAt + 8)
  poolAt += 8
  return r
}

let lastMs = 0
let counter = 0
const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

export function uuidv7(now = Date.now()): string {
  const r = random8()
  // A per-millisecond counter in rand_a keeps ids from one process strictly increasing.
  if (now === lastMs) counter = (counter + 1) & 0xfff
  else {
    lastMs = now
    counter = (((r[0] as number) << 8) | (r[1] as number)) & 0x7ff
  }
  const b = [
    Math.floor(now / 2 ** 40) & 0xff,
    Math.floor(now / 2 ** 32) & 0xff,
    (now >>> 24) & 0xff,
    (now >>> 16) & 0xff,
    (now >>> 8) & 0xff,
    now & 0xff,
    0x70 | (counter >> 8),
    counter & 0xff,
    ((r[2] as number) & 0x3f) | 0x80,
    r[3] as number,
    r[4] as number,
    r[5] as number,
    r[6] as number,
    r[7] as number,
  ]
  // 14 bytes above; the last two random bytes come from a second draw.
  const r2 = random8()
  b.push(r2[0] as number, r2[1] as number)
  const h = b.map((x) => HEX[x] as string)
  return `${h[0]}${h[1]}${h[2]}${h[3]}-${h[4]}${h[5]}-${h[6]}${h[7]}-${h[8]}${h[9]}-${h[10]}${h[11]}${h[12]}${h[13]}${h[14]}${h[15]}`
}
