import { Command, Flags } from '@oclif/core'
import { rotateMasterKeyFile, type RotateResult } from '../../src/audit/crypto-rotate.js'
import { loadConfig } from '../../src/config/load.js'

export default class AuditRotateKey extends Command {
  static override summary = 'Replace the master key: re-wrap every key in the store under a new one, without rewriting events.'
  static override description = `Run on the gateway host with the gateway stopped. Writes the new key to KEYFILE.new, re-wraps the store's data keys, checkpoint signing key and search key under it in one transaction, then moves it over encryption.keyFile. Interrupted, run it again: it finishes with the same new key. Back up the new key file; the old one no longer opens the store.`
  static override examples = ['<%= config.bin %> audit rotate-key --config ./agw.yaml']
  static override enableJsonFlag = true

  static override flags = {
    config: Flags.string({ char: 'f', summary: 'gateway config file (YAML)', required: true, env: 'AGW_CONFIG' }),
    force: Flags.boolean({ summary: 'do not check whether a gateway is running on the configured address' }),
  }

  async run(): Promise<RotateResult> {
    const { flags } = await this.parse(AuditRotateKey)
    const result = await rotateMasterKeyFile(loadConfig(flags.config, { resolveSecrets: false }).config, { force: flags.force })
    this.log(`master key ${result.from} -> ${result.to}: ${result.rewrapped} keys re-wrapped; new key in ${result.keyFile} (back it up; the old key no longer opens the store)`)
    return result
  }
}
