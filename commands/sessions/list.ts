import { Command, Flags } from '@oclif/core'
import { resolveClient } from '../../src/client/profile-client.js'
import { sessionRows } from '../../src/client/replay-format.js'
import { listSessions } from '../../src/client/replay.js'
import type { SessionRecord } from '../../src/storage/store.js'

export default class SessionsList extends Command {
  static override summary = 'List recorded sessions, newest first (yours; auditors see everyone’s).'
  static override examples = ['<%= config.bin %> sessions list', '<%= config.bin %> sessions list --user alice --since 24h', '<%= config.bin %> sessions list --connection pg-prod --json']
  static override enableJsonFlag = true

  static override flags = {
    user: Flags.string({ summary: "only this user's sessions (their subject; auditors only)" }),
    connection: Flags.string({ char: 'c', summary: 'only sessions that used this connection' }),
    since: Flags.string({ summary: 'only sessions started since: 30m, 2h, 7d or an ISO time' }),
    limit: Flags.integer({ summary: 'at most this many sessions', default: 50, min: 1, max: 1000 }),
    gateway: Flags.string({ summary: 'gateway URL', env: 'AGW_GATEWAY' }),
    profile: Flags.string({ summary: 'login profile (default: "default")', env: 'AGW_PROFILE' }),
  }

  async run(): Promise<{ sessions: SessionRecord[] }> {
    const { flags } = await this.parse(SessionsList)
    const sessions = await listSessions(resolveClient(flags), {
      ...(flags.user ? { user: flags.user } : {}),
      ...(flags.connection ? { connection: flags.connection } : {}),
      ...(flags.since ? { since: flags.since } : {}),
      limit: flags.limit,
    })
    if (sessions.length === 0) this.log('no sessions match')
    else for (const line of sessionRows(sessions)) this.log(line)
    return { sessions }
  }
}
