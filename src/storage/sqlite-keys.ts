/**
 * The store's keyring table: every key the store uses, wrapped by the master key (src/audit/crypto.ts).
 *
 *   purpose 'data'     id = session id, or 'day:YYYY-MM-DD' for events without a session
 *   purpose 'signing'  id = the Ed25519 key id; `public` holds the raw public key
 *   purpose 'search'   id = 'v1', the blind index HMAC key
 *
 * `meta.master_key_id` names the master key everything is wrapped with; opening the store with
 * another key fails at once with a message, instead of failing later on the first read.
 */
import type Database from 'better-sqlite3'
import {
  BlindIndex,
  exportSigningKey,
  generateSigningKey,
  importSigningKey,
  newDataKey,
  type MasterKey,
  type SigningKey,
} from '../audit/crypto.js'
import { AgwError } from '../errors.js'

export const KEYRING_SCHEMA = `
  CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS keyring (
    purpose TEXT NOT NULL,
    id TEXT NOT NULL,
    master_key_id TEXT NOT NULL,
    wrapped BLOB NOT NULL,
    public BLOB,
    created_at TEXT NOT NULL,
    PRIMARY KEY (purpose, id)
  );`

interface KeyRow {
  purpose: string
  id: string
  master_key_id: string
  wrapped: Buffer
}

/** The data key id for an event: its session, or its UTC day when it has none. */
export function dataKeyId(sessionId: string | null | undefined, time: string): string {
  return sessionId ?? `day:${time.slice(0, 10)}`
}

export class Keyring {
  private readonly cache = new Map<string, Buffer>()
  /** Keys created inside a transaction that may still roll back. */
  private pending: string[] = []
  readonly signing: SigningKey
  readonly index: BlindIndex
  private readonly getKey: Database.Statement
  private readonly putKey: Database.Statement

  constructor(
    private readonly db: Database.Database,
    private master: MasterKey,
    private readonly file: string,
    opts: { readonly?: boolean } = {},
  ) {
    this.getKey = db.prepare(`SELECT purpose, id, master_key_id, wrapped FROM keyring WHERE purpose = ? AND id = ?`)
    this.putKey = opts.readonly
      ? db.prepare(`SELECT 1`)
      : db.prepare(`INSERT INTO keyring (purpose, id, master_key_id, wrapped, public, created_at) VALUES (?, ?, ?, ?, ?, ?)`)
    const stored = (db.prepare(`SELECT value FROM meta WHERE key = 'master_key_id'`).get() as { value: string } | undefined)?.value
    if (stored !== undefined && stored !== master.id) {
      throw new AgwError(
        'bad_input',
        `the store ${file} is encrypted under master key ${stored}, but the key file holds key ${master.id}: point encryption.keyFile at the right key (after an interrupted \`agw audit rotate-key\`, the new key is in KEYFILE.new)`,
      )
    }
    if (stored === undefined && opts.readonly) {
      throw new AgwError('bad_input', `the store ${file} has no keys yet: start the gateway once to initialise it`)
    }
    if (stored === undefined) {
      db.transaction(() => {
        db.prepare(`INSERT INTO meta (key, value) VALUES ('master_key_id', ?)`).run(master.id)
        const k = generateSigningKey()
        this.putKey.run('signing', k.id, master.id, master.wrap('signing', k.id, exportSigningKey(k)), k.publicRaw, new Date().toISOString())
        this.putKey.run('search', 'v1', master.id, master.wrap('search', 'v1', newDataKey()), null, new Date().toISOString())
      })()
    }
    const signingRow = db.prepare(`SELECT purpose, id, master_key_id, wrapped FROM keyring WHERE purpose = 'signing' ORDER BY created_at DESC LIMIT 1`).get() as KeyRow | undefined
    if (!signingRow) throw new AgwError('bad_input', `the store ${file} has no checkpoint signing key: the keyring table was altered`)
    this.signing = importSigningKey(this.unwrapRow(signingRow))
    if (this.signing.id !== signingRow.id) throw new AgwError('bad_input', `the store ${file}: the signing key row ${signingRow.id} was altered`)
    this.index = new BlindIndex(this.unwrapRow(this.row('search', 'v1')))
  }

  get masterKeyId(): string {
    return this.master.id
  }

  private row(purpose: string, id: string): KeyRow {
    const row = this.getKey.get(purpose, id) as KeyRow | undefined
    if (!row) throw new AgwError('bad_input', `the store ${this.file} has no ${purpose} key ${id}: the keyring table was altered or pruned`)
    return row
  }

  private unwrapRow(row: KeyRow): Buffer {
    return this.master.unwrap(row.purpose, row.id, row.wrapped)
  }

  /** Every signing key the master key vouches for (the public keys are derived, not read). */
  trustedSigningKeys(): SigningKey[] {
    const rows = this.db.prepare(`SELECT purpose, id, master_key_id, wrapped FROM keyring WHERE purpose = 'signing'`).all() as KeyRow[]
    return rows.map((r) => importSigningKey(this.unwrapRow(r)))
  }

  /** The data key `id`; with `create`, made (and wrapped and stored) when missing. */
  dataKey(id: string, create: boolean): Buffer | undefined {
    const hit = this.cache.get(id)
    if (hit) return hit
    const row = this.getKey.get('data', id) as KeyRow | undefined
    let key: Buffer
    if (row) key = this.unwrapRow(row)
    else if (create) {
      key = newDataKey()
      this.putKey.run('data', id, this.master.id, this.master.wrap('data', id, key), null, new Date().toISOString())
      this.pending.push(id)
    } else return undefined
    if (this.cache.size >= 10_000) this.cache.clear()
    this.cache.set(id, key)
    return key
  }

  /** After a transaction: keep (commit) or forget (rollback) the keys it created. */
  settle(committed: boolean): void {
    if (!committed) for (const id of this.pending) this.cache.delete(id)
    this.pending = []
  }

  forget(ids: Iterable<string>): void {
    for (const id of ids) this.cache.delete(id)
  }

  /**
   * Re-wraps every key under `next`, in one transaction; events are not touched. Returns how many
   * keys were re-wrapped.
   */
  rotate(next: MasterKey): number {
    if (next.id === this.master.id) return 0
    const rows = this.db.prepare(`SELECT purpose, id, master_key_id, wrapped FROM keyring`).all() as KeyRow[]
    const update = this.db.prepare(`UPDATE keyring SET wrapped = ?, master_key_id = ? WHERE purpose = ? AND id = ?`)
    this.db.transaction(() => {
      for (const r of rows) update.run(next.wrap(r.purpose, r.id, this.unwrapRow(r)), next.id, r.purpose, r.id)
      this.db.prepare(`UPDATE meta SET value = ? WHERE key = 'master_key_id'`).run(next.id)
    })()
    this.master = next
    return rows.length
  }
}
