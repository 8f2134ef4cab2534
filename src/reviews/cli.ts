/**
 * What `agw reviews` and `agw review approve|deny` do, below oclif: one call each.
 */
import type { GatewayClient } from '../client/gateway-client.js'
import { ReviewsClient, type DecideOptions, type ReviewList, type ReviewView } from './client.js'
import { oneLine, reviewTable } from './format.js'

export async function listReviews(client: GatewayClient): Promise<ReviewList & { lines: string[] }> {
  const list = await new ReviewsClient(client).list()
  return { ...list, lines: reviewTable(list.reviews, Date.parse(list.now)) }
}

/**
 * `agw reviews --watch --json`: one JSON line per push ({now, reviews}) until `signal` aborts,
 * for scripts that follow the list.
 */
export async function followReviews(client: GatewayClient, write: (line: string) => void, signal: AbortSignal): Promise<void> {
  await new ReviewsClient(client).watch((l) => write(JSON.stringify(l)), signal)
}

/** `agw reviews --watch` on a terminal: the live view (ink), until the user quits. */
export async function watchReviews(client: GatewayClient): Promise<void> {
  const reviews = new ReviewsClient(client)
  const me = await client.whoami()
  const { runReviewsApp } = await import('../ui/reviews.js')
  await runReviewsApp({
    me: `${me.email ?? me.subject} (${me.groups.join(', ') || 'no groups'})`,
    feed: (onList, onStatus, onFatal) => {
      const ac = new AbortController()
      reviews.watch(onList, ac.signal, onStatus).catch(onFatal)
      return () => ac.abort()
    },
    decide: (id, action, opts) => reviews.decide(id, action, opts),
  })
}

export async function decideReview(client: GatewayClient, id: string, action: 'approve' | 'deny', opts: DecideOptions): Promise<{ review: ReviewView; line: string }> {
  const review = await new ReviewsClient(client).decide(id, action, opts)
  const until = review.grantUntil ? `; statements of session ${review.sessionId} matching it (${review.grantCovers}) run without review until ${review.grantUntil}` : ''
  const line = `review ${review.id} ${review.state}${review.reason ? ` (${review.reason})` : ''}: ${oneLine(review.statement, 100)} from ${review.requester.email ?? review.requester.subject}${until}`
  return { review, line }
}
