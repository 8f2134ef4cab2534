/**
 * The CLI's view of the gateway: JSON calls with the bearer token, and WebSockets for the session
 * and for each tunnel. Maps HTTP statuses and network failures to AgwError codes (and so to exit
 * codes). Plain http is only used for a loopback gateway: a token never crosses a network in clear.
 */
import { hostname } from 'node:os'
import WebSocket from 'ws'
import type { ConnectionInfo } from '../gateway/gateway.js'
import type { Principal } from '../identity/principal.js'
import { AgwError, describeError, type AgwErrorCode } from '../errors.js'
import { isLoopbackHost } from '../net.js'
import { TunnelChannel } from '../tunnel/channel.js'
import { parseServerControl, type ClientControl, type ServerControl } from '../tunnel/protocol.js'
import type { TokenProvider } from './tokens.js'

export type GatewayChannel = TunnelChannel<ServerControl, ClientControl>

const CODE_FOR_STATUS: Record<number, AgwErrorCode> = { 400: 'bad_input', 401: 'unauthenticated', 403: 'forbidden', 404: 'bad_input' }

export function checkGatewayUrl(raw: string | undefined): URL {
  if (!raw) throw new AgwError('bad_input', 'no gateway: set AGW_GATEWAY (for example https://agw.example.com) or pass --gateway')
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new AgwError('bad_input', `AGW_GATEWAY "${raw}" is not a URL`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new AgwError('bad_input', `the gateway URL must be https:// (got ${url.protocol})`)
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    throw new AgwError('bad_input', `refusing plain http to ${url.hostname}: tokens would cross the network in clear; use https://`)
  }
  return url
}

async function errorFromResponse(status: number, body: string): Promise<AgwError> {
  let message = body
  let code: AgwErrorCode | undefined
  try {
    const j = JSON.parse(body) as { error?: string; message?: string }
    if (j.message) message = j.message
    if (j.error === 'forbidden') code = 'forbidden'
  } catch {
    // not JSON: keep the text
  }
  return new AgwError(code ?? CODE_FOR_STATUS[status] ?? (status >= 500 ? 'unreachable' : 'bad_input'), `gateway: ${message || `HTTP ${status}`}`)
}

export class GatewayClient {
  readonly url: URL

  constructor(
    gatewayUrl: string | undefined,
    readonly tokens: TokenProvider,
  ) {
    this.url = checkGatewayUrl(gatewayUrl)
  }

  private endpoint(path: string, ws = false): string {
    const u = new URL(path, this.url)
    if (ws) u.protocol = this.url.protocol === 'https:' ? 'wss:' : 'ws:'
    return u.toString()
  }

  async get<T>(path: string, auth = true): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' }
    if (auth) headers.authorization = `Bearer ${await this.tokens.getToken()}`
    let res: Response
    try {
      res = await fetch(this.endpoint(path), { headers, signal: AbortSignal.timeout(15_000) })
    } catch (err) {
      throw new AgwError('unreachable', `cannot reach the gateway at ${this.url.origin}: ${describeError((err as Error).cause ?? err)}`)
    }
    const text = await res.text()
    if (!res.ok) throw await errorFromResponse(res.status, text)
    return JSON.parse(text) as T
  }

  whoami(): Promise<Principal> {
    return this.get<Principal>('/v1/whoami')
  }

  async connections(): Promise<ConnectionInfo[]> {
    return (await this.get<{ connections: ConnectionInfo[] }>('/v1/connections')).connections
  }

  /** Opens a WebSocket with the bearer token; rejects with the gateway's own reason on 401/403. */
  async open(path: string, headers: Record<string, string> = {}): Promise<GatewayChannel> {
    const token = await this.tokens.getToken()
    const ws = new WebSocket(this.endpoint(path, true), {
      headers: { authorization: `Bearer ${token}`, 'x-agw-host': hostname(), ...headers },
      perMessageDeflate: false,
      maxPayload: 16 * 1024 * 1024,
      handshakeTimeout: 15_000,
    })
    return await new Promise<GatewayChannel>((resolve, reject) => {
      ws.once('open', () => {
        ws.removeAllListeners('error')
        ws.removeAllListeners('unexpected-response')
        resolve(new TunnelChannel<ServerControl, ClientControl>(ws, { parseControl: parseServerControl }))
      })
      ws.once('unexpected-response', (_req, res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          void errorFromResponse(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8')).then(reject)
        })
        res.on('error', () => reject(new AgwError('unreachable', `gateway answered HTTP ${res.statusCode}`)))
      })
      ws.once('error', (err) => reject(new AgwError('unreachable', `cannot reach the gateway at ${this.url.origin}: ${describeError(err)}`)))
    })
  }

  openTunnel(connection: string, sessionId: string | undefined, agent: string): Promise<GatewayChannel> {
    const q = new URLSearchParams({ connection })
    if (sessionId) q.set('session', sessionId)
    return this.open(`/v1/tunnel?${q}`, { 'x-agw-agent': agent })
  }
}
