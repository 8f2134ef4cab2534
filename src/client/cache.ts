/**
 * The local session cache: this machine's terminal recordings, in `session-cache.db` under the CLI's
 * config directory ($AGW_CONFIG_DIR, else $XDG_CONFIG_HOME/agw, else ~/.config/agw).
 *
 * It holds each chunk until the gateway acknowledges it (so a gateway outage loses nothing: what
 * was not acknowledged is sent again later), and keeps acknowledged chunks `keepDays` for
 * `agw sessions replay --local`. Every chunk is AES-256-GCM under a cache key that lives in the OS
 * keychain, or, where there is none (or AGW_TOKEN_STORE=file), is derived from the mode-0600
 * machine.key the login uses. Bound to its session and number (AAD), a chunk cannot be moved.
 */
import Database from 'better-sqlite3'
import { hkdfSync, randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { open, seal } from '../audit/crypto.js'
import { describeError } from '../errors.js'
import { KEYCHAIN_SERVICE, KeychainUnavailable, systemKeychain } from './login/keychain.js'
import { machineKey } from './login/sealed-file.js'
import { storeModeFrom } from './login/token-store.js'
import { configDir, ensurePrivateDir } from './profiles.js'
import type { TerminalFrame } from './replay-format.js'

const KEYCHAIN_ACCOUNT = 'session-cache-key'

export type CacheKeySource = 'keychain' | 'machine'

/** The cache key: from the keychain when one answers, else derived from machine.key. */
export async function cacheKey(dir: string, env: NodeJS.ProcessEnv = process.env): Promise<{ key: Buffer; source: CacheKeySource }> {
  const mode = storeModeFrom(env)
  if (mode !== 'file') {
    const keychain = systemKeychain()
    try {
      if (keychain instanceof KeychainUnavailable) throw keychain
      let stored = await keychain.getPassword(KEYCHAIN_SERVICE, KEYCHAIN_ACCOUNT)
      if (!stored) {
        stored = randomBytes(32).toString('base64')
        await keychain.setPassword(KEYCHAIN_SERVICE, KEYCHAIN_ACCOUNT, stored)
      }
      const key = Buffer.from(stored, 'base64')
      if (key.length === 32) return { key, source: 'keychain' }
    } catch (err) {
      if (mode === 'keychain') throw err
    }
  }
  const key = Buffer.from(hkdfSync('sha256', machineKey(dir), Buffer.alloc(0), 'agw session cache v1', 32))
  return { key, source: 'machine' }
}

export interface PendingSession {
  sessionId: string
  gateway: string
  chunks: TerminalFrame[]
}

const aad = (sessionId: string, n: number) => Buffer.from(`agw.cache.v1|${sessionId}|${n}`, 'utf8')

export class SessionCache {
  readonly keepDays: number
  private readonly db: Database.Database

  private constructor(
    readonly path: string,
    private readonly key: Buffer,
    readonly keySource: CacheKeySource,
    env: NodeJS.ProcessEnv,
  ) {
    this.keepDays = Math.max(0, Number(env.AGW_CACHE_DAYS ?? 7) || 0)
    this.db = new Database(path)
    this.db.pragma('journal_mode = WAL')
    this.db.pragma('busy_timeout = 5000')
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, gateway TEXT NOT NULL, started_at TEXT NOT NULL, key_source TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS chunks (
        session_id TEXT NOT NULL, n INTEGER NOT NULL, sealed BLOB NOT NULL, acked INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (session_id, n)
      );`)
  }

  static async open(env: NodeJS.ProcessEnv = process.env): Promise<SessionCache> {
    const dir = configDir(env)
    ensurePrivateDir(dir)
    const { key, source } = await cacheKey(dir, env)
    const cache = new SessionCache(join(dir, 'session-cache.db'), key, source, env)
    cache.prune()
    return cache
  }

  startSession(id: string, gateway: string): void {
    this.db.prepare(`INSERT OR IGNORE INTO sessions (id, gateway, started_at, key_source) VALUES (?, ?, ?, ?)`).run(id, gateway, new Date().toISOString(), this.keySource)
  }

  put(sessionId: string, f: TerminalFrame): void {
    const sealed = seal(this.key, Buffer.from(JSON.stringify([f.time, f.kind, f.data]), 'utf8'), aad(sessionId, f.n))
    this.db.prepare(`INSERT OR REPLACE INTO chunks (session_id, n, sealed, acked) VALUES (?, ?, ?, 0)`).run(sessionId, f.n, sealed)
  }

  ack(sessionId: string, ns: number[]): void {
    const stmt = this.db.prepare(`UPDATE chunks SET acked = 1 WHERE session_id = ? AND n = ?`)
    this.db.transaction(() => {
      for (const n of ns) stmt.run(sessionId, n)
    })()
  }

  private decode(sessionId: string, rows: { n: number; sealed: Buffer }[]): TerminalFrame[] {
    const out: TerminalFrame[] = []
    for (const r of rows) {
      try {
        const [time, kind, data] = JSON.parse(open(this.key, r.sealed, aad(sessionId, r.n)).toString('utf8')) as [number, TerminalFrame['kind'], string]
        out.push({ n: r.n, time, kind, data })
      } catch {
        // Written under another key (the keychain was unreachable then or now): skipped.
      }
    }
    return out
  }

  /** Every chunk of a session the cache holds, in order. */
  frames(sessionId: string): TerminalFrame[] {
    return this.decode(sessionId, this.db.prepare(`SELECT n, sealed FROM chunks WHERE session_id = ? ORDER BY n`).all(sessionId) as { n: number; sealed: Buffer }[])
  }

  /** Chunks not yet acknowledged, per session, for the gateway at `gateway` (or all). */
  pending(gateway?: string, except?: string): PendingSession[] {
    const sessions = this.db
      .prepare(`SELECT DISTINCT c.session_id AS id, s.gateway FROM chunks c JOIN sessions s ON s.id = c.session_id WHERE c.acked = 0`)
      .all() as { id: string; gateway: string }[]
    return sessions
      .filter((s) => (!gateway || s.gateway === gateway) && s.id !== except)
      .map((s) => ({
        sessionId: s.id,
        gateway: s.gateway,
        chunks: this.decode(s.id, this.db.prepare(`SELECT n, sealed FROM chunks WHERE session_id = ? AND acked = 0 ORDER BY n`).all(s.id) as { n: number; sealed: Buffer }[]),
      }))
  }

  pendingCount(sessionId: string): number {
    return (this.db.prepare(`SELECT count(*) AS n FROM chunks WHERE session_id = ? AND acked = 0`).get(sessionId) as { n: number }).n
  }

  /** Drops sessions older than keepDays whose chunks were all acknowledged, and anything older than 30 days. */
  prune(now = Date.now()): void {
    const keep = new Date(now - this.keepDays * 86_400_000).toISOString()
    const hard = new Date(now - 30 * 86_400_000).toISOString()
    this.db.transaction(() => {
      const old = this.db
        .prepare(
          `SELECT id FROM sessions WHERE (started_at < ? AND NOT EXISTS (SELECT 1 FROM chunks WHERE session_id = sessions.id AND acked = 0)) OR started_at < ?`,
        )
        .all(keep, hard) as { id: string }[]
      for (const { id } of old) {
        this.db.prepare(`DELETE FROM chunks WHERE session_id = ?`).run(id)
        this.db.prepare(`DELETE FROM sessions WHERE id = ?`).run(id)
      }
    })()
  }

  close(): void {
    if (this.db.open) this.db.close()
  }
}

/** Opens the cache, or says why it cannot (the recording then goes to the gateway only). */
export async function openCacheQuietly(env: NodeJS.ProcessEnv, say: (line: string) => void): Promise<SessionCache | undefined> {
  try {
    return await SessionCache.open(env)
  } catch (err) {
    say(`agw: the local session cache is not available (${describeError(err)}); terminal chunks that cannot reach the gateway will be lost`)
    return undefined
  }
}
