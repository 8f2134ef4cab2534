/** Verifies the store a gateway config names (the gateway may be running or not). */
import type { GatewayConfig } from '../config/schema.js'
import { AgwError } from '../errors.js'
import { readMasterKey } from '../gateway/keys.js'
import { SqliteChainSource } from '../storage/sqlite-chain.js'
import { verifyChain, type VerifyReport } from './verify.js'

export interface StoreVerifyReport extends VerifyReport {
  store: string
}

export function verifyConfiguredStore(config: GatewayConfig): StoreVerifyReport {
  const url = config.storage.url
  if (!url.startsWith('sqlite:')) throw new AgwError('bad_input', `agw audit verify reads sqlite: stores only for now (storage is ${url.split(':')[0]})`)
  const path = url.slice('sqlite:'.length)
  const source = new SqliteChainSource(path, readMasterKey(config.encryption.keyFile))
  try {
    return { store: path, ...verifyChain(source) }
  } finally {
    source.close()
  }
}
