/**
 * The CLI's side of the review API (src/gateway/api/reviews.ts): list, decide, and the live
 * watch socket, with the caller's token from its GatewayClient. HTTP statuses become AgwError
 * codes and so exit codes: 403 -> forbidden (77), 404 and 409 -> bad_input (65).
 */
import WebSocket from 'ws'
import type { GatewayClient } from '../client/gateway-client.js'
import { AgwError, describeError, type AgwErrorCode } from '../errors.js'
import type { ReviewsPush } from '../gateway/api/reviews.js'
import type { ReviewView } from './rules.js'

export type { ReviewView }

export interface ReviewList {
  /** The gateway's clock when it answered. */
  now: string
  reviews: ReviewView[]
}

export interface DecideOptions {
  reason?: string
  /** A duration (10m): approve matching statements of the session until then too. */
  for?: string
  fingerprint?: string
}

/** A refused decision; `state` is set when the review was not pending any more. */
export class ReviewError extends AgwError {
  constructor(
    code: AgwErrorCode,
    message: string,
    readonly state?: string,
  ) {
    super(code, message)
  }
}

const CODE_FOR_STATUS: Record<number, AgwErrorCode> = { 400: 'bad_input', 401: 'unauthenticated', 403: 'forbidden', 404: 'bad_input', 409: 'bad_input' }

export class ReviewsClient {
  constructor(private readonly client: GatewayClient) {}

  private async call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json', authorization: `Bearer ${await this.client.tokens.getToken()}` }
    if (body !== undefined) headers['content-type'] = 'application/json'
    let res: Response
    try {
      res = await fetch(new URL(path, this.client.url), {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(15_000),
      })
    } catch (err) {
      throw new AgwError('unreachable', `cannot reach the gateway at ${this.client.url.origin}: ${describeError((err as Error).cause ?? err)}`)
    }
    const text = await res.text()
    if (res.ok) return JSON.parse(text) as T
    let message = text || `HTTP ${res.status}`
    let state: string | undefined
    try {
      const j = JSON.parse(text) as { message?: string; state?: string }
      if (j.message) message = j.message
      state = j.state
    } catch {
      // not JSON: keep the text
    }
    throw new ReviewError(CODE_FOR_STATUS[res.status] ?? (res.status >= 500 ? 'unreachable' : 'bad_input'), `gateway: ${message}`, state)
  }

  list(): Promise<ReviewList> {
    return this.call<ReviewList>('GET', '/v1/reviews')
  }

  async get(id: string): Promise<ReviewView> {
    return (await this.call<{ review: ReviewView }>('GET', `/v1/reviews/${encodeURIComponent(id)}`)).review
  }

  async decide(id: string, action: 'approve' | 'deny', opts: DecideOptions = {}): Promise<ReviewView> {
    if (!/^[0-9a-f-]{36}$/.test(id)) throw new AgwError('bad_input', `"${id}" is not a review id; \`agw reviews\` lists them`)
    const body: Record<string, string> = {}
    if (opts.reason !== undefined) body.reason = opts.reason
    if (opts.for !== undefined) body.for = opts.for
    if (opts.fingerprint !== undefined) body.fingerprint = opts.fingerprint
    return (await this.call<{ review: ReviewView }>('POST', `/v1/reviews/${id}/${action}`, body)).review
  }

  /**
   * Follows the live list until `signal` aborts: `onList` gets each push. A dropped socket (or an
   * expired token: the gateway closes the socket then) is reopened with a fresh token after a
   * short wait; `onStatus` says so. Rejects when the gateway refuses the caller.
   */
  async watch(onList: (list: ReviewList) => void, signal: AbortSignal, onStatus: (status: 'live' | 'reconnecting', detail?: string) => void = () => {}): Promise<void> {
    let delay = 500
    while (!signal.aborted) {
      const result = await this.watchOnce(onList, signal, () => {
        delay = 500
        onStatus('live')
      })
      if (signal.aborted) return
      if (result instanceof AgwError && (result.code === 'unauthenticated' || result.code === 'forbidden') && !result.message.includes('token expired')) throw result
      onStatus('reconnecting', result instanceof Error ? result.message : undefined)
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay)
        signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true })
      })
      delay = Math.min(delay * 2, 10_000)
    }
  }

  private async watchOnce(onList: (list: ReviewList) => void, signal: AbortSignal, onOpen: () => void): Promise<AgwError | undefined> {
    let token: string
    try {
      token = await this.client.tokens.getToken()
    } catch (err) {
      return err instanceof AgwError ? err : new AgwError('unauthenticated', describeError(err))
    }
    const url = new URL('/v1/reviews/watch', this.client.url)
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:'
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false, handshakeTimeout: 15_000, maxPayload: 64 * 1024 * 1024 })
    return await new Promise<AgwError | undefined>((resolve) => {
      const abort = () => ws.close(1000, 'done')
      signal.addEventListener('abort', abort, { once: true })
      ws.on('open', onOpen)
      ws.on('message', (data, isBinary) => {
        if (isBinary) return
        try {
          const msg = JSON.parse(String(data)) as ReviewsPush
          if (msg.t === 'reviews' && Array.isArray(msg.reviews)) onList({ now: msg.now, reviews: msg.reviews })
        } catch {
          // not a message of ours: ignore
        }
      })
      ws.on('unexpected-response', (_req, res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          let message = `HTTP ${res.statusCode}`
          try {
            message = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { message?: string }).message ?? message
          } catch {
            // keep the status
          }
          ws.terminate()
          resolve(new AgwError(CODE_FOR_STATUS[res.statusCode ?? 0] ?? 'unreachable', `gateway: ${message}`))
        })
      })
      ws.on('error', (err) => resolve(new AgwError('unreachable', `cannot reach the gateway at ${this.client.url.origin}: ${describeError(err)}`)))
      ws.on('close', (code, reason) => {
        signal.removeEventListener('abort', abort)
        resolve(code === 4401 ? new AgwError('unauthenticated', `gateway: ${reason.toString() || 'token expired'}`) : new AgwError('unreachable', 'the gateway closed the review feed'))
      })
    })
  }
}
