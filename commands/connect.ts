import { Args, Command, Flags } from '@oclif/core'
import { runConnect } from '../src/client/connect.js'
import { resolveClient } from '../src/client/profile-client.js'

export default class Connect extends Command {
  static override summary = 'Open a long-lived local port for a connection, for any client.'
  static override description = `Prints the local URL with its one-time secret first (postgres://USER:SECRET@127.0.0.1:PORT/DB), then serves until interrupted (Ctrl-C). The whole run is one recorded session.`

  static override examples = ['<%= config.bin %> connect pg', '<%= config.bin %> connect pg --port 15432 --json']

  static override args = {
    name: Args.string({ description: 'connection name (see `agw connections`)', required: true }),
  }

  static override flags = {
    port: Flags.integer({ summary: 'local port (default: a free one)', min: 1, max: 65535 }),
    json: Flags.boolean({ summary: 'print the connection details as one JSON object' }),
    gateway: Flags.string({ summary: 'gateway URL', env: 'AGW_GATEWAY' }),
    profile: Flags.string({ summary: 'login profile (default: "default")', env: 'AGW_PROFILE' }),
  }

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Connect)
    const client = resolveClient(flags)
    const code = await runConnect({
      client,
      connection: args.name,
      ...(flags.port !== undefined ? { port: flags.port } : {}),
      onReady: (info) => {
        if (flags.json) this.log(JSON.stringify(info))
        else {
          this.log(info.url)
          process.stderr.write(`agw: ${info.connection} (${info.type}) on 127.0.0.1:${info.port}, session ${info.sessionId}; Ctrl-C to stop\n`)
        }
      },
      say: (line) => process.stderr.write(`${line}\n`),
    })
    this.exit(code)
  }
}
