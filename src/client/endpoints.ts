/**
 * Local endpoints for the connections of one `agw exec` / `agw connect` run, and the environment a
 * tool needs to reach them (SPEC section 2).
 */
import { randomBytes } from 'node:crypto'
import type { ConnectionInfo } from '../gateway/gateway.js'
import type { Principal } from '../identity/principal.js'
import { AgwError } from '../errors.js'
import type { GatewayClient } from './gateway-client.js'
import { LocalListener, type LocalProtocol } from './local/listener.js'
import { PostgresLocal } from './local/postgres.js'

export interface Endpoint {
  connection: ConnectionInfo
  port: number
  /** The one-time local secret (never sent to the gateway). */
  secret: string
  user: string
  listener: LocalListener
}

export const SUPPORTED_TYPES = new Set(['postgres'])

/** A user name for local URLs: the email's local part or the subject, reduced to safe characters. */
export function localUser(p: Pick<Principal, 'email' | 'subject'>): string {
  const base = (p.email?.split('@')[0] ?? p.subject).toLowerCase().replace(/[^a-z0-9_.-]/g, '_')
  return base.slice(0, 63) || 'agw'
}

function protocolFor(c: ConnectionInfo, secret: string): LocalProtocol {
  switch (c.type) {
    case 'postgres':
      return new PostgresLocal(secret)
    default:
      throw new AgwError('bad_input', `connection "${c.name}" is of type ${c.type}, which this version of agw cannot open locally yet`)
  }
}

export async function openEndpoints(opts: {
  client: GatewayClient
  connections: ConnectionInfo[]
  user: string
  sessionId: string
  agent: string
  port?: number
  onError: (err: AgwError) => void
}): Promise<Endpoint[]> {
  const out: Endpoint[] = []
  try {
    for (const connection of opts.connections) {
      const secret = randomBytes(18).toString('base64url')
      const listener = new LocalListener({
        protocol: protocolFor(connection, secret),
        openTunnel: () => opts.client.openTunnel(connection.name, opts.sessionId, opts.agent),
        onError: opts.onError,
        ...(opts.port !== undefined ? { port: opts.port } : {}),
      })
      const port = await listener.listen()
      out.push({ connection, port, secret, user: opts.user, listener })
    }
  } catch (err) {
    await Promise.all(out.map((e) => e.listener.close()))
    throw err
  }
  return out
}

export function endpointUrl(e: Endpoint): string {
  const db = encodeURIComponent(e.connection.database ?? '')
  switch (e.connection.type) {
    case 'postgres':
      return `postgres://${encodeURIComponent(e.user)}:${e.secret}@127.0.0.1:${e.port}/${db}?sslmode=disable`
    default:
      return `${e.connection.type}://127.0.0.1:${e.port}`
  }
}

function envName(name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9]/g, '_')
}

/**
 * The environment for the wrapped command. The first connection of each type gets the tool's own
 * variables (PGHOST ...); every connection also gets AGW_<NAME>_URL, and later ones of a type get
 * their tool variables prefixed with the connection name (REPLICA_PGPORT ...).
 */
export function environmentFor(endpoints: Endpoint[], sessionId: string): Record<string, string> {
  const env: Record<string, string> = { AGW_SESSION_ID: sessionId }
  const seen = new Set<string>()
  for (const e of endpoints) {
    const first = !seen.has(e.connection.type)
    seen.add(e.connection.type)
    const prefix = first ? '' : `${envName(e.connection.name)}_`
    env[`AGW_${envName(e.connection.name)}_URL`] = endpointUrl(e)
    if (e.connection.type === 'postgres') {
      env[`${prefix}PGHOST`] = '127.0.0.1'
      env[`${prefix}PGPORT`] = String(e.port)
      if (e.connection.database) env[`${prefix}PGDATABASE`] = e.connection.database
      env[`${prefix}PGUSER`] = e.user
      env[`${prefix}PGPASSWORD`] = e.secret
      env[`${prefix}PGSSLMODE`] = 'disable'
      if (first) env.AGW_PG_URL = endpointUrl(e)
    }
  }
  return env
}
