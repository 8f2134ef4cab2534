import { Command, Flags } from '@oclif/core'
import { startGatewayFromFile } from '../../src/gateway/start.js'

export default class GatewayStart extends Command {
  static override summary = 'Run the gateway.'
  static override description = `Validates the config file (a bad file is refused with the key and line that is wrong, exit 65), opens the store, and serves the API and tunnels until SIGINT or SIGTERM. Logs are JSON lines on stderr.`

  static override examples = ['<%= config.bin %> gateway start --config ./agw.yaml']

  static override flags = {
    config: Flags.string({ char: 'f', summary: 'gateway config file (YAML)', required: true, env: 'AGW_CONFIG' }),
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(GatewayStart)
    const gateway = await startGatewayFromFile(flags.config)
    process.stderr.write(`agw gateway listening on ${gateway.url}\n`)
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve())
      process.once('SIGTERM', () => resolve())
    })
    await gateway.stop()
  }
}
