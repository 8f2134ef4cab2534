/** Small HTTP helpers for the gateway's API: JSON replies, bearer tokens, errors as JSON. */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { AgwError, type AgwErrorCode } from '../errors.js'

export const STATUS_FOR: Record<AgwErrorCode, number> = {
  bad_input: 400,
  unauthenticated: 401,
  forbidden: 403,
  unreachable: 502,
  review_denied: 409,
  protocol: 400,
  internal: 500,
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  })
  res.end(text)
}

export function sendError(res: ServerResponse, err: AgwError): void {
  const headers: Record<string, string> = {}
  if (err.code === 'unauthenticated') headers['www-authenticate'] = `Bearer error="invalid_token"`
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v)
  sendJson(res, STATUS_FOR[err.code], { error: err.code, message: err.message })
}

/** Answers a WebSocket upgrade with a plain HTTP error (the client sees the status and the JSON body). */
export function rejectUpgrade(socket: Duplex, err: AgwError): void {
  const body = JSON.stringify({ error: err.code, message: err.message })
  const status = STATUS_FOR[err.code]
  socket.end(
    `HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : status === 403 ? 'Forbidden' : status === 404 ? 'Not Found' : 'Error'}\r\n` +
      `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  )
}

export function bearerToken(req: IncomingMessage): string {
  const h = req.headers.authorization
  if (!h) throw new AgwError('unauthenticated', 'no bearer token: run `agw login`, or set AGW_TOKEN')
  const m = /^Bearer\s+([A-Za-z0-9\-_.~+/]+=*)$/i.exec(h.trim())
  if (!m) throw new AgwError('unauthenticated', 'the Authorization header is not "Bearer <token>"')
  return m[1] as string
}

export async function readJsonBody(req: IncomingMessage, limit = 64 * 1024): Promise<unknown> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > limit) throw new AgwError('bad_input', `request body larger than ${limit} bytes`)
    chunks.push(chunk as Buffer)
  }
  if (size === 0) return {}
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    throw new AgwError('bad_input', 'request body is not valid JSON')
  }
}
