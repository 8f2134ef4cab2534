import { Args, Command, Flags } from '@oclif/core'
import { resolveClient } from '../../src/client/profile-client.js'
import type { ReviewView } from '../../src/reviews/client.js'
import { decideReview } from '../../src/reviews/cli.js'

export default class ReviewApprove extends Command {
  static override summary = 'Approve a held statement: it runs now.'
  static override description = `Only a person in one of the rule's reviewer groups may approve, and never the one who asked (nor an agent acting for them). --for approves, for that long, later statements of the same session that match it: the same rule, the same statement kind and the same set of tables (an UPDATE of public.accounts approved for 10m lets the next UPDATE of public.accounts run, not a DELETE or an UPDATE of another table). Each one is still recorded; \`agw reviews\` shows what a grant would cover.

Exit codes: 0 approved; 77 not allowed (not a reviewer, your own request); 65 the review is not pending any more (its state is printed) or no such review.`

  static override examples = [
    '<%= config.bin %> review approve 0192f3a0-... --reason "ticket OPS-42"',
    '<%= config.bin %> review approve 0192f3a0-... --for 15m',
  ]

  static override enableJsonFlag = true
  static override args = { id: Args.string({ description: 'review id (from `agw reviews`)', required: true }) }

  static override flags = {
    reason: Flags.string({ char: 'r', summary: 'why (recorded with the decision)' }),
    for: Flags.string({ summary: 'also approve, for this long, statements of that session with the same rule, statement kind and tables (30s, 10m, 1h; at most 24h)' }),
    gateway: Flags.string({ summary: 'gateway URL', env: 'AGW_GATEWAY' }),
    profile: Flags.string({ summary: 'login profile (default: "default")', env: 'AGW_PROFILE' }),
  }

  async run(): Promise<{ review: ReviewView }> {
    const { args, flags } = await this.parse(ReviewApprove)
    const { review, line } = await decideReview(resolveClient(flags), args.id, 'approve', {
      ...(flags.reason !== undefined ? { reason: flags.reason } : {}),
      ...(flags.for !== undefined ? { for: flags.for } : {}),
    })
    this.log(line)
    return { review }
  }
}
