/**
 * The PostgreSQL engine. For each tunnel: read the client's StartupMessage (or CancelRequest), log
 * in to the target with the gateway's credentials, answer the client as if it were the server (its
 * own BackendKeyData), then run the proxy until either side leaves. Failures reach the client as a
 * PostgreSQL ErrorResponse it can show, never as a dropped socket.
 */
import type { ConnectionConfig } from '../../config/schema.js'
import { AgwError, describeError } from '../../errors.js'
import type { ConnectionOutcome, Engine, EngineContext } from '../engine.js'
import { CancelRegistry } from './cancel.js'
import {
  decodeStartupPhase,
  encodeBackend,
  encodeErrorResponse,
  MessageFramer,
  type Frame,
  type StartupPhaseMessage,
} from './codec/index.js'
import { pgPolicy, type PgPolicyOptions } from './policy.js'
import { PgProxy, type PgInterceptor, type PgInterceptorFactory } from './proxy.js'
import { connectTarget } from './target.js'

/** Startup parameters the gateway passes on to the target. Others are dropped (user and database come from the config). */
const FORWARDED_PARAMS = new Set([
  'application_name',
  'client_encoding',
  'datestyle',
  'timezone',
  'extra_float_digits',
  'intervalstyle',
  'search_path',
  'statement_timeout',
  'lock_timeout',
  'idle_in_transaction_session_timeout',
  'standard_conforming_strings',
])

export interface PostgresEngineOptions {
  startupTimeoutMs?: number
  /** Policy and masking hook for each connection; takes precedence over `policy`. */
  interceptor?: PgInterceptorFactory
  /**
   * Guardrails and masking (src/protocols/postgres/policy.ts) for these connections: the review
   * gate, the key of the `hash` masking style. Compiled now: a bad rule throws AgwError('bad_input').
   */
  policy?: PgPolicyOptions & { connections: ConnectionConfig[] }
}

/** Reads the first untyped message, answering SSLRequest/GSSENCRequest with 'N'. */
function readStartup(ctx: EngineContext, timeoutMs: number): Promise<{ msg: StartupPhaseMessage; rest: Frame[]; framer: MessageFramer }> {
  const framer = new MessageFramer({ startup: true, maxMessageSize: 64 * 1024 * 1024 })
  return new Promise((resolve, reject) => {
    const frames: Frame[] = []
    let msg: StartupPhaseMessage | undefined
    const cleanup = () => {
      clearTimeout(timer)
      ctx.channel.off('data', onData)
      ctx.channel.off('close', onClose)
    }
    const timer = setTimeout(() => {
      cleanup()
      reject(new AgwError('protocol', `no startup message within ${Math.round(timeoutMs / 1000)} s`))
    }, timeoutMs)
    const onClose = () => {
      cleanup()
      reject(new AgwError('protocol', 'the client left before its startup message'))
    }
    const onData = (chunk: Buffer) => {
      try {
        framer.push(chunk, (f) => {
          if (msg) {
            frames.push(f)
            return
          }
          const m = decodeStartupPhase(f)
          if (m.kind === 'ssl' || m.kind === 'gssenc') {
            ctx.channel.write(Buffer.from('N'))
            framer.expectStartup()
            return
          }
          msg = m
        })
      } catch (err) {
        cleanup()
        reject(err)
        return
      }
      if (msg) {
        cleanup()
        resolve({ msg, rest: frames, framer })
      }
    }
    ctx.channel.on('data', onData)
    ctx.channel.on('close', onClose)
  })
}

function fatal(code: string, message: string, hint?: string): Buffer {
  return encodeErrorResponse({ severity: 'FATAL', code, message, ...(hint ? { hint } : {}) })
}

export class PostgresEngine implements Engine {
  readonly type = 'postgres' as const
  readonly cancels = new CancelRegistry()
  private readonly startupTimeoutMs: number
  private readonly interceptor: PgInterceptorFactory | undefined
  /** Live interceptors by the client's cancel key: a CancelRequest also withdraws a held statement. */
  private readonly byCancelKey = new Map<string, PgInterceptor>()

  constructor(opts: PostgresEngineOptions = {}) {
    this.startupTimeoutMs = opts.startupTimeoutMs ?? 10_000
    this.interceptor = opts.interceptor ?? (opts.policy ? pgPolicy(opts.policy.connections, opts.policy) : undefined)
  }

  async handle(ctx: EngineContext): Promise<ConnectionOutcome> {
    const name = ctx.connection.name
    let startup: Awaited<ReturnType<typeof readStartup>>
    try {
      startup = await readStartup(ctx, this.startupTimeoutMs)
    } catch (err) {
      const message = `agw: ${describeError(err)}`
      ctx.channel.write(fatal('08P01', message))
      return { reason: 'error', error: message }
    }
    const { msg } = startup
    if (msg.kind === 'cancel') {
      const sent = await this.cancels.cancel(msg.pid, msg.secret, ctx.principal)
      if (sent) this.byCancelKey.get(`${msg.pid}:${msg.secret.toString('hex')}`)?.cancel?.()
      ctx.log.info({ sent }, 'cancel request')
      return { reason: 'client_closed' }
    }
    if (msg.kind !== 'startup') return { reason: 'error', error: 'unexpected startup message' }
    if (msg.major !== 3) {
      ctx.channel.write(fatal('08P01', `agw: unsupported frontend protocol ${msg.major}.${msg.minor}: agw speaks 3.0`))
      return { reason: 'error', error: 'unsupported protocol version' }
    }
    if (msg.params.replication !== undefined && msg.params.replication !== 'false' && msg.params.replication !== '0') {
      ctx.channel.write(fatal('42501', `agw: replication connections are not allowed through connection "${name}"`))
      return { reason: 'error', error: 'replication refused' }
    }
    const params: Record<string, string> = {}
    const dropped: string[] = []
    for (const [k, v] of Object.entries(msg.params)) {
      if (FORWARDED_PARAMS.has(k.toLowerCase())) params[k] = v
      else if (k !== 'user' && k !== 'database') dropped.push(k)
    }

    let target
    try {
      target = await connectTarget(ctx.connection, { params, signal: ctx.shutdown })
    } catch (err) {
      const e = err instanceof AgwError ? err : new AgwError('unreachable', describeError(err))
      ctx.log.warn({ err: e.message }, 'target connection failed')
      // The control message first: the CLI must know why before the tool sees the error and exits.
      ctx.channel.control({ t: 'error', code: 'unreachable', message: e.message })
      ctx.channel.write(fatal('08006', `agw: ${e.message}`, 'The gateway could not open the target; try again later or ask the gateway operator.'))
      return { reason: 'error', error: e.message }
    }

    const key = this.cancels.issue(ctx.connection, ctx.principal, target.key.pid, target.key.secret)
    const negotiate: Buffer[] = []
    const unsupported = Object.keys(msg.params).filter((k) => k.startsWith('_pq_.'))
    if (msg.minor > 0 || unsupported.length > 0) {
      negotiate.push(encodeBackend({ type: 'NegotiateProtocolVersion', newestMinor: 0, unsupported }))
    }
    const hello = [
      ...negotiate,
      encodeBackend({ type: 'AuthenticationOk' }),
      ...target.parameters.map(([n, v]) => encodeBackend({ type: 'ParameterStatus', name: n, value: v })),
      encodeBackend({ type: 'BackendKeyData', pid: key.pid, secret: key.secret }),
      ...target.notices,
      encodeBackend({ type: 'ReadyForQuery', status: target.status }),
      ...target.extra,
    ]
    ctx.channel.write(Buffer.concat(hello))
    ctx.log.debug({ application: params.application_name, dropped }, 'postgres connection ready')
    const keyId = `${key.pid}:${key.secret.toString('hex')}`
    try {
      const interceptor = this.interceptor?.(ctx)
      if (interceptor) this.byCancelKey.set(keyId, interceptor)
      const proxy = new PgProxy(ctx, target, startup.framer, interceptor)
      return await proxy.run(startup.rest)
    } finally {
      this.byCancelKey.delete(keyId)
      this.cancels.release(key)
    }
  }
}
