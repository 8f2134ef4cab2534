/**
 * `auth.login`: recorded the first time the gateway sees a token, with who it names (identity
 * kind, subject, email, groups, issuer, client id) and where it came from. A refreshed token is a
 * new token and so a new `auth.login`; the same token on the next call is not.
 *
 * Deduplication keeps a SHA-256 of each token in memory only (never stored, never logged), in a
 * bounded most-recently-seen set: at the bound the token seen longest ago is forgotten, and would
 * log in again if it came back.
 */
import { createHash } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { Principal } from '../identity/principal.js'
import type { EventLog } from '../recording/event-log.js'
import { actorOf } from './sessions.js'

export const DEFAULT_MAX_REMEMBERED = 10_000

export class LoginRecorder {
  readonly #seen = new Map<string, true>()

  constructor(
    private readonly events: EventLog,
    readonly maxRemembered = DEFAULT_MAX_REMEMBERED,
  ) {}

  /** Records `auth.login` unless this token was seen recently; returns whether it recorded. */
  seen(token: string, principal: Principal, req?: Pick<IncomingMessage, 'socket' | 'url'>): boolean {
    const key = createHash('sha256').update(token).digest('base64url')
    if (this.#seen.has(key)) {
      this.#seen.delete(key) // move to the most recent end
      this.#seen.set(key, true)
      return false
    }
    this.#seen.set(key, true)
    while (this.#seen.size > this.maxRemembered) {
      const oldest = this.#seen.keys().next().value
      if (oldest === undefined) break
      this.#seen.delete(oldest)
    }
    const data: Record<string, unknown> = {
      identityKind: principal.kind,
      subject: principal.subject,
      email: principal.email,
      groups: principal.groups,
      issuer: principal.issuer,
      clientId: principal.clientId,
      expiresAt: principal.expiresAt !== undefined ? new Date(principal.expiresAt * 1000).toISOString() : undefined,
      claims: principal.claims,
    }
    if (req) {
      data['remote'] = req.socket.remoteAddress
      data['path'] = (req.url ?? '').split('?')[0]
    }
    this.events.emit({ type: 'auth.login', actor: actorOf(principal), data })
    return true
  }

  get size(): number {
    return this.#seen.size
  }
}

const recorders = new WeakMap<EventLog, LoginRecorder>()

/** The gateway's hook: one LoginRecorder per event log. */
export function recordLogin(events: EventLog, token: string, principal: Principal, req?: Pick<IncomingMessage, 'socket' | 'url'>): void {
  let recorder = recorders.get(events)
  if (!recorder) {
    recorder = new LoginRecorder(events)
    recorders.set(events, recorder)
  }
  recorder.seen(token, principal, req)
}
