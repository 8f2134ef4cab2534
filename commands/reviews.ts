import { Command, Flags } from '@oclif/core'
import { resolveClient } from '../src/client/profile-client.js'
import type { ReviewList } from '../src/reviews/client.js'
import { followReviews, listReviews, watchReviews } from '../src/reviews/cli.js'

export default class Reviews extends Command {
  static override summary = 'The reviews you may decide, and your own requests; --watch for the live reviewer view.'
  static override description = `Lists the statements held for review that you may decide (you are in one of the rule's reviewer groups, and you did not request them), the ones you requested yourself, and the decisions of the last hour.

--watch opens the reviewer's terminal: a live list pushed by the gateway, the selected review's SQL, parameters, requester, agent, session and expiry, and keys to decide: a approve, f approve for a time (matching statements of that session run without asking again), d deny; each asks for a reason. With --json, --watch prints one JSON line per change instead.`

  static override examples = ['<%= config.bin %> reviews', '<%= config.bin %> reviews --watch', '<%= config.bin %> reviews --json']
  static override enableJsonFlag = true

  static override flags = {
    watch: Flags.boolean({ char: 'w', summary: 'stay open: a live view with keys to approve and deny (one JSON line per change with --json)' }),
    gateway: Flags.string({ summary: 'gateway URL', env: 'AGW_GATEWAY' }),
    profile: Flags.string({ summary: 'login profile (default: "default")', env: 'AGW_PROFILE' }),
  }

  async run(): Promise<ReviewList | undefined> {
    const { flags } = await this.parse(Reviews)
    const client = resolveClient(flags)
    if (flags.watch && this.jsonEnabled()) {
      const ac = new AbortController()
      for (const s of ['SIGINT', 'SIGTERM'] as const) process.once(s, () => ac.abort())
      await followReviews(client, (line) => process.stdout.write(`${line}\n`), ac.signal)
      return undefined
    }
    if (flags.watch) {
      await watchReviews(client)
      return undefined
    }
    const { lines, ...list } = await listReviews(client)
    for (const line of lines) this.log(line)
    return list
  }
}
