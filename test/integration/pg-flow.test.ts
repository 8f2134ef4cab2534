/**
 * Flow control end to end: a client that stops reading a large result must not make the local agent
 * or the gateway buffer it. The proof a user can see: the target's backend waits on ClientWrite
 * (PostgreSQL is blocked writing to the gateway), while the gateway's memory stays flat.
 */
import { connect as netConnect, type Socket } from 'node:net'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { afterAll, beforeAll, expect, inject, it } from 'vitest'
import { runConnect, type ConnectInfo } from '../../src/client/connect.js'
import { GatewayClient } from '../../src/client/gateway-client.js'
import { StaticTokenProvider } from '../../src/client/tokens.js'
import { ScramClient } from '../../src/protocols/postgres/auth.js'
import { decodeBackend, encodeFrontend, encodeSASLInitialResponse, encodeSASLResponse, encodeStartup, MessageFramer } from '../../src/protocols/postgres/codec/index.js'
import { startTestGateway, type TestGateway } from '../support/gateway.js'
import { connectTestIssuer } from '../support/oidc.js'

const execFileP = promisify(execFile)
const idp = connectTestIssuer(inject('issuerUrl'))
let gw: TestGateway
let info: ConnectInfo
let stop: () => void
let done: Promise<number>

beforeAll(async () => {
  gw = await startTestGateway(`
identity:
  issuers: [{ issuer: ${idp.issuer}, audience: agw }]
connections:
  - { name: pg, type: postgres, target: { host: 127.0.0.1, port: 5432, database: test, user: postgres }, allow: [agents] }
`)
  const client = new GatewayClient(gw.url, new StaticTokenProvider(await idp.agentToken(), 'test'))
  let ready!: (i: ConnectInfo) => void
  const readyP = new Promise<ConnectInfo>((r) => (ready = r))
  done = runConnect({ client, connection: 'pg', onReady: ready, say: () => {}, until: new Promise<void>((r) => (stop = r)) })
  info = await readyP
})

afterAll(async () => {
  stop?.()
  await done
  await gw?.stop()
})

/** A minimal client on our own codec: startup, SCRAM with the local secret, ready for queries. */
async function rawConnect(): Promise<Socket> {
  const socket = netConnect(info.port, '127.0.0.1')
  const framer = new MessageFramer()
  const scram = new ScramClient(info.password)
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      framer.push(chunk, (f) => {
        const m = decodeBackend(f)
        if (m.type === 'AuthenticationSASL') socket.write(encodeSASLInitialResponse('SCRAM-SHA-256', Buffer.from(scram.clientFirstMessage())))
        else if (m.type === 'AuthenticationSASLContinue') socket.write(encodeSASLResponse(Buffer.from(scram.handleServerFirst(m.data.toString()))))
        else if (m.type === 'AuthenticationSASLFinal') scram.verifyServerFinal(m.data.toString())
        else if (m.type === 'ErrorResponse') reject(new Error(m.fields.M))
        else if (m.type === 'ReadyForQuery') {
          socket.off('data', onData)
          resolve()
        }
      })
    }
    socket.on('data', onData)
    socket.on('error', reject)
    socket.on('connect', () => socket.write(encodeStartup({ user: info.user, database: 'test' })))
  })
  return socket
}

it('a client that stops reading pauses the target (ClientWrite), and the gateway does not buffer the result', async () => {
  const socket = await rawConnect()
  const rssBefore = process.memoryUsage().rss
  let received = 0
  socket.on('data', (d: Buffer) => (received += d.length))
  // About 3 GB of rows; the client reads a little, then stops reading.
  socket.write(encodeFrontend({ type: 'Query', sql: "select repeat('x', 1000) as filler from generate_series(1, 3000000)" }))
  await expect.poll(() => received, { timeout: 15_000 }).toBeGreaterThan(1_000_000)
  socket.pause()
  await expect
    .poll(
      async () =>
        (
          await execFileP('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-At', '-c', "select wait_event from pg_stat_activity where query like 'select repeat(''x'', 1000)%' and state = 'active'", 'test'])
        ).stdout.trim(),
      { timeout: 30_000, interval: 500 },
    )
    .toBe('ClientWrite')
  const stalledAt = received
  // The gateway and the local agent run in this process: their memory stays near where it was,
  // far below the 3 GB result (allow generous slack for the runtime).
  expect(process.memoryUsage().rss - rssBefore).toBeLessThan(200 * 1024 * 1024)
  expect(received).toBe(stalledAt)
  socket.destroy()
  // The target's backend goes away with the client, promptly (the gateway drops the blocked target
  // connection; the paused tunnel still completes its close handshake).
  await expect
    .poll(
      async () => (await execFileP('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-At', '-c', "select count(*) from pg_stat_activity where query like 'select repeat(''x'', 1000)%'", 'test'])).stdout.trim(),
      { timeout: 10_000, interval: 250 },
    )
    .toBe('0')
}, 90_000)
