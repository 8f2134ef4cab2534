/**
 * `agw connect NAME`: one long-lived local port for any client (like `tsh proxy db`). Prints the
 * local URL with its one-time secret, then serves until interrupted; the whole run is one session.
 */
import { hostname } from 'node:os'
import { AgwError } from '../errors.js'
import { endpointUrl, localUser, openEndpoints } from './endpoints.js'
import type { GatewayClient } from './gateway-client.js'
import { describeControl } from './exec.js'
import { SessionHandle } from './session.js'

export interface ConnectInfo {
  connection: string
  type: string
  url: string
  host: string
  port: number
  user: string
  password: string
  database?: string
  sessionId: string
}

export async function runConnect(opts: {
  client: GatewayClient
  connection: string
  port?: number
  agent?: string
  onReady: (info: ConnectInfo) => void
  say: (line: string) => void
  /** Resolves when the run should stop (default: SIGINT or SIGTERM). */
  until?: Promise<void>
}): Promise<number> {
  const { client } = opts
  const [principal, available] = await Promise.all([client.whoami(), client.connections()])
  const connection = available.find((c) => c.name === opts.connection)
  if (!connection) {
    throw new AgwError('forbidden', `connection "${opts.connection}" does not exist or is not open to ${principal.email ?? principal.subject} (available: ${available.map((a) => a.name).join(', ') || 'none'})`)
  }
  const agent = opts.agent ?? 'agw-connect'
  const session = await SessionHandle.open(client, { agent, host: hostname(), command: `agw connect ${connection.name}`, connections: [connection.name] })
  session.onControl((msg) => {
    const line = describeControl(msg)
    if (line) opts.say(`agw: ${line}`)
  })
  const failures: AgwError[] = []
  const [endpoint] = await openEndpoints({
    client,
    connections: [connection],
    user: localUser(principal),
    sessionId: session.id,
    agent,
    ...(opts.port !== undefined ? { port: opts.port } : {}),
    onError: (err) => {
      failures.push(err)
      opts.say(`agw: ${err.message}`)
    },
  })
  if (!endpoint) throw new AgwError('internal', 'no endpoint')
  const info: ConnectInfo = {
    connection: connection.name,
    type: connection.type,
    url: endpointUrl(endpoint),
    host: '127.0.0.1',
    port: endpoint.port,
    user: endpoint.user,
    password: endpoint.secret,
    sessionId: session.id,
  }
  if (connection.database) info.database = connection.database
  opts.onReady(info)
  const stop =
    opts.until ??
    new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve())
      process.once('SIGTERM', () => resolve())
    })
  let gatewayGone = false
  let stopping = false
  await Promise.race([
    stop.then(() => {
      stopping = true
    }),
    new Promise<void>((resolve) =>
      session.onClose(() => {
        if (!stopping) gatewayGone = true
        resolve()
      }),
    ),
  ])
  stopping = true
  await endpoint.listener.close()
  await session.end(0)
  if (gatewayGone) throw new AgwError('unreachable', 'the gateway closed the session')
  return 0
}
