/**
 * `agw audit rotate-key`: a new master key. Every wrapped key in the store (data keys, the signing
 * key, the search key) is re-wrapped under it in one transaction; events are not rewritten, so the
 * chain and the checkpoints stay as they are.
 *
 * Crash safety: the new key is written to KEYFILE.new (0600, synced) before the store changes, and
 * moved over KEYFILE after. Run again after an interruption, it finds KEYFILE.new and finishes.
 */
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import type { GatewayConfig } from '../config/schema.js'
import { AgwError } from '../errors.js'
import { readMasterKey, replaceKeyFile, writeKeyFile } from '../gateway/keys.js'
import { openStore } from '../storage/sqlite.js'
import { storeOptions } from '../storage/open.js'
import { MasterKey } from './crypto.js'

export interface RotateResult {
  keyFile: string
  from: string
  to: string
  /** Keys re-wrapped (0 when an interrupted rotation was finished). */
  rewrapped: number
}

/** Refuses while a gateway answers on the config's listen address: it holds the old key in memory. */
async function gatewayRunning(config: GatewayConfig): Promise<boolean> {
  const [host, port] = [config.listen.slice(0, config.listen.lastIndexOf(':')), config.listen.slice(config.listen.lastIndexOf(':') + 1)]
  if (port === '0') return false
  try {
    await fetch(`${config.tls ? 'https' : 'http'}://${host}:${port}/healthz`, { signal: AbortSignal.timeout(1500) })
    return true
  } catch (err) {
    // A TLS error still means something listens there.
    const code = ((err as Error).cause as { code?: string } | undefined)?.code
    return code !== undefined && code !== 'ECONNREFUSED' && code !== 'ENOTFOUND' && code !== 'UND_ERR_CONNECT_TIMEOUT' && code !== 'EHOSTUNREACH'
  }
}

export async function rotateMasterKeyFile(config: GatewayConfig, opts: { force?: boolean } = {}): Promise<RotateResult> {
  if (!config.storage.url.startsWith('sqlite:')) throw new AgwError('bad_input', 'rotate-key supports sqlite: stores only for now')
  if (!opts.force && (await gatewayRunning(config))) {
    throw new AgwError('bad_input', `a gateway answers on ${config.listen}: stop it first (it holds the current master key in memory), then run rotate-key again`)
  }
  const keyFile = config.encryption.keyFile
  const pending = `${keyFile}.new`
  const current = readMasterKey(keyFile)
  let next: Buffer
  if (existsSync(pending)) {
    next = Buffer.from(readFileSync(pending, 'utf8').trim(), 'base64')
    if (next.length !== 32) throw new AgwError('bad_input', `${pending} is not a master key: remove it and run rotate-key again`)
  } else {
    next = randomBytes(32)
    writeKeyFile(pending, next)
  }
  const from = new MasterKey(current).id
  const to = new MasterKey(next).id
  let rewrapped = 0
  try {
    const store = openStore(config.storage.url, storeOptions(config, current, { passive: true }))
    try {
      rewrapped = store.rotateMasterKey(next)
    } finally {
      await store.close()
    }
  } catch (err) {
    // Already re-wrapped by an interrupted run? Then the new key opens the store.
    if (!(err instanceof AgwError) || !err.message.includes(`encrypted under master key ${to}`)) throw err
    const check = openStore(config.storage.url, storeOptions(config, next, { passive: true }))
    await check.close()
  }
  replaceKeyFile(pending, keyFile)
  return { keyFile, from, to, rewrapped }
}
