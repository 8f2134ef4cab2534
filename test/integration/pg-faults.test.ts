/**
 * Bad input and faults on the PostgreSQL path (issue 2): each case gets a message a person can act
 * on and the exit code from the SPEC, and the gateway keeps serving everyone else. Targets: a
 * throwaway password-protected cluster (SCRAM and MD5 users, killable) and a port nobody listens on.
 */
import { spawn } from 'node:child_process'
import { createServer, connect as netConnect } from 'node:net'
import WebSocket from 'ws'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { encodeStartup } from '../../src/protocols/postgres/codec/index.js'
import { startPgCluster, type PgCluster } from '../support/pg-cluster.js'
import { AGW_BIN, runAgw, startTestGateway, type TestGateway } from '../support/gateway.js'
import { connectTestIssuer, startTestIssuer } from '../support/oidc.js'

const idp = connectTestIssuer(inject('issuerUrl'))

let cluster: PgCluster
let gw: TestGateway
let env: Record<string, string>
let deadPort: number

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

/** The gateway still serves a normal query: the check after every fault. */
async function stillServing(): Promise<void> {
  const r = await runAgw(['exec', '-c', 'local', '--', 'psql', '-At', '-c', 'select 1'], env)
  expect(r.stdout).toBe('1\n')
  expect(r.code).toBe(0)
}

beforeAll(async () => {
  cluster = await startPgCluster()
  deadPort = await freePort()
  process.env.AGW_TEST_SCRAM_PW = cluster.users.scram.password
  process.env.AGW_TEST_MD5_PW = cluster.users.md5.password
  gw = await startTestGateway(`
identity:
  issuers: [{ issuer: ${idp.issuer}, audience: agw }]
connections:
  - name: local
    type: postgres
    target: { host: 127.0.0.1, port: 5432, database: test, user: postgres }
    allow: [agents]
  - name: scram
    type: postgres
    target: { host: 127.0.0.1, port: ${cluster.port}, database: app, user: ${cluster.users.scram.user}, password: env:AGW_TEST_SCRAM_PW }
    allow: [agents]
  - name: md5
    type: postgres
    target: { host: 127.0.0.1, port: ${cluster.port}, database: app, user: ${cluster.users.md5.user}, password: env:AGW_TEST_MD5_PW }
    allow: [agents]
  - name: wrongpw
    type: postgres
    target: { host: 127.0.0.1, port: ${cluster.port}, database: app, user: ${cluster.users.scram.user}, password: not-the-password }
    allow: [agents]
  - name: down
    type: postgres
    target: { host: 127.0.0.1, port: ${deadPort}, database: app, user: nobody, connectTimeout: 3s }
    allow: [agents]
`)
  // The gateway resolved the env: references at start; keep the passwords out of children's env.
  delete process.env.AGW_TEST_SCRAM_PW
  delete process.env.AGW_TEST_MD5_PW
  env = { AGW_GATEWAY: gw.url, AGW_TOKEN: await idp.agentToken() }
}, 120_000)

afterAll(async () => {
  await gw?.stop()
  await cluster?.stop()
})

describe('target authentication with the stored credentials', () => {
  it('logs in with SCRAM-SHA-256 and with MD5; the client never sees the password', async () => {
    for (const name of ['scram', 'md5']) {
      const r = await runAgw(['exec', '-c', name, '--', 'psql', '-At', '-c', 'select current_user, count(*) from customers'], env)
      expect(r.stderr).toBe('')
      expect(r.stdout).toBe(`${name}_user|3\n`)
      expect(r.code).toBe(0)
    }
    const r = await runAgw(['exec', '-c', 'scram', '--', 'env'], env)
    expect(r.stdout).not.toContain(cluster.users.scram.password)
  })

  it('a wrong stored password: the client gets an error naming the connection, agw exits 69', async () => {
    const r = await runAgw(['exec', '-c', 'wrongpw', '--', 'psql', '-At', '-c', 'select 1'], env)
    expect(r.stderr).toContain('connection "wrongpw"')
    expect(r.stderr).toMatch(/password authentication failed/)
    expect(r.stderr).not.toContain('not-the-password')
    expect(r.code).toBe(69)
  })
})

describe('faults', () => {
  it('the target is down: a PostgreSQL error naming the connection, exit 69', async () => {
    const r = await runAgw(['exec', '-c', 'down', '--', 'psql', '-At', '-c', 'select 1'], env)
    expect(r.stderr).toContain(`connection "down" (127.0.0.1:${deadPort})`)
    expect(r.stderr).toMatch(/ECONNREFUSED/)
    expect(r.code).toBe(69)
    await stillServing()
  })

  it('the target is killed mid-query: the client gets an error, the connection is recorded as ended with it', async () => {
    const run = runAgw(['exec', '-c', 'scram', '--', 'psql', '-At', '-c', 'select pg_sleep(60)'], env, { timeoutMs: 60_000 })
    await expect
      .poll(async () => (await cluster.admin("select count(*) from pg_stat_activity where query = 'select pg_sleep(60)'")).trim(), { timeout: 15_000 })
      .toBe('1')
    await cluster.kill()
    const r = await run
    expect(r.code).toBe(69)
    expect(r.stderr).toMatch(/connection "scram"/)
    await gw.gateway.events.flush()
    const [session] = await gw.gateway.store.listSessions({ connection: 'scram', limit: 1 })
    const events = await gw.gateway.store.listEvents({ sessionId: session!.id })
    const closed = events.find((e) => e.type === 'connection.close')
    expect(closed?.data).toMatchObject({ reason: 'target_closed' })
    expect(String(closed?.data.error)).toMatch(/closed|ECONNRESET/)
    expect(events.find((e) => e.type === 'query.result')?.data.error ?? closed?.data.error).toBeTruthy()
    await cluster.start()
    await stillServing()
    const again = await runAgw(['exec', '-c', 'scram', '--', 'psql', '-At', '-c', 'select 1'], env)
    expect(again.stdout).toBe('1\n')
  })

  it('no token, a token for another audience, an expired token: exit 77 with the reason', async () => {
    const none = await runAgw(['exec', '-c', 'local', '--', 'psql', '-c', 'select 1'], { AGW_GATEWAY: gw.url, AGW_TOKEN: '' })
    expect(none.code).toBe(77)
    expect(none.stderr).toMatch(/AGW_TOKEN/)
    const other = await runAgw(['exec', '-c', 'local', '--', 'psql', '-c', 'select 1'], { AGW_GATEWAY: gw.url, AGW_TOKEN: await idp.agentToken({ audience: 'some-other-api' }) })
    expect(other.code).toBe(77)
    expect(other.stderr).toMatch(/audience/)

    const shortLived = await startTestIssuer({ accessTokenTtlSec: 1 })
    const gw2 = await startTestGateway(`
identity:
  issuers: [{ issuer: ${shortLived.issuer}, audience: agw }]
  clockTolerance: 0s
connections:
  - { name: local, type: postgres, target: { host: 127.0.0.1, port: 5432, database: test, user: postgres }, allow: [agents] }
`)
    try {
      const token = await shortLived.agentToken()
      const exp = JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()).exp as number
      // Wait until the token's exp has passed (this gateway allows no clock skew), then use it.
      await expect.poll(() => Date.now() / 1000 > exp + 1, { timeout: 5000, interval: 200 }).toBe(true)
      const expired = await runAgw(['exec', '-c', 'local', '--', 'psql', '-c', 'select 1'], { AGW_GATEWAY: gw2.url, AGW_TOKEN: token })
      expect(expired.code).toBe(77)
      expect(expired.stderr).toMatch(/expired/)
    } finally {
      await gw2.stop()
      await shortLived.close()
    }
    await gw.gateway.events.flush()
    const failures = await gw.gateway.store.listEvents({ types: ['auth.failed'] })
    expect(failures.map((e) => String(e.data.reason)).join('\n')).toMatch(/audience/)
  })

  it('a message whose length says 2 GB is refused, and the gateway serves the next client', async () => {
    const ws = await openTunnel('local')
    const replies: Buffer[] = []
    ws.on('message', (d, binary) => binary && replies.push(d as Buffer))
    ws.send(encodeStartup({ user: 'x', database: 'test' }))
    await expect.poll(() => Buffer.concat(replies).includes(Buffer.from('Z'))).toBe(true)
    // 'Q' with a length of 0x7fffffff, and no body.
    ws.send(Buffer.from([0x51, 0x7f, 0xff, 0xff, 0xff]))
    const closed = await new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)))
    expect(closed).toBeGreaterThan(0)
    expect(Buffer.concat(replies).toString('latin1')).toMatch(/08P01[\s\S]*length/)
    await stillServing()
  })

  it('bytes that are not PostgreSQL are refused (at the gateway and at the local port)', async () => {
    const ws = await openTunnel('local')
    const replies: Buffer[] = []
    ws.on('message', (d, binary) => binary && replies.push(d as Buffer))
    ws.send(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))
    await new Promise((resolve) => ws.on('close', resolve))
    expect(Buffer.concat(replies).toString('latin1')).toContain('08P01')

    // At the local port of `agw connect`: the local agent answers with an error and keeps serving.
    const child = spawn(process.execPath, [AGW_BIN, 'connect', 'local', '--json'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    try {
      const line = await new Promise<string>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(d.toString())))
      const info = JSON.parse(line) as { port: number; url: string }
      const answer = await new Promise<string>((resolve) => {
        const s = netConnect(info.port, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\n\r\n'))
        let out = ''
        s.on('data', (d) => (out += d.toString('latin1')))
        s.on('close', () => resolve(out))
      })
      expect(answer).toContain('08P01')
      const r = await runAgw(['exec', '-c', 'local', '--', 'psql', info.url, '-At', '-c', 'select 2'], env)
      expect(r.stdout).toBe('2\n')
    } finally {
      child.kill('SIGINT')
      await new Promise((resolve) => child.on('close', resolve))
    }
  })

  it('a malformed session hello gets a clear error and a closed socket; the gateway goes on', async () => {
    const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/v1/session`, { headers: { authorization: `Bearer ${env.AGW_TOKEN}` } })
    await new Promise((resolve, reject) => {
      ws.once('open', resolve)
      ws.once('error', reject)
    })
    const texts: string[] = []
    ws.on('message', (d, binary) => !binary && texts.push(d.toString()))
    ws.send(JSON.stringify({ t: 'hello', agent: 'x', host: 'y', connections: 'local' }))
    const code = await new Promise<number>((resolve) => ws.on('close', (c) => resolve(c)))
    expect(code).toBe(4400)
    expect(JSON.parse(texts[0] as string)).toMatchObject({ t: 'error', code: 'bad_input', message: expect.stringMatching(/malformed hello/) })
    await stillServing()
  })

  it('a client that never finishes its startup is timed out', async () => {
    const ws = await openTunnel('local')
    const started = Date.now()
    const replies: Buffer[] = []
    ws.on('message', (d, binary) => binary && replies.push(d as Buffer))
    await new Promise((resolve) => ws.on('close', resolve))
    expect(Date.now() - started).toBeGreaterThanOrEqual(9_000)
    expect(Buffer.concat(replies).toString('latin1')).toMatch(/no startup message/)
    await stillServing()
  }, 30_000)
})

async function openTunnel(connection: string): Promise<WebSocket> {
  const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/v1/tunnel?connection=${connection}`, { headers: { authorization: `Bearer ${env.AGW_TOKEN}` } })
  await new Promise((resolve, reject) => {
    ws.once('open', resolve)
    ws.once('error', reject)
  })
  return ws
}
