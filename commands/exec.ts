import { Args, Command, Flags } from '@oclif/core'
import { resolveClient } from '../src/client/profile-client.js'
import { runExec } from '../src/client/exec.js'
import { AgwError } from '../src/errors.js'

export default class Exec extends Command {
  static override summary = 'Run a command with local ports that reach connections through the gateway.'
  static override description = `Opens a local listener (127.0.0.1, random port) per connection, exports the environment the tool needs (PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD, PGSSLMODE, AGW_PG_URL for PostgreSQL; AGW_SESSION_ID always), runs COMMAND in a pseudo-terminal when stdin is a TTY (plain pipes otherwise, as in CI) and exits with COMMAND's exit code.

When COMMAND fails because of agw, the exit code says so: 77 not authenticated or not allowed, 69 gateway or target unreachable, 75 a held statement was denied or expired.

The gateway comes from --gateway, AGW_GATEWAY or the profile's \`agw login\`; the token from AGW_TOKEN, AGW_CLIENT_ID/AGW_CLIENT_SECRET or \`agw login\`.`

  static override examples = [
    "<%= config.bin %> exec -c pg -- psql -At -c 'select 42'",
    '<%= config.bin %> exec -c pg --agent claude -- claude',
  ]

  static override strict = false

  static override args = {
    // ignoreStdin: oclif would otherwise read stdin for a missing arg and swallow COMMAND's input.
    command: Args.string({ description: 'the command to run, after --', ignoreStdin: true }),
  }

  static override flags = {
    connection: Flags.string({ char: 'c', summary: 'connection to open (repeatable); default: every connection you may use', multiple: true }),
    agent: Flags.string({ summary: "the agent's name in the recording (default: COMMAND's basename)" }),
    gateway: Flags.string({ summary: 'gateway URL', env: 'AGW_GATEWAY' }),
    profile: Flags.string({ summary: 'login profile (default: "default")', env: 'AGW_PROFILE' }),
    tty: Flags.boolean({ summary: 'run COMMAND in a pseudo-terminal (default: when stdin is a TTY)', allowNo: true }),
    'record-input': Flags.boolean({ summary: "record the keystrokes typed into COMMAND's terminal too (its output is always recorded)" }),
  }

  async run(): Promise<void> {
    // Everything after the first `--` is the command, untouched: oclif would otherwise reorder a
    // repeated flag such as psql's own -c (it sorts argv by first occurrence).
    const all = [...this.argv]
    const dashdash = all.indexOf('--')
    const { argv, flags } = await this.parse(Exec, dashdash >= 0 ? all.slice(0, dashdash) : all)
    const [command, ...args] = dashdash >= 0 ? all.slice(dashdash + 1) : (argv as string[])
    if (!command) throw new AgwError('bad_input', 'no command to run: agw exec [-c NAME]... -- COMMAND [ARGS]')
    const client = resolveClient(flags)
    const code = await runExec({
      client,
      connections: flags.connection ?? [],
      ...(flags.agent ? { agent: flags.agent } : {}),
      command: command as string,
      args,
      terminal: flags.tty === undefined ? 'auto' : flags.tty ? 'pty' : 'pipe',
      say: (line) => process.stderr.write(`${line}\n`),
      recordInput: flags['record-input'],
    })
    this.exit(code)
  }
}
