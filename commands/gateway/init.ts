import { Command, Flags } from '@oclif/core'
import { initGateway } from '../../src/gateway/init.js'

export default class GatewayInit extends Command {
  static override summary = 'Write a starter gateway config and a master key.'
  static override description = 'Writes agw.yaml (an example issuer and one PostgreSQL connection to edit) and agw.key (32 random bytes, mode 0600) into DIR. An existing key is kept.'

  static override flags = {
    dir: Flags.string({ summary: 'directory to write into', default: '.' }),
    force: Flags.boolean({ summary: 'overwrite an existing agw.yaml' }),
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(GatewayInit)
    const out = initGateway(flags.dir, { force: flags.force })
    this.log(`wrote ${out.config}\nmaster key ${out.key}\nnext: edit the issuer and connections, then \`agw gateway start --config ${out.config}\``)
  }
}
