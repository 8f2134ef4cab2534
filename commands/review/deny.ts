import { Args, Command, Flags } from '@oclif/core'
import { resolveClient } from '../../src/client/profile-client.js'
import type { ReviewView } from '../../src/reviews/client.js'
import { decideReview } from '../../src/reviews/cli.js'

export default class ReviewDeny extends Command {
  static override summary = 'Deny a held statement: the client gets an error and it never runs.'
  static override description = `Members of the rule's reviewer groups may deny, except the one who asked (who withdraws by cancelling the statement instead).

Exit codes: 0 denied; 77 not allowed; 65 the review is not pending any more (its state is printed) or no such review.`

  static override examples = ['<%= config.bin %> review deny 0192f3a0-... --reason "use the migration"']
  static override enableJsonFlag = true
  static override args = { id: Args.string({ description: 'review id (from `agw reviews`)', required: true }) }

  static override flags = {
    reason: Flags.string({ char: 'r', summary: 'why (recorded, and told to the client)' }),
    gateway: Flags.string({ summary: 'gateway URL', env: 'AGW_GATEWAY' }),
    profile: Flags.string({ summary: 'login profile (default: "default")', env: 'AGW_PROFILE' }),
  }

  async run(): Promise<{ review: ReviewView }> {
    const { args, flags } = await this.parse(ReviewDeny)
    const { review, line } = await decideReview(resolveClient(flags), args.id, 'deny', flags.reason !== undefined ? { reason: flags.reason } : {})
    this.log(line)
    return { review }
  }
}
