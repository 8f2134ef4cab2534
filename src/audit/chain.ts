/**
 * The hash chain and the signed checkpoints (docs/events.md "The chain"). Pure functions over the
 * event as stored, so the chain can be checked without decrypting anything.
 *
 *   canonical(e) = "agw.event.v1"
 *                  ‖ F(id) ‖ F(time) ‖ F(type) ‖ F(sessionId) ‖ F(connectionId) ‖ F(connection) ‖ F(payload)
 *   F(x)         = uint32be(byte length of x) ‖ x        (strings UTF-8; payload the stored ciphertext)
 *   F(absent)    = uint32be(0xFFFFFFFF)
 *   hash(e_n)    = SHA-256(hash(e_{n-1}) ‖ canonical(e_n)),   hash(e_0) = 32 zero bytes
 *
 * A checkpoint signs, with the gateway's Ed25519 key, the UTF-8 text
 *   "agw.checkpoint.v1\n" seq "\n" hex(hash) "\n" time "\n" kind "\n"
 */
import { hash as oneShotHash } from 'node:crypto'

export const GENESIS: Buffer = Buffer.alloc(32)
const PREFIX = Buffer.from('agw.event.v1', 'ascii')
const ABSENT = 0xffffffff

/** The chained fields of an event, as stored. */
export interface ChainedEvent {
  id: string
  time: string
  type: string
  sessionId: string | null
  connectionId: string | null
  connection: string | null
  payload: Buffer
}

let scratch = Buffer.alloc(4096)

function put(buf: Buffer, at: number, s: string | null): number {
  if (s === null) {
    buf.writeUInt32BE(ABSENT, at)
    return at + 4
  }
  const n = buf.write(s, at + 4, 'utf8')
  buf.writeUInt32BE(n, at)
  return at + 4 + n
}

/** canonical(e), as defined above. The returned buffer is only valid until the next call. */
export function canonical(e: ChainedEvent): Buffer {
  return encode(e, 0)
}

/** Writes canonical(e) at `offset` of the scratch buffer; returns scratch[0 .. end]. */
function encode(e: ChainedEvent, offset: number): Buffer {
  const need =
    offset +
    PREFIX.length +
    7 * 4 +
    3 * (e.id.length + e.time.length + e.type.length + (e.sessionId?.length ?? 0) + (e.connectionId?.length ?? 0) + (e.connection?.length ?? 0)) +
    e.payload.length
  if (scratch.length < need) scratch = Buffer.alloc(Math.max(need, scratch.length * 2))
  const buf = scratch
  PREFIX.copy(buf, offset)
  let at = offset + PREFIX.length
  at = put(buf, at, e.id)
  at = put(buf, at, e.time)
  at = put(buf, at, e.type)
  at = put(buf, at, e.sessionId)
  at = put(buf, at, e.connectionId)
  at = put(buf, at, e.connection)
  buf.writeUInt32BE(e.payload.length, at)
  at += 4
  e.payload.copy(buf, at)
  at += e.payload.length
  return buf.subarray(0, at)
}

/** hash(e_n) from hash(e_{n-1}): one SHA-256 over prev ‖ canonical(e), built in one buffer. */
export function chainHash(prev: Buffer, e: ChainedEvent): Buffer {
  const buf = encode(e, 32)
  prev.copy(buf, 0, 0, 32)
  return oneShotHash('sha256', buf, 'buffer') as unknown as Buffer
}

/**
 * hash(e_n) from hash(e_{n-1}) when canonical(e_n) is already in `buf` after 32 bytes of room
 * (how a store may hand rows to verification without re-encoding them): writes `prev` into the
 * room and hashes the whole buffer.
 */
export function chainHashRoom(prev: Buffer, buf: Buffer): Buffer {
  prev.copy(buf, 0, 0, 32)
  return oneShotHash('sha256', buf, 'buffer') as unknown as Buffer
}

export type CheckpointKind = 'interval' | 'stop' | 'prune'

export interface Checkpoint {
  /** The last event the checkpoint covers. */
  seq: number
  /** hash(e_seq). */
  hash: Buffer
  time: string
  kind: CheckpointKind
  /** The signing key's id (signingKeyId of its public key). */
  keyId: string
  signature: Buffer
}

/** The bytes a checkpoint's signature covers. */
export function checkpointMessage(c: Pick<Checkpoint, 'seq' | 'hash' | 'time' | 'kind'>): Buffer {
  return Buffer.from(`agw.checkpoint.v1\n${c.seq}\n${c.hash.toString('hex')}\n${c.time}\n${c.kind}\n`, 'utf8')
}
