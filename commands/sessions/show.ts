import { Args, Command, Flags } from '@oclif/core'
import { resolveClient } from '../../src/client/profile-client.js'
import { describeSession } from '../../src/client/replay-format.js'
import { getSession } from '../../src/client/replay.js'
import type { AuditEvent } from '../../src/recording/events.js'
import type { SessionRecord } from '../../src/storage/store.js'

export default class SessionsShow extends Command {
  static override summary = 'Show a session: identity, agent, connections and its timeline.'
  static override examples = ['<%= config.bin %> sessions show 0192f3a0-...', '<%= config.bin %> sessions show 0192f3a0-... --json']
  static override enableJsonFlag = true
  static override args = { id: Args.string({ description: 'session id (from `agw sessions list`)', required: true }) }

  static override flags = {
    gateway: Flags.string({ summary: 'gateway URL', env: 'AGW_GATEWAY' }),
    profile: Flags.string({ summary: 'login profile (default: "default")', env: 'AGW_PROFILE' }),
  }

  async run(): Promise<{ session: SessionRecord; events: AuditEvent[] }> {
    const { args, flags } = await this.parse(SessionsShow)
    const result = await getSession(resolveClient(flags), args.id)
    for (const line of describeSession(result.session, result.events)) this.log(line)
    return result
  }
}
