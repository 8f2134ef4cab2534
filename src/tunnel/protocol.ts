/**
 * The tunnel's control channel. One WebSocket carries one client connection: binary frames are the
 * protocol's bytes, text frames are these small JSON messages. The session socket (`/v1/session`)
 * carries only control messages. Both ends validate what they receive with `parseControl`.
 */
import type { AgwErrorCode } from '../errors.js'

/** What a review looks like to the requester and to reviewers. */
export interface ReviewSummary {
  id: string
  connection: string
  rule: string
  reviewers: string[]
  statement: string
  requester: string
  expiresAt: string
  state: 'pending' | 'approved' | 'denied' | 'expired' | 'withdrawn'
  reason?: string
  decidedBy?: string
  /** Approved "for DURATION": matching statements of the session run without a review until then. */
  until?: string
}

export type ServerControl =
  /** The gateway accepted the tunnel: ids for the session and this connection. */
  | { t: 'ready'; sessionId: string; connectionId: string }
  /** The session socket's answer to `hello`. */
  | { t: 'session'; sessionId: string }
  | { t: 'notice'; level: 'info' | 'warn'; message: string }
  | { t: 'review'; review: ReviewSummary }
  /** A failure the CLI should surface and turn into its exit code (unreachable -> 69 ...). */
  | { t: 'error'; code: AgwErrorCode; message: string }
  /** The gateway will send no more bytes on this tunnel (half-close). */
  | { t: 'eof' }
  /** Terminal chunk `n` of this session is in the store (the CLI may drop it from its cache). */
  | { t: 'terminal.ack'; n: number }

export type ClientControl =
  /** First message on the session socket. */
  | { t: 'hello'; agent: string; host: string; command?: string; connections: string[]; pid?: number }
  /** Last message on the session socket. */
  | { t: 'end'; exitCode: number | null; signal?: string }
  /** The client will send no more bytes on this tunnel (half-close). */
  | { t: 'eof' }
  /** Withdraw held reviews of this connection (Ctrl-C in the agent's terminal). */
  | { t: 'cancel' }
  /** A chunk of the wrapped command's terminal output (asciicast-style), already masked locally. */
  | { t: 'terminal'; time: number; kind: 'o' | 'i' | 'r'; data: string; n?: number }

const serverTypes = new Set(['ready', 'session', 'notice', 'review', 'error', 'eof', 'terminal.ack'])
const clientTypes = new Set(['hello', 'end', 'eof', 'cancel', 'terminal'])

function parse<T>(text: string, allowed: Set<string>): T | undefined {
  if (text.length > 1_000_000) return undefined
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof v !== 'object' || v === null) return undefined
  const t = (v as { t?: unknown }).t
  return typeof t === 'string' && allowed.has(t) ? (v as T) : undefined
}

/** A server control message, or undefined when the text is not one (ignored, logged by the caller). */
export const parseServerControl = (text: string) => parse<ServerControl>(text, serverTypes)
export const parseClientControl = (text: string) => parse<ClientControl>(text, clientTypes)

/** WebSocket close codes used by the tunnel (4000-4999 is the application range). */
export const CloseCode = {
  normal: 1000,
  unauthenticated: 4401,
  forbidden: 4403,
  notFound: 4404,
  unreachable: 4502,
  protocol: 4400,
  internal: 4500,
} as const
