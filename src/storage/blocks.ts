/**
 * Payload blocks (docs/adr/0015): the events of one append batch that share a data key are sealed
 * together, with one AES-GCM instead of one per event. Every event keeps its own row, seq and chain
 * hash; what its `payload` column holds depends on its `block` column:
 *
 *   block NULL   the event's own sealed payload (`sealPayload`, bound to the event id)
 *   block 0      the first event of a block: the sealed block (`sealBlock`, bound to this event's id);
 *                its own payload is the block's line 0
 *   block L > 0  another event of the block whose first event has seq L: a reference,
 *                0x01 ‖ uint48be(L) ‖ uint32be(line)
 *
 * The chain covers `payload` as stored, so the block's ciphertext and every reference are
 * tamper-evident; `block` itself is not chained, so a reader checks that it agrees with the
 * reference. The members of a block share a session (or, without one, a day), so retention never
 * keeps a member without its first event (see SqliteStore.prune).
 */
/** A payload larger than this is sealed on its own (a block is read whole to get one event). */
export const BLOCK_MEMBER_MAX = 16 * 1024
/** A block is closed once its payloads reach this many bytes (UTF-16 units, close enough). */
export const BLOCK_MAX = 256 * 1024
/** A block's last event is less than this many seqs after its first (bounds retention's check). */
export const BLOCK_SPAN = 1000

const REF_VERSION = 0x01
const REF_LENGTH = 11

export type PayloadPlan =
  | { kind: 'own' }
  | { kind: 'first'; members: number[] }
  | { kind: 'member'; first: number; line: number }

/**
 * How each event of a batch is sealed, from its payload JSON and its data key id: events that share
 * a key form blocks (in batch order, the first member first); an event alone with its key, or too
 * large, is sealed on its own.
 */
export function planBlocks(keyIds: string[], payloads: string[]): PayloadPlan[] {
  const plans: PayloadPlan[] = keyIds.map(() => ({ kind: 'own' }))
  const open = new Map<string, { members: number[]; size: number }>()
  const close = (b: { members: number[] }) => {
    const [first, ...rest] = b.members
    if (first === undefined || rest.length === 0) return
    plans[first] = { kind: 'first', members: b.members }
    rest.forEach((i, k) => (plans[i] = { kind: 'member', first, line: k + 1 }))
  }
  for (let i = 0; i < keyIds.length; i++) {
    const size = (payloads[i] as string).length
    if (size > BLOCK_MEMBER_MAX) continue
    const key = keyIds[i] as string
    let b = open.get(key)
    if (b && (b.size + size > BLOCK_MAX || i - (b.members[0] as number) >= BLOCK_SPAN)) {
      close(b)
      b = undefined
    }
    if (!b) {
      b = { members: [], size: 0 }
      open.set(key, b)
    }
    b.members.push(i)
    b.size += size
  }
  for (const b of open.values()) close(b)
  return plans
}

export function encodeRef(firstSeq: number, line: number): Buffer {
  const b = Buffer.allocUnsafe(REF_LENGTH)
  b[0] = REF_VERSION
  b.writeUIntBE(firstSeq, 1, 6)
  b.writeUInt32BE(line, 7)
  return b
}

/** The reference a member's payload holds, or undefined when it is not one. */
export function decodeRef(payload: Buffer): { firstSeq: number; line: number } | undefined {
  if (payload.length !== REF_LENGTH || payload[0] !== REF_VERSION) return undefined
  return { firstSeq: payload.readUIntBE(1, 6), line: payload.readUInt32BE(7) }
}
