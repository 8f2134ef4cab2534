import { Command, Flags } from '@oclif/core'
import { runDemo } from '../src/demo/demo.js'

export default class Demo extends Command {
  static override summary = 'Everything on one machine, no setup: an issuer, a gateway, a database and a scripted agent session.'
  static override description = `Starts an embedded OIDC issuer, a gateway (SQLite in a temp dir) and an embedded PostgreSQL (PGlite) holding customers with emails and card numbers, runs a scripted agent session through \`agw exec\` (psql where it is installed, node-postgres otherwise), and shows what the gateway recorded. Exits 0 when the tour is done; --keep leaves it running and prints how to connect.`

  static override flags = {
    keep: Flags.boolean({ summary: 'keep everything running afterwards and print how to connect' }),
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(Demo)
    const code = await runDemo({ keep: flags.keep, out: (t) => process.stdout.write(t) })
    this.exit(code)
  }
}
