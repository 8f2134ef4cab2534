/**
 * `agw audit verify`: walks the hash chain and the signed checkpoints of a store and names the first
 * event that was changed, removed, reordered or cut off (docs/operations.md "Verify").
 *
 * What each finding means:
 *   changed    an event's content no longer matches its hash
 *   removed    an event's predecessor in the chain is missing (events deleted in the middle, or at
 *              the start without a retention checkpoint)
 *   reordered  an event's predecessor is stored after it
 *   cut        events at the end are gone: a signed checkpoint, or the store's own seq counter,
 *              covers more than is there
 *   rewritten  events match their hashes but not a signed checkpoint: the chain was recomputed
 *   checkpoint a checkpoint's signature is invalid, or it was made by a key the master key does not vouch for
 */
import { verifyMessage } from './crypto.js'
import { chainHashRoom, checkpointMessage, GENESIS, type Checkpoint } from './chain.js'
import type { ChainRecord, ChainSource, EventRef } from '../storage/sqlite-chain.js'

export type FindingKind = 'changed' | 'removed' | 'reordered' | 'cut' | 'rewritten' | 'checkpoint'

export interface Finding {
  kind: FindingKind
  /** The seq of the first event concerned (for `cut`: the last event that is there). */
  seq: number
  eventId?: string
  eventType?: string
  message: string
}

export interface VerifyReport {
  ok: boolean
  events: number
  firstSeq?: number
  lastSeq?: number
  /** hex hash of the last event checked. */
  head: string
  checkpoints: number
  lastCheckpoint?: { seq: number; time: string; kind: string }
  /** Signing key ids the master key vouches for. */
  keys: string[]
  /** The first problem found; verification stops there. */
  finding?: Finding
  seconds: number
  eventsPerSecond: number
}

const BATCH = 2_000

function describe(r: EventRef): string {
  return `seq ${r.seq} (${r.type} ${r.id} at ${r.time}${r.sessionId ? `, session ${r.sessionId}` : ''})`
}

/** A finding about the event at `seq`, named by its clear fields. */
function about(source: ChainSource, kind: FindingKind, seq: number, message: (name: string) => string): Finding {
  const ref = source.describe(seq)
  return { kind, seq, eventId: ref.id, eventType: ref.type, message: message(describe(ref)) }
}

function changed(source: ChainSource, seq: number): Finding {
  return about(source, 'changed', seq, (n) => `event ${n} was changed: its content does not match its hash`)
}

export function verifyChain(source: ChainSource): VerifyReport {
  const started = process.hrtime.bigint()
  const report = source.snapshot(() => walk(source))
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  report.seconds = seconds
  report.eventsPerSecond = seconds > 0 ? Math.round(report.events / seconds) : 0
  return report
}

function walk(source: ChainSource): VerifyReport {
  const keys = source.trustedKeys()
  const checkpoints = source.checkpoints()
  const report: VerifyReport = { ok: true, events: 0, head: GENESIS.toString('hex'), checkpoints: checkpoints.length, keys: [...keys.keys()], seconds: 0, eventsPerSecond: 0 }
  const last = checkpoints.at(-1)
  if (last) report.lastCheckpoint = { seq: last.seq, time: last.time, kind: last.kind }
  // Where the walk got to (for a report that stops early).
  let running = GENESIS
  let prev: ChainRecord | undefined
  const fail = (f: Finding): VerifyReport => {
    report.ok = false
    report.finding = f
    report.head = running.toString('hex')
    if (prev) report.lastSeq = prev.seq
    return report
  }

  for (const c of checkpoints) {
    const key = keys.get(c.keyId)
    if (!key) return fail({ kind: 'checkpoint', seq: c.seq, message: `the checkpoint at seq ${c.seq} (${c.time}) names signing key ${c.keyId}, which the master key does not vouch for: it was forged or the keyring was altered` })
    if (!verifyMessage(key, checkpointMessage(c), c.signature)) {
      return fail({ kind: 'checkpoint', seq: c.seq, message: `the checkpoint at seq ${c.seq} (${c.time}) has an invalid signature: it was altered` })
    }
  }
  const bySeq = new Map<number, Checkpoint>(checkpoints.map((c) => [c.seq, c]))

  let batch = source.records(0, BATCH)
  let prevCheckpoint: Checkpoint | undefined
  const first = batch[0]
  if (first) {
    report.firstSeq = first.seq
    const firstPrev = source.prevHash(first.seq)
    if (!firstPrev.equals(GENESIS)) {
      // The start of the chain was pruned: a signed retention checkpoint must carry it across.
      const anchor = checkpoints.find((c) => c.kind === 'prune' && c.hash.equals(firstPrev) && c.seq < first.seq)
      if (!anchor) {
        if (!chainHashRoom(firstPrev, first.buf).equals(first.hash)) return fail(changed(source, first.seq))
        return fail(about(source, 'removed', first.seq, (n) => `events before ${n} were removed: the chain does not start there and no signed retention checkpoint accounts for the gap`))
      }
      running = anchor.hash
      prevCheckpoint = anchor
    }
  } else {
    // Everything was pruned: the chain continues from the last retention checkpoint.
    const anchor = checkpoints.filter((c) => c.kind === 'prune').at(-1)
    if (anchor) {
      running = anchor.hash
      prevCheckpoint = anchor
    }
  }

  while (batch.length > 0) {
    for (const r of batch) {
      const h = chainHashRoom(running, r.buf)
      if (!h.equals(r.hash)) {
        // Either the row changed, or it is not linked to what came before: its own stored
        // previous-hash tells which.
        const stored = source.prevHash(r.seq)
        if (stored.equals(running) || !chainHashRoom(stored, r.buf).equals(r.hash)) return fail(changed(source, r.seq))
        const later = source.findByHash(stored)
        if (later !== undefined && later > r.seq) {
          return fail(about(source, 'reordered', r.seq, (n) => `event ${n} is out of order: in the chain it follows the event now stored at seq ${later}`))
        }
        const after = prev ? `seq ${prev.seq}` : 'the start of the store'
        return fail(about(source, 'removed', r.seq, (n) => `events between ${after} and ${n} were removed: seq ${r.seq} does not follow ${after} in the chain`))
      }
      running = h
      prev = r
      report.events++
      const cp = bySeq.get(r.seq)
      if (cp) {
        if (!cp.hash.equals(h)) {
          const from = prevCheckpoint ? `after seq ${prevCheckpoint.seq}` : 'from the start'
          return fail(
            about(source, 'rewritten', r.seq, (n) => `the events ${from} up to ${n} do not match the checkpoint signed at ${cp.time}: they were rewritten (and their hashes recomputed) after it was signed`),
          )
        }
        prevCheckpoint = cp
      }
    }
    batch = source.records(prev!.seq, BATCH)
  }

  report.head = running.toString('hex')
  if (prev) report.lastSeq = prev.seq
  const end = prev?.seq ?? prevCheckpoint?.seq ?? 0
  const cut = (message: string): Finding => {
    const f: Finding = { kind: 'cut', seq: end, message }
    if (prev) {
      const ref = source.describe(prev.seq)
      f.eventId = ref.id
      f.eventType = ref.type
    }
    return f
  }
  const beyond = checkpoints.filter((c) => c.seq > end).at(-1)
  if (beyond) {
    return fail(cut(`the store ends at seq ${end}, but a checkpoint signed at ${beyond.time} covers events up to seq ${beyond.seq}: the events after seq ${end} were cut off`))
  }
  const high = source.highWater()
  if (high !== undefined && high > end) {
    return fail(cut(`the store ends at seq ${end}, but it had assigned seq numbers up to ${high}: the events after seq ${end} were cut off`))
  }
  return report
}
