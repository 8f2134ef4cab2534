/** Opens the store a gateway config names, with its master key. */
import type { GatewayConfig } from '../config/schema.js'
import { parseDuration } from '../config/schema.js'
import { ensureMasterKey, readMasterKey } from '../gateway/keys.js'
import type { Logger } from '../log.js'
import { openStore, type SqliteStore, type SqliteStoreOptions } from './sqlite.js'
import { sinkName } from '../audit/sinks/index.js'
import { withWriterThread } from './threaded.js'
import type { WriterThreadData } from './writer-thread.js'

export type { SqliteStore }

export function storeOptions(config: GatewayConfig, masterKey: Buffer, extra: Partial<SqliteStoreOptions> = {}): SqliteStoreOptions {
  return {
    masterKey,
    checkpointEvents: config.storage.checkpoint.events,
    checkpointIntervalMs: parseDuration(config.storage.checkpoint.interval),
    ...extra,
  }
}

/** The configured store, for tools that run beside (or instead of) the gateway: verify, export, rotate-key. */
export function openConfiguredStore(config: GatewayConfig, extra: Partial<SqliteStoreOptions> = {}): SqliteStore {
  return openStore(config.storage.url, storeOptions(config, readMasterKey(config.encryption.keyFile), { passive: true, ...extra }))
}

/**
 * The gateway's own store: creates the master key on first start, logs checkpoints and prunes.
 * Event appends run on a writer thread (threaded.ts) unless `inline` is asked for.
 */
export function openGatewayStore(config: GatewayConfig, log: Logger, opts: { inline?: boolean } = {}): SqliteStore {
  const masterKey = ensureMasterKey(config.encryption.keyFile)
  if (!opts.inline && config.storage.url.startsWith('sqlite:') && config.storage.url !== 'sqlite::memory:' && process.env.AGW_STORE_WRITER !== 'inline') {
    const main = openStore(config.storage.url, storeOptions(config, masterKey, { passive: true }))
    const data: WriterThreadData = {
      path: config.storage.url.slice('sqlite:'.length),
      masterKey,
      checkpointEvents: config.storage.checkpoint.events,
      checkpointIntervalMs: parseDuration(config.storage.checkpoint.interval),
    }
    if (config.storage.retention !== undefined) {
      data.retentionDays = config.storage.retention
      data.retentionSinks = config.audit.sinks.map(sinkName)
    }
    return withWriterThread(main, data, log)
  }
  const extra: Partial<SqliteStoreOptions> = {
    // The log is a copy of the chain head outside the store: a tail cut with its checkpoints
    // deleted still disagrees with it.
    onCheckpoint: (c) => log.info({ seq: c.seq, hash: c.hash.toString('hex'), kind: c.kind, key: c.keyId }, 'audit checkpoint'),
    onPrune: (r) => {
      if (r.events > 0) log.info({ throughSeq: r.throughSeq, events: r.events, sessions: r.sessions }, 'retention: pruned old sessions')
    },
  }
  if (config.storage.retention !== undefined) {
    extra.retentionDays = config.storage.retention
    extra.retentionSinks = config.audit.sinks.map(sinkName)
  }
  return openStore(config.storage.url, storeOptions(config, masterKey, extra))
}
