/**
 * Reviews over the gateway's API. Every call is authenticated by the gateway; what a caller sees
 * and may decide is the review service's rule (src/reviews/rules.ts).
 *
 *   GET  /v1/reviews                       {now, reviews}: pending ones the caller may see, and the
 *                                          last hour's decisions (reviewer groups' and its own)
 *   GET  /v1/reviews/:id                   {review}
 *   POST /v1/reviews/:id/approve           {reason?, for?: "10m", fingerprint?} -> {review}
 *   POST /v1/reviews/:id/deny              {reason?} -> {review}
 *   WS   /v1/reviews/watch                 text frames {t: "reviews", now, reviews}: the list, at once
 *                                          and again on every change (pushed, never polled)
 *
 * Errors: 403 not allowed (not a reviewer, the requester itself ...), 404 no such review, 409 not
 * pending any more ({error: "not_pending", state, review}), 400 bad input.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { WebSocket } from 'ws'
import { parseDuration } from '../../config/schema.js'
import { AgwError } from '../../errors.js'
import type { Principal } from '../../identity/principal.js'
import type { ReviewView } from '../../reviews/rules.js'
import { MAX_GRANT_MS, NoSuchReviewError, ReviewStateError, type Decision, type ReviewService } from '../../reviews/service.js'
import { CloseCode } from '../../tunnel/protocol.js'
import { readJsonBody, sendError, sendJson } from '../http.js'

/** A message on /v1/reviews/watch. */
export interface ReviewsPush {
  t: 'reviews'
  /** The gateway's clock, so a client shows expiry countdowns right whatever its own clock says. */
  now: string
  reviews: ReviewView[]
}

const PING_MS = 30_000

function parseDecision(action: 'approve' | 'deny', body: unknown): Decision {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new AgwError('bad_input', 'expected a JSON object {reason?, for?, fingerprint?}')
  const b = body as Record<string, unknown>
  const d: Decision = { action }
  if (b.reason !== undefined) {
    if (typeof b.reason !== 'string') throw new AgwError('bad_input', 'reason must be text')
    d.reason = b.reason
  }
  if (b.fingerprint !== undefined) {
    if (typeof b.fingerprint !== 'string' || !/^[0-9a-f]{64}$/.test(b.fingerprint)) throw new AgwError('bad_input', 'fingerprint must be the 64 hex digits `agw reviews --json` shows')
    d.fingerprint = b.fingerprint
  }
  if (b.for !== undefined && b.for !== null) {
    if (action !== 'approve') throw new AgwError('bad_input', '"for" applies to approvals only')
    if (typeof b.for !== 'string') throw new AgwError('bad_input', 'for must be a duration such as 10m')
    let ms: number
    try {
      ms = parseDuration(b.for)
    } catch {
      throw new AgwError('bad_input', `--for "${b.for}" is not a duration; write a number and a unit, e.g. 30s, 10m, 1h`)
    }
    if (ms < 1000 || ms > MAX_GRANT_MS) throw new AgwError('bad_input', `--for ${b.for}: an approval may cover from 1s to 24h of the session`)
    d.forMs = ms
  }
  return d
}

export class ReviewsApi {
  private readonly sockets = new Set<WebSocket>()

  constructor(private readonly service: ReviewService) {}

  /** Answers the request when it is one of this module's routes; false otherwise. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL, principal: Principal): Promise<boolean> {
    const path = url.pathname
    if (path !== '/v1/reviews' && !path.startsWith('/v1/reviews/')) return false
    try {
      if (req.method === 'GET' && path === '/v1/reviews') {
        sendJson(res, 200, { now: new Date().toISOString(), reviews: await this.service.list(principal) })
        return true
      }
      const m = /^\/v1\/reviews\/([0-9a-f-]{36})(?:\/(approve|deny))?$/.exec(path)
      if (!m) return false
      const id = m[1] as string
      const action = m[2] as 'approve' | 'deny' | undefined
      if (req.method === 'GET' && !action) {
        sendJson(res, 200, { review: await this.service.get(principal, id) })
        return true
      }
      if (req.method === 'POST' && action) {
        const decision = parseDecision(action, await readJsonBody(req))
        sendJson(res, 200, { review: await this.service.decide(principal, id, decision) })
        return true
      }
      return false
    } catch (err) {
      if (err instanceof NoSuchReviewError) sendJson(res, 404, { error: 'not_found', message: err.message })
      else if (err instanceof ReviewStateError) sendJson(res, 409, { error: 'not_pending', message: err.message, state: err.review.state, review: err.review })
      else if (err instanceof AgwError) sendError(res, err)
      else throw err
      return true
    }
  }

  /** A /v1/reviews/watch socket: the caller's list now and after every change, until it closes or the token expires. */
  watch(ws: WebSocket, principal: Principal): void {
    this.sockets.add(ws)
    const send = (reviews: ReviewView[]) => {
      if (ws.readyState !== ws.OPEN) return
      const msg: ReviewsPush = { t: 'reviews', now: new Date().toISOString(), reviews }
      ws.send(JSON.stringify(msg))
    }
    const unsubscribe = this.service.watch(principal, send)
    const ping = setInterval(() => ws.ping(), PING_MS).unref()
    // The token was checked once, at the upgrade: the socket lives no longer than the token (the
    // client reconnects with a fresh one).
    const left = principal.expiresAt !== undefined ? principal.expiresAt * 1000 - Date.now() : undefined
    const expiry = left !== undefined ? setTimeout(() => ws.close(CloseCode.unauthenticated, 'token expired'), Math.max(0, Math.min(left, 2 ** 31 - 1))).unref() : undefined
    ws.on('message', () => undefined)
    ws.on('error', () => ws.terminate())
    ws.on('close', () => {
      unsubscribe()
      clearInterval(ping)
      if (expiry) clearTimeout(expiry)
      this.sockets.delete(ws)
    })
  }

  closeAll(): void {
    for (const ws of this.sockets) ws.close(1001, 'gateway shutting down')
  }
}
