import { Args, Command, Flags } from '@oclif/core'
import { loadConfig } from '../../src/config/load.js'
import { AgwError } from '../../src/errors.js'
import { explain, formatExplanation, type Explanation } from '../../src/policy/explain.js'

export default class PolicyExplain extends Command {
  static override summary = 'Show how agw reads SQL under a connection\'s rules, without a database.'
  static override description = `Classifies each statement with PostgreSQL's own grammar (kind, tables, functions, WHERE, nested writes), lists the rules that match and prints the final decision (deny > review > allow) and the message a client would get. The tool to write and debug rules with.`

  static override examples = [
    `<%= config.bin %> policy explain --config ./agw.yaml -c pg-prod "DELETE FROM users"`,
    `<%= config.bin %> policy explain -f ./agw.yaml -c pg-prod --json "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d"`,
  ]

  static override enableJsonFlag = true

  static override args = {
    sql: Args.string({ description: 'the SQL to explain (several statements are allowed)', required: true }),
  }

  static override flags = {
    config: Flags.string({ char: 'f', summary: 'gateway config file (YAML)', required: true, env: 'AGW_CONFIG' }),
    connection: Flags.string({ char: 'c', summary: 'connection name in the config', required: true }),
  }

  async run(): Promise<Explanation> {
    const { args, flags } = await this.parse(PolicyExplain)
    const { config } = loadConfig(flags.config, { resolveSecrets: false })
    const connection = config.connections.find((c) => c.name === flags.connection)
    if (!connection) {
      throw new AgwError('bad_input', `no connection "${flags.connection}" in ${flags.config} (connections: ${config.connections.map((c) => c.name).join(', ') || 'none'})`)
    }
    const x = await explain(connection, args.sql)
    for (const line of formatExplanation(x)) this.log(line)
    return x
  }
}
