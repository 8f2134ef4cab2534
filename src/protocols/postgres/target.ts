/**
 * Opens an authenticated connection to the target PostgreSQL with the gateway's stored credentials:
 * TCP, optional TLS (SSLRequest), StartupMessage, then SCRAM-SHA-256, MD5, cleartext or trust.
 * Resolves once the server is ready for queries; the caller then owns the socket.
 */
import { connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { readFileSync } from 'node:fs'
import type { ConnectionConfig } from '../../config/schema.js'
import { parseDuration } from '../../config/schema.js'
import { AgwError, describeError } from '../../errors.js'
import { md5PasswordResponse, ScramClient } from './auth.js'
import {
  decodeBackend,
  encodePassword,
  encodeSASLInitialResponse,
  encodeSASLResponse,
  encodeSSLRequest,
  encodeStartup,
  MessageFramer,
  type Frame,
} from './codec/index.js'

export interface TargetSession {
  socket: Socket
  /** ParameterStatus values the server sent during startup, in order. */
  parameters: Array<[string, string]>
  /** The server's real cancel key (never shown to the client). */
  key: { pid: number; secret: Buffer }
  status: 'I' | 'T' | 'E'
  /** NoticeResponse messages (raw) the server sent during startup, to pass on. */
  notices: Buffer[]
  /** Whole messages that arrived in the same read as ReadyForQuery, after it (raw, to pass on). */
  extra: Buffer[]
  /** The framer, holding any partial message that followed them. */
  framer: MessageFramer
}

export interface TargetOptions {
  /** Startup parameters from the client that the gateway passes on (application_name ...). */
  params: Record<string, string>
  signal?: AbortSignal
}

function targetName(c: ConnectionConfig): string {
  return `connection "${c.name}" (${c.target.host}:${c.target.port})`
}

export async function connectTarget(connection: ConnectionConfig, opts: TargetOptions): Promise<TargetSession> {
  const t = connection.target
  const timeoutMs = parseDuration(t.connectTimeout)
  let socket: Socket = await new Promise<Socket>((resolve, reject) => {
    const s = netConnect({ host: t.host, port: t.port, noDelay: true })
    const timer = setTimeout(() => {
      s.destroy()
      reject(new AgwError('unreachable', `cannot reach ${targetName(connection)}: no answer within ${t.connectTimeout}`))
    }, timeoutMs)
    s.once('connect', () => {
      clearTimeout(timer)
      resolve(s)
    })
    s.once('error', (err) => {
      clearTimeout(timer)
      reject(new AgwError('unreachable', `cannot reach ${targetName(connection)}: ${describeError(err)}`, { cause: err }))
    })
  })
  try {
    if (t.tls) socket = await startTls(socket, connection)
    return await handshake(socket, connection, opts, timeoutMs)
  } catch (err) {
    socket.destroy()
    throw err
  }
}

async function startTls(socket: Socket, connection: ConnectionConfig): Promise<Socket> {
  const t = connection.target
  const answer = await new Promise<number>((resolve, reject) => {
    socket.once('data', (b: Buffer) => (b.length === 1 ? resolve(b[0] as number) : reject(new AgwError('protocol', 'unexpected answer to SSLRequest'))))
    socket.once('error', reject)
    socket.write(encodeSSLRequest())
  })
  if (answer !== 0x53 /* S */) {
    throw new AgwError('unreachable', `${targetName(connection)} does not accept TLS, and the connection requires it`)
  }
  const opts = typeof t.tls === 'object' ? t.tls : { rejectUnauthorized: true }
  return await new Promise<Socket>((resolve, reject) => {
    const secure = tlsConnect({
      socket,
      servername: ('servername' in opts && opts.servername) || t.host,
      rejectUnauthorized: opts.rejectUnauthorized,
      ...('ca' in opts && opts.ca ? { ca: readFileSync(opts.ca) } : {}),
    })
    secure.once('secureConnect', () => resolve(secure))
    secure.once('error', (err) => reject(new AgwError('unreachable', `TLS to ${targetName(connection)} failed: ${describeError(err)}`, { cause: err })))
  })
}

function handshake(socket: Socket, connection: ConnectionConfig, opts: TargetOptions, timeoutMs: number): Promise<TargetSession> {
  const t = connection.target
  const framer = new MessageFramer()
  const parameters: Array<[string, string]> = []
  const notices: Buffer[] = []
  const extra: Buffer[] = []
  let key: { pid: number; secret: Buffer } | undefined
  let scram: ScramClient | undefined
  const password = t.password ?? ''
  const user = t.user ?? ''

  return new Promise<TargetSession>((resolve, reject) => {
    let done = false
    const finish = (err: Error | undefined, value?: TargetSession) => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.off('data', onData)
      socket.off('error', onError)
      socket.off('close', onClose)
      opts.signal?.removeEventListener('abort', onAbort)
      if (err) reject(err)
      else resolve(value as TargetSession)
    }
    const timer = setTimeout(() => finish(new AgwError('unreachable', `${targetName(connection)} did not finish its startup within ${t.connectTimeout}`)), timeoutMs)
    const onError = (err: Error) => finish(new AgwError('unreachable', `lost ${targetName(connection)} during startup: ${describeError(err)}`, { cause: err }))
    const onClose = () => finish(new AgwError('unreachable', `${targetName(connection)} closed the connection during startup`))
    const onAbort = () => finish(new AgwError('unreachable', 'gateway shutting down'))
    const needPassword = () => {
      if (t.password === undefined) throw new AgwError('unreachable', `${targetName(connection)} asks for a password, and the gateway config has none (target.password)`)
    }
    const onFrame = (f: Frame) => {
      const msg = decodeBackend(f)
      switch (msg.type) {
        case 'AuthenticationOk':
          return
        case 'AuthenticationCleartextPassword':
          needPassword()
          socket.write(encodePassword(password))
          return
        case 'AuthenticationMD5Password':
          needPassword()
          socket.write(encodePassword(md5PasswordResponse(user, password, msg.salt)))
          return
        case 'AuthenticationSASL': {
          needPassword()
          if (!msg.mechanisms.includes('SCRAM-SHA-256')) {
            throw new AgwError('unreachable', `${targetName(connection)} offers only ${msg.mechanisms.join(', ')}; agw supports SCRAM-SHA-256`)
          }
          scram = new ScramClient(password)
          socket.write(encodeSASLInitialResponse('SCRAM-SHA-256', Buffer.from(scram.clientFirstMessage())))
          return
        }
        case 'AuthenticationSASLContinue':
          if (!scram) throw new AgwError('protocol', 'SASLContinue before SASL')
          socket.write(encodeSASLResponse(Buffer.from(scram.handleServerFirst(msg.data.toString('utf8')))))
          return
        case 'AuthenticationSASLFinal':
          if (!scram) throw new AgwError('protocol', 'SASLFinal before SASL')
          scram.verifyServerFinal(msg.data.toString('utf8'))
          return
        case 'ParameterStatus':
          parameters.push([msg.name, msg.value])
          return
        case 'BackendKeyData':
          key = { pid: msg.pid, secret: msg.secret }
          return
        case 'NoticeResponse':
          notices.push(Buffer.from(f.raw))
          return
        case 'NegotiateProtocolVersion':
          return
        case 'ErrorResponse': {
          const text = msg.fields.M ?? 'unknown error'
          const code = msg.fields.C ?? ''
          const auth = code === '28P01' || code === '28000'
          throw new AgwError('unreachable', `${targetName(connection)} refused the gateway's login: ${text}${auth ? ' (check target.user and target.password in the gateway config)' : ''}`)
        }
        case 'ReadyForQuery':
          finish(undefined, { socket, parameters, key: key ?? { pid: 0, secret: Buffer.alloc(4) }, status: msg.status, notices, extra, framer })
          return
        default:
          throw new AgwError('unreachable', `${targetName(connection)} sent an unexpected ${msg.type} during authentication (Kerberos/GSS/SSPI are not supported)`)
      }
    }
    const onData = (chunk: Buffer) => {
      try {
        framer.push(chunk, (f) => {
          if (!done) onFrame(f)
          else extra.push(Buffer.from(f.raw))
        })
      } catch (err) {
        finish(err instanceof AgwError ? err : new AgwError('protocol', describeError(err)))
      }
    }
    socket.on('data', onData)
    socket.on('error', onError)
    socket.on('close', onClose)
    opts.signal?.addEventListener('abort', onAbort)
    const params: Record<string, string> = { ...opts.params, user }
    if (t.database !== undefined) params.database = t.database
    socket.write(encodeStartup(params))
  })
}
