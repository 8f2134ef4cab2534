import { Command, Flags } from '@oclif/core'
import { verifyConfiguredStore, type StoreVerifyReport } from '../../src/audit/verify-store.js'
import { loadConfig } from '../../src/config/load.js'

export default class AuditVerify extends Command {
  static override summary = "Check the store's hash chain and signed checkpoints; name the first event that was changed, removed, reordered or cut off."
  static override description = `Reads the store named in the gateway config (on the gateway host; the gateway may be running), with the master key from encryption.keyFile.

Exit status: 0 the chain verifies; 1 it does not (the first problem is named); 65 the config, the key or the store file cannot be read.`

  static override examples = ['<%= config.bin %> audit verify --config ./agw.yaml', '<%= config.bin %> audit verify --config ./agw.yaml --json']
  static override enableJsonFlag = true

  static override flags = {
    config: Flags.string({ char: 'f', summary: 'gateway config file (YAML)', required: true, env: 'AGW_CONFIG' }),
  }

  async run(): Promise<StoreVerifyReport> {
    const { flags } = await this.parse(AuditVerify)
    const report = verifyConfiguredStore(loadConfig(flags.config, { resolveSecrets: false }).config)
    const range = report.firstSeq !== undefined ? ` (seq ${report.firstSeq}..${report.lastSeq})` : ''
    const rate = report.events >= 10_000 ? `, ${report.eventsPerSecond.toLocaleString('en')} events/s` : ''
    if (report.ok) {
      this.log(`ok: ${report.events.toLocaleString('en')} events${range}, ${report.checkpoints} signed checkpoints${report.lastCheckpoint ? ` (last at seq ${report.lastCheckpoint.seq}, ${report.lastCheckpoint.time})` : ''}${rate}`)
      this.log(`chain head ${report.head}; gateway signing key ${report.keys.join(', ')}`)
    } else {
      const f = report.finding!
      if (!this.jsonEnabled()) {
        this.logToStderr(`FAILED (${f.kind}): ${f.message}`)
        this.logToStderr(`${report.events.toLocaleString('en')} events before it verified.`)
      }
      process.exitCode = 1
    }
    return report
  }
}
