/**
 * The gateway process: HTTP API, the session socket and the tunnel endpoint. It authenticates every
 * call, decides which connections an identity may use, and hands each tunnel to the engine for the
 * connection's type. Everything it learns goes to the event log.
 */
import { readFileSync } from 'node:fs'
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import type { ConnectionConfig, GatewayConfig } from '../config/schema.js'
import { AgwError, describeError } from '../errors.js'
import { inAnyGroup, type Principal } from '../identity/principal.js'
import { uuidv7 } from '../ids.js'
import { createLogger, type Logger } from '../log.js'
import { splitHostPort } from '../net.js'
import type { EngineRegistry} from '../protocols/engine.js';
import { type EngineContext } from '../protocols/engine.js'
import { SinkSet, type SinkSetOptions } from '../audit/sinks/index.js'
import { EventLog } from '../recording/event-log.js'
import type { EventType } from '../recording/events.js'
import { openGatewayStore } from '../storage/open.js'
import type { Store } from '../storage/store.js'
import { TunnelChannel } from '../tunnel/channel.js'
import { CloseCode, parseClientControl, type ClientControl, type ServerControl } from '../tunnel/protocol.js'
import { VERSION } from '../version.js'
import type { ReviewService } from '../reviews/service.js'
import { ReviewsApi } from './api/reviews.js'
import { SessionsApi, parseChunk } from './api/sessions.js'
import { bearerToken, rejectUpgrade, sendError, sendJson } from './http.js'
import { recordLogin } from './logins.js'
import { actorOf, sameIdentity, SessionManager, type LiveSession } from './sessions.js'

/**
 * Events wait up to this long to share a store transaction: pgbench at 8 clients on 2 cores went
 * from about 6.3k to 7.1k TPS with 5 ms (10 and 20 ms gained nothing more). docs/adr/0014.
 */
const EVENT_LINGER_MS = 5

/** Verifies a bearer token. The production implementation is identity/verifier.ts. */
export interface Authenticator {
  verify(token: string): Promise<Principal>
}

export interface GatewayOptions {
  config: GatewayConfig
  authenticator: Authenticator
  engines: EngineRegistry
  logger?: Logger
  store?: Store
  /** Audit sink tuning (retries, timeouts); the sinks themselves come from config.audit.sinks. */
  sinks?: SinkSetOptions
  /** The review service (the engines' review gate): bound to this gateway, started and stopped with it. */
  reviews?: ReviewService
}

/** What `GET /v1/connections` says about one connection (never the target's credentials). */
export interface ConnectionInfo {
  name: string
  type: ConnectionConfig['type']
  description?: string
  database?: string
  rules: number
  reviews: boolean
  masking: boolean
  /** Content detectors, so `agw exec` masks the agent's terminal recording the same way. */
  detectors?: string[]
  maskStyle?: 'redact' | 'partial' | 'hash'
}

function describeConnection(c: ConnectionConfig): ConnectionInfo {
  const info: ConnectionInfo = {
    name: c.name,
    type: c.type,
    rules: c.rules.length,
    reviews: c.rules.some((r) => r.action === 'review'),
    masking: !!c.masking && (c.masking.columns.length > 0 || c.masking.detectors.length > 0),
  }
  if (c.description !== undefined) info.description = c.description
  if (c.target.database !== undefined) info.database = c.target.database
  if (c.masking && c.masking.detectors.length > 0) {
    info.detectors = c.masking.detectors
    info.maskStyle = c.masking.style
  }
  return info
}

export class Gateway {
  readonly config: GatewayConfig
  readonly log: Logger
  readonly events: EventLog
  readonly store: Store
  readonly sessions: SessionManager
  /** Audit sinks: deliver from the store, after the data path (src/audit/sinks). */
  readonly sinks: SinkSet
  private readonly sessionsApi: SessionsApi
  readonly reviews: ReviewService | undefined
  private readonly reviewsApi: ReviewsApi | undefined
  private readonly auth: Authenticator
  private readonly engines: EngineRegistry
  private server: Server | undefined
  private readonly wss: WebSocketServer
  private readonly shutdown = new AbortController()
  private readonly tunnels = new Set<WebSocket>()
  private readonly sessionSockets = new Set<WebSocket>()

  constructor(opts: GatewayOptions) {
    this.config = opts.config
    this.log = opts.logger ?? createLogger(opts.config.log.level)
    this.auth = opts.authenticator
    this.engines = opts.engines
    this.store = opts.store ?? openGatewayStore(opts.config, this.log)
    this.events = new EventLog(this.store, this.log, EVENT_LINGER_MS)
    this.sinks = SinkSet.fromConfig(opts.config.audit.sinks, this.store, this.log, opts.sinks)
    this.sessions = new SessionManager(this.store, this.events)
    this.sessionsApi = new SessionsApi(this.store, this.events, (p) => this.isAuditor(p))
    this.reviews = opts.reviews
    this.reviews?.bind({
      store: this.store,
      events: this.events,
      log: this.log.child({ svc: 'reviews' }),
      pushToSession: (id, msg) => this.sessions.get(id)?.push?.(msg),
      agentOf: (id) => this.sessions.get(id)?.record.agent,
    })
    this.reviewsApi = this.reviews ? new ReviewsApi(this.reviews) : undefined
    this.wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 16 * 1024 * 1024 })
  }

  /** Starts listening. Resolves with the URL clients use. */
  async start(): Promise<string> {
    const interrupted = await this.store.markInterrupted(new Date().toISOString())
    if (interrupted.length > 0) this.log.warn({ sessions: interrupted.length }, 'sessions left active by a previous run are marked interrupted')
    for (const id of interrupted) {
      this.events.emit({ type: 'session.end', sessionId: id, data: { status: 'interrupted', error: 'the gateway stopped while the session was active' } })
    }
    await this.reviews?.start()
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.route(req, res)
    const tls = this.config.tls
    this.server = tls
      ? createHttpsServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key), minVersion: 'TLSv1.2' }, handler)
      : createHttpServer(handler)
    this.server.headersTimeout = 10_000
    this.server.requestTimeout = 30_000
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => void this.upgrade(req, socket, head))
    const { host, port } = splitHostPort(this.config.listen)
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(new AgwError('unreachable', `cannot listen on ${this.config.listen}: ${describeError(err)}`))
      this.server!.once('error', onError)
      this.server!.listen(port, host, () => {
        this.server!.off('error', onError)
        resolve()
      })
    })
    await this.sinks.start(this.events)
    const url = this.url
    this.log.info({ url, connections: this.config.connections.map((c) => c.name) }, 'gateway listening')
    return url
  }

  get url(): string {
    const addr = this.server?.address() as AddressInfo | null
    if (!addr) throw new Error('gateway not started')
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
    return `${this.config.tls ? 'https' : 'http'}://${host}:${addr.port}`
  }

  async stop(): Promise<void> {
    // Held statements are answered (expired) while their clients are still connected.
    await this.reviews?.stop()
    this.reviewsApi?.closeAll()
    this.shutdown.abort()
    for (const ws of this.tunnels) ws.close(1001, 'gateway shutting down')
    for (const ws of this.sessionSockets) ws.close(1001, 'gateway shutting down')
    await new Promise<void>((resolve) => {
      if (!this.server) return resolve()
      this.server.close(() => resolve())
      this.server.closeAllConnections()
    })
    // Give engines a moment to record their last events.
    await new Promise((r) => setTimeout(r, 50))
    await this.sessions.endAll('interrupted')
    await this.events.flush()
    await this.sinks.stop()
    await this.store.close()
  }

  connectionsFor(principal: Principal): ConnectionConfig[] {
    return this.config.connections.filter((c) => inAnyGroup(principal, c.allow))
  }

  private isAuditor(p: Principal): boolean {
    return inAnyGroup(p, this.config.roles.auditors)
  }

  /** Verifies the caller's token; records auth.failed and rethrows on failure. */
  private async authenticate(req: IncomingMessage): Promise<Principal> {
    try {
      const token = bearerToken(req)
      const principal = await this.auth.verify(token)
      recordLogin(this.events, token, principal, req)
      return principal
    } catch (err) {
      const e = err instanceof AgwError ? err : new AgwError('unauthenticated', describeError(err))
      this.events.emit({
        type: 'auth.failed',
        data: { reason: e.message, code: e.code, remote: req.socket.remoteAddress, path: (req.url ?? '').split('?')[0] },
      })
      this.log.info({ remote: req.socket.remoteAddress, reason: e.message }, 'authentication failed')
      throw e
    }
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://gateway')
    const path = url.pathname
    try {
      if (req.method === 'GET' && path === '/healthz') return sendJson(res, 200, { status: 'ok', version: VERSION })
      if (req.method === 'GET' && path === '/v1/info') return sendJson(res, 200, this.info())
      const principal = await this.authenticate(req)
      if (req.method === 'GET' && path === '/v1/whoami') return sendJson(res, 200, principal)
      if (req.method === 'GET' && path === '/v1/connections') {
        return sendJson(res, 200, { connections: this.connectionsFor(principal).map(describeConnection) })
      }
      if (await this.sessionsApi.handle(req, res, url, principal)) return
      if (this.reviewsApi && (await this.reviewsApi.handle(req, res, url, principal))) return
      throw new AgwError('bad_input', `no such endpoint: ${req.method} ${path}`)
    } catch (err) {
      const e = err instanceof AgwError ? err : new AgwError('internal', 'internal error')
      if (!(err instanceof AgwError)) this.log.error({ err }, 'request failed')
      if (e.code === 'bad_input' && e.message.startsWith('no such endpoint')) return sendJson(res, 404, { error: 'not_found', message: e.message })
      sendError(res, e)
    }
  }

  info(): Record<string, unknown> {
    const first = this.config.identity.issuers[0]!
    return {
      version: VERSION,
      issuer: first.issuer,
      issuers: this.config.identity.issuers.map((i) => i.issuer),
      deviceClientId: this.config.identity.deviceClient,
      audience: Array.isArray(first.audience) ? first.audience[0] : first.audience,
    }
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy())
    const url = new URL(req.url ?? '/', 'http://gateway')
    try {
      if (url.pathname !== '/v1/tunnel' && url.pathname !== '/v1/session' && !(url.pathname === '/v1/reviews/watch' && this.reviewsApi)) {
        throw new AgwError('bad_input', `no WebSocket endpoint at ${url.pathname}`)
      }
      const principal = await this.authenticate(req)
      if (url.pathname === '/v1/reviews/watch') {
        this.wss.handleUpgrade(req, socket, head, (ws) => this.reviewsApi?.watch(ws, principal))
        return
      }
      if (url.pathname === '/v1/session') {
        this.wss.handleUpgrade(req, socket, head, (ws) => this.sessionSocket(ws, principal))
        return
      }
      const name = url.searchParams.get('connection') ?? ''
      const connection = this.config.connections.find((c) => c.name === name)
      if (!connection) throw new AgwError('forbidden', `no connection named "${name}" on this gateway; see \`agw connections\``)
      if (!inAnyGroup(principal, connection.allow)) {
        this.events.emit({
          type: 'auth.failed',
          actor: actorOf(principal),
          connection: name,
          data: { reason: `not in a group allowed to use ${name}`, code: 'forbidden', remote: req.socket.remoteAddress },
        })
        throw new AgwError('forbidden', `${principal.email ?? principal.subject} may not use connection "${name}" (allowed groups: ${connection.allow.join(', ')})`)
      }
      const engine = this.engines.get(connection.type)
      if (!engine) throw new AgwError('bad_input', `connections of type ${connection.type} are not supported by this gateway yet`)
      const sessionId = url.searchParams.get('session')
      let session: LiveSession | undefined
      if (sessionId) {
        session = this.sessions.get(sessionId)
        if (!session || !sameIdentity(session.record.identity, principal)) {
          throw new AgwError('forbidden', `session ${sessionId} is not an active session of yours`)
        }
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => void this.tunnel(ws, principal, connection, session, req))
    } catch (err) {
      const e = err instanceof AgwError ? err : new AgwError('internal', describeError(err))
      rejectUpgrade(socket, e.code === 'bad_input' && e.message.startsWith('no WebSocket') ? new AgwError('bad_input', e.message) : e)
    }
  }

  private sessionSocket(ws: WebSocket, principal: Principal): void {
    this.sessionSockets.add(ws)
    const channel = new TunnelChannel<ClientControl, ServerControl>(ws, { parseControl: parseClientControl })
    let live: LiveSession | undefined
    let ended = false
    const helloTimer = setTimeout(() => channel.close(CloseCode.protocol, 'no hello'), 10_000)
    channel.on('control', (msg) => {
      void (async () => {
        if (msg.t === 'hello' && !live) {
          clearTimeout(helloTimer)
          if (!Array.isArray(msg.connections) || !msg.connections.every((c) => typeof c === 'string') || typeof msg.agent !== 'string' || typeof msg.host !== 'string') {
            channel.control({ t: 'error', code: 'bad_input', message: 'malformed hello: agent, host and connections (a list of names) are required' })
            channel.close(CloseCode.protocol, 'malformed hello')
            return
          }
          const allowed = new Set(this.connectionsFor(principal).map((c) => c.name))
          const refused = msg.connections.filter((c) => !allowed.has(c))
          if (refused.length > 0) {
            this.events.emit({
              type: 'auth.failed',
              actor: actorOf(principal),
              data: { reason: `not allowed to use ${refused.join(', ')}`, code: 'forbidden', agent: String(msg.agent).slice(0, 200), host: String(msg.host).slice(0, 200) },
            })
            channel.control({ t: 'error', code: 'forbidden', message: `not allowed to use: ${refused.join(', ')}` })
            channel.close(CloseCode.forbidden, 'forbidden')
            return
          }
          const info: { agent: string; host: string; command?: string; connections: string[] } = {
            agent: String(msg.agent).slice(0, 200),
            host: String(msg.host).slice(0, 200),
            connections: msg.connections,
          }
          if (msg.command !== undefined) info.command = String(msg.command).slice(0, 2000)
          live = await this.sessions.start(principal, info)
          live.push = (m) => channel.control(m)
          channel.control({ t: 'session', sessionId: live.record.id })
        } else if (msg.t === 'end' && live && !ended) {
          ended = true
          const extra: { exitCode?: number; error?: string } = {}
          if (typeof msg.exitCode === 'number') extra.exitCode = msg.exitCode
          if (msg.signal) extra.error = `terminated by ${msg.signal}`
          await this.sessions.end(live.record.id, 'ended', extra)
          channel.close(CloseCode.normal, 'session ended')
        } else if (msg.t === 'cancel' && live) {
          // Ctrl-C in `agw exec` while a statement of the session is held: withdraw it.
          this.reviews?.withdrawSession(live.record.id, "cancelled in the agent's terminal (Ctrl-C in agw exec)")
        } else if (msg.t === 'terminal' && live) {
          const chunk = parseChunk(msg)
          if (!chunk) return
          // Acknowledged once it is in the store: the CLI keeps it in its cache until then.
          await this.sessionsApi.recordTerminal(principal, live.record.id, chunk)
          if (channel.isOpen) channel.control({ t: 'terminal.ack', n: chunk.n })
        }
      })().catch((err: unknown) => this.log.error({ err }, 'session socket failed'))
    })
    channel.on('close', () => {
      clearTimeout(helloTimer)
      this.sessionSockets.delete(ws)
      if (live && !ended) {
        ended = true
        void this.sessions.end(live.record.id, 'interrupted', { error: 'the client went away without ending the session' })
      }
    })
  }

  private async tunnel(ws: WebSocket, principal: Principal, connection: ConnectionConfig, session: LiveSession | undefined, req: IncomingMessage): Promise<void> {
    this.tunnels.add(ws)
    const channel = new TunnelChannel<ClientControl, ServerControl>(ws, { parseControl: parseClientControl })
    channel.on('error', (err) => this.log.debug({ err }, 'tunnel socket error'))
    let live = session
    try {
      if (!live) {
        live = await this.sessions.start(
          principal,
          { agent: String(req.headers['x-agw-agent'] ?? 'unknown').slice(0, 200), host: String(req.headers['x-agw-host'] ?? req.socket.remoteAddress ?? ''), connections: [connection.name] },
          true,
        )
      } else if (!live.record.connections.includes(connection.name)) {
        live.record.connections.push(connection.name)
        await this.store.addSessionConnection(live.record.id, connection.name)
      }
    } catch (err) {
      this.log.error({ err }, 'cannot start a session')
      channel.control({ t: 'error', code: 'internal', message: 'the gateway cannot record a session right now' })
      channel.close(CloseCode.internal, 'internal error')
      this.tunnels.delete(ws)
      return
    }
    const connectionId = uuidv7()
    const actor = actorOf(principal)
    const sessionId = live.record.id
    const log = this.log.child({ session: sessionId, connection: connection.name, conn: connectionId })
    const record = (type: EventType, data: Record<string, unknown>) => {
      this.events.emit({ type, sessionId, connectionId, connection: connection.name, actor, data })
    }
    live.connections++
    const opened = Date.now()
    record('connection.open', { type: connection.type, remote: req.socket.remoteAddress, agent: live.record.agent })
    channel.control({ t: 'ready', sessionId, connectionId })
    const ctx: EngineContext = { connectionId, sessionId, connection, principal, channel, log, record, shutdown: this.shutdown.signal }
    const engine = this.engines.get(connection.type)!
    let outcome
    try {
      outcome = await engine.handle(ctx)
    } catch (err) {
      log.error({ err }, 'engine failed')
      outcome = { reason: 'error' as const, error: describeError(err) }
    }
    record('connection.close', { reason: outcome.reason, error: outcome.error, durationMs: Date.now() - opened })
    channel.close(outcome.reason === 'error' ? CloseCode.unreachable : CloseCode.normal, outcome.reason)
    this.tunnels.delete(ws)
    live.connections--
    if (live.connections === 0) live.onIdle?.()
    if (live.implicit && live.connections === 0) {
      await this.sessions.end(sessionId, outcome.reason === 'error' ? 'error' : 'ended', outcome.error ? { error: outcome.error } : {})
    }
  }
}
