/**
 * A read-only view of a SQLite store's chain, for `agw audit verify`: its own connection (so it can
 * run beside a live gateway, inside one read transaction for a consistent snapshot), rows as
 * stored, checkpoints, and the signing keys the master key vouches for.
 *
 * Speed: SQLite builds each row's canonical encoding itself (the SQL below is docs/events.md's
 * definition, byte for byte) and hands over a few thousand rows as one blob, so the walk costs one
 * SHA-256 per event and no per-column JavaScript strings or buffers.
 */
import Database from 'better-sqlite3'
import { existsSync } from 'node:fs'
import type { KeyObject } from 'node:crypto'
import type { Checkpoint } from '../audit/chain.js'
import { MasterKey } from '../audit/crypto.js'
import { AgwError } from '../errors.js'
import { Keyring } from './sqlite-keys.js'
import { storeError, toCheckpoint } from './sqlite.js'

/** One stored event as verification sees it. */
export interface ChainRecord {
  seq: number
  /** 32 bytes of room, then canonical(e) (see chainHashRoom). */
  buf: Buffer
  /** The stored hash(e). */
  hash: Buffer
}

/** What a finding names about an event. */
export interface EventRef {
  seq: number
  id: string
  type: string
  time: string
  sessionId: string | null
}

/** What verification reads. Synchronous: SQLite answers in-process, and speed matters here. */
export interface ChainSource {
  /** Up to `limit` records with seq > afterSeq, in seq order. */
  records(afterSeq: number, limit: number): ChainRecord[]
  /** The clear fields of one event, to name it in a finding. */
  describe(seq: number): EventRef
  /** The stored previous-hash of one event (read only to explain a failure). */
  prevHash(seq: number): Buffer
  checkpoints(): Checkpoint[]
  /** The highest seq the store ever assigned, when it keeps that apart from the rows. */
  highWater(): number | undefined
  /** The seq of the event whose stored hash is `hash` (slow path, only after a failure). */
  findByHash(hash: Buffer): number | undefined
  /** Signing keys by id, as derived from the master key (not as stored in clear). */
  trustedKeys(): Map<string, KeyObject>
  /** Runs `fn` on one consistent snapshot. */
  snapshot<T>(fn: () => T): T
}

/** F(x) of docs/events.md in SQL: uint32be byte length ‖ bytes, or 0xFFFFFFFF when absent. */
const F = (c: string) => `CASE WHEN ${c} IS NULL THEN x'ffffffff' ELSE unhex(printf('%08x', length(CAST(${c} AS BLOB)))) || CAST(${c} AS BLOB) END`
const CANONICAL = `'agw.event.v1' || ${F('id')} || ${F('time')} || ${F('type')} || ${F('session_id')} || ${F('connection_id')} || ${F('connection')} || ${F('payload')}`

export class SqliteChainSource implements ChainSource {
  private readonly db: Database.Database
  private readonly bulk: Database.Statement
  private readonly keyring: Keyring

  constructor(
    readonly path: string,
    masterKey: Buffer,
  ) {
    if (path !== ':memory:' && !existsSync(path)) throw new AgwError('bad_input', `the store ${path} does not exist: check the storage setting in the config`)
    try {
      this.db = new Database(path, { readonly: true, fileMustExist: true })
      const version = this.db.pragma('user_version', { simple: true }) as number
      if (version < 1) throw new AgwError('bad_input', `${path} is not an agw store (no schema): check the storage setting in the config`)
      // Per row: uint64be seq ‖ uint32be length of canonical ‖ 32 bytes of room ‖ canonical ‖ hash.
      this.bulk = this.db.prepare(
        `SELECT max(seq) AS last, CAST(group_concat(unhex(printf('%016x%08x', seq, length(c))) || zeroblob(32) || c || hash, '' ORDER BY seq) AS BLOB) AS recs
           FROM (SELECT seq, CAST(${CANONICAL} AS BLOB) AS c, hash FROM events WHERE seq > ? ORDER BY seq LIMIT ?)`,
      )
      this.keyring = new Keyring(this.db, new MasterKey(masterKey), path, { readonly: true })
    } catch (err) {
      if (err instanceof AgwError) throw err
      throw storeError(path, err)
    }
  }

  records(afterSeq: number, limit: number): ChainRecord[] {
    const r = this.bulk.get(afterSeq, limit) as { last: number | null; recs: Buffer | null }
    const out: ChainRecord[] = []
    const b = r.recs
    if (!b) return out
    let at = 0
    while (at < b.length) {
      const seq = Number(b.readBigUInt64BE(at))
      const len = b.readUInt32BE(at + 8)
      const start = at + 12
      const end = start + 32 + len
      out.push({ seq, buf: b.subarray(start, end), hash: b.subarray(end, end + 32) })
      at = end + 32
    }
    return out
  }

  describe(seq: number): EventRef {
    const r = this.db.prepare(`SELECT seq, id, type, time, session_id AS sessionId FROM events WHERE seq = ?`).get(seq) as EventRef | undefined
    return r ?? { seq, id: '?', type: '?', time: '?', sessionId: null }
  }

  prevHash(seq: number): Buffer {
    return (this.db.prepare(`SELECT prev_hash FROM events WHERE seq = ?`).get(seq) as { prev_hash: Buffer }).prev_hash
  }

  checkpoints(): Checkpoint[] {
    return (this.db.prepare(`SELECT * FROM checkpoints ORDER BY seq`).all() as Parameters<typeof toCheckpoint>[0][]).map(toCheckpoint)
  }

  highWater(): number | undefined {
    const r = this.db.prepare(`SELECT seq FROM sqlite_sequence WHERE name = 'events'`).get() as { seq: number } | undefined
    return r?.seq
  }

  findByHash(hash: Buffer): number | undefined {
    return (this.db.prepare(`SELECT seq FROM events WHERE hash = ?`).get(hash) as { seq: number } | undefined)?.seq
  }

  trustedKeys(): Map<string, KeyObject> {
    return new Map(this.keyring.trustedSigningKeys().map((k) => [k.id, k.publicKey]))
  }

  snapshot<T>(fn: () => T): T {
    this.db.exec('BEGIN')
    try {
      return fn()
    } finally {
      this.db.exec('COMMIT')
    }
  }

  close(): void {
    if (this.db.open) this.db.close()
  }
}
