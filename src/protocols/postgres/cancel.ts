/**
 * CancelRequest mapping. The client only ever sees the gateway's own BackendKeyData; a cancel that
 * arrives with that key (through an authenticated tunnel, from the same identity) is sent to the
 * target with the target's real key.
 */
import { randomBytes } from 'node:crypto'
import { connect as netConnect } from 'node:net'
import type { ConnectionConfig } from '../../config/schema.js'
import type { Principal } from '../../identity/principal.js'
import { encodeCancelRequest } from './codec/index.js'

interface Entry {
  connection: ConnectionConfig
  realPid: number
  realSecret: Buffer
  principal: Principal
}

export interface CancelKey {
  pid: number
  secret: Buffer
}

export class CancelRegistry {
  private readonly entries = new Map<string, Entry>()

  private static id(pid: number, secret: Buffer): string {
    return `${pid}:${secret.toString('hex')}`
  }

  /** Issues a fresh key for a client connection and remembers the real one behind it. */
  issue(connection: ConnectionConfig, principal: Principal, realPid: number, realSecret: Buffer): CancelKey {
    for (;;) {
      const pid = randomBytes(4).readUInt32BE(0) & 0x7fffffff
      const secret = randomBytes(4)
      const id = CancelRegistry.id(pid, secret)
      if (pid === 0 || this.entries.has(id)) continue
      this.entries.set(id, { connection, realPid, realSecret, principal })
      return { pid, secret }
    }
  }

  release(key: CancelKey): void {
    this.entries.delete(CancelRegistry.id(key.pid, key.secret))
  }

  /**
   * Sends the cancel to the target. Returns false when the key is unknown or belongs to another
   * identity (PostgreSQL itself answers nothing in either case; neither do we).
   */
  async cancel(pid: number, secret: Buffer, principal: Principal): Promise<boolean> {
    const entry = this.entries.get(CancelRegistry.id(pid, secret))
    if (!entry || entry.principal.subject !== principal.subject || entry.principal.issuer !== principal.issuer) return false
    const t = entry.connection.target
    await new Promise<void>((resolve) => {
      const s = netConnect({ host: t.host, port: t.port }, () => {
        s.end(encodeCancelRequest(entry.realPid, entry.realSecret))
      })
      s.setTimeout(5000, () => s.destroy())
      s.on('close', () => resolve())
      s.on('error', () => resolve())
    })
    return true
  }
}
