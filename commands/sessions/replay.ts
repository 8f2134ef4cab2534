import { Args, Command, Flags } from '@oclif/core'
import { resolveClient } from '../../src/client/profile-client.js'
import { replayLocal, replaySession, type ReplayOptions } from '../../src/client/replay.js'

export default class SessionsReplay extends Command {
  static override summary = "Replay a session: the agent's terminal with its timing, or a database session's queries and their masked results."
  static override description = `Plays the terminal output that \`agw exec\` recorded, with its original timing (--speed to go faster, pauses longer than --idle-limit are cut). A session without a terminal recording (an agent that spoke to the database directly, \`agw connect\`) replays as a transcript of its statements and the results as the agent received them, masked.

--local reads this machine's own session cache instead of the gateway (for example while the gateway is unreachable).`

  static override examples = [
    '<%= config.bin %> sessions replay 0192f3a0-...',
    '<%= config.bin %> sessions replay 0192f3a0-... --speed 4',
    '<%= config.bin %> sessions replay 0192f3a0-... --queries --instant',
    '<%= config.bin %> sessions replay --local 0192f3a0-...',
  ]

  static override args = { id: Args.string({ description: 'session id (from `agw sessions list`)', required: true }) }

  static override flags = {
    speed: Flags.string({ summary: 'playback speed (2 = twice as fast)', default: '1' }),
    'idle-limit': Flags.string({ summary: 'longest pause kept, in seconds', default: '2' }),
    instant: Flags.boolean({ summary: 'print everything at once, without the timing' }),
    queries: Flags.boolean({ summary: 'replay the database statements and results even when there is a terminal recording', exclusive: ['local'] }),
    local: Flags.boolean({ summary: "read this machine's session cache instead of the gateway" }),
    gateway: Flags.string({ summary: 'gateway URL', env: 'AGW_GATEWAY' }),
    profile: Flags.string({ summary: 'login profile (default: "default")', env: 'AGW_PROFILE' }),
  }

  async run(): Promise<void> {
    const { args, flags } = await this.parse(SessionsReplay)
    const speed = Number(flags.speed)
    const idle = Number(flags['idle-limit'])
    if (!(speed > 0)) this.error(`--speed must be a number above 0 (got ${flags.speed})`, { exit: 65 })
    if (!(idle > 0)) this.error(`--idle-limit must be a number of seconds above 0 (got ${flags['idle-limit']})`, { exit: 65 })
    const opts: ReplayOptions = {
      speed,
      idleLimit: idle,
      instant: flags.instant,
      mode: flags.queries ? 'queries' : 'auto',
      write: (text) => process.stdout.write(text),
    }
    if (flags.local) await replayLocal(args.id, opts)
    else await replaySession(resolveClient(flags), args.id, opts)
  }
}
