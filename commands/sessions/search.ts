import { Args, Command, Flags } from '@oclif/core'
import type { SearchHitView } from '../../src/gateway/api/sessions.js'
import { resolveClient } from '../../src/client/profile-client.js'
import { searchSessions } from '../../src/client/replay.js'

export default class SessionsSearch extends Command {
  static override summary = 'Search the recordings: statements, results and terminal output (yours; auditors search everyone’s).'
  static override description = `Every word must appear in an event (case does not matter); "a quoted phrase" must appear as those words in that order. Words are whole words: there is no prefix or substring search, because the index holds keyed word tokens only, never the text (docs/adr/0011-blind-search-index.md).`
  static override examples = ['<%= config.bin %> sessions search customers', `<%= config.bin %> sessions search '"drop table" orders'`, '<%= config.bin %> sessions search email --session 0192f3a0-... --json']
  static override enableJsonFlag = true
  static override args = { query: Args.string({ description: 'words and "phrases" to find', required: true }) }

  static override flags = {
    session: Flags.string({ summary: 'only in this session' }),
    limit: Flags.integer({ summary: 'at most this many hits', default: 50, min: 1, max: 1000 }),
    gateway: Flags.string({ summary: 'gateway URL', env: 'AGW_GATEWAY' }),
    profile: Flags.string({ summary: 'login profile (default: "default")', env: 'AGW_PROFILE' }),
  }

  async run(): Promise<{ hits: SearchHitView[] }> {
    const { args, flags } = await this.parse(SessionsSearch)
    const hits = await searchSessions(resolveClient(flags), args.query, { ...(flags.session ? { session: flags.session } : {}), limit: flags.limit })
    if (hits.length === 0) this.log('no matches')
    for (const h of hits) {
      this.log(`${h.time.replace('T', ' ').slice(0, 23)}  ${h.sessionId ?? '-'}  ${h.user ?? ''}  ${h.type}${h.connection ? ` (${h.connection})` : ''}`)
      this.log(`    ${h.snippet}`)
    }
    return { hits }
  }
}
