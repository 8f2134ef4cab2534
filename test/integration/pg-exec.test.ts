/**
 * The walking skeleton end to end: the built `agw` CLI, a gateway started from YAML, the real OIDC
 * issuer from the global setup, the machine's PostgreSQL (127.0.0.1:5432), real psql, pgbench and
 * node-postgres. What a user sees: output, exit codes, and what the gateway recorded.
 */
import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { runConnect, type ConnectInfo } from '../../src/client/connect.js'
import { GatewayClient } from '../../src/client/gateway-client.js'
import { StaticTokenProvider } from '../../src/client/tokens.js'
import type { AuditEvent } from '../../src/recording/events.js'
import { startTestGateway, runAgw, type TestGateway } from '../support/gateway.js'
import { connectTestIssuer } from '../support/oidc.js'

const execFileP = promisify(execFile)
const idp = connectTestIssuer(inject('issuerUrl'))

let gw: TestGateway
let token: string
let env: Record<string, string>

async function eventsOf(sessionId: string): Promise<AuditEvent[]> {
  await gw.gateway.events.flush()
  return gw.gateway.store.listEvents({ sessionId })
}

async function lastSessionId(): Promise<string> {
  await gw.gateway.events.flush()
  const [s] = await gw.gateway.store.listSessions({ limit: 1 })
  if (!s) throw new Error('no session recorded')
  return s.id
}

beforeAll(async () => {
  gw = await startTestGateway(`
identity:
  issuers: [{ issuer: ${idp.issuer}, audience: agw }]
connections:
  - name: pg
    type: postgres
    target: { host: 127.0.0.1, port: 5432, database: test, user: postgres }
    allow: [agents]
  - name: pg-admin
    type: postgres
    target: { host: 127.0.0.1, port: 5432, database: postgres, user: postgres }
    allow: [dba]
`)
  token = await idp.agentToken()
  env = { AGW_GATEWAY: gw.url, AGW_TOKEN: token }
})

afterAll(async () => {
  await gw?.stop()
})

describe('agw exec -- psql', () => {
  it('prints the query result and exits 0', async () => {
    const r = await runAgw(['exec', '-c', 'pg', '--', 'psql', '-At', '-c', 'select 42'], env)
    expect(r.stderr).toBe('')
    expect(r.stdout).toBe('42\n')
    expect(r.code).toBe(0)
  })

  it("passes psql's exit code through", async () => {
    const r = await runAgw(['exec', '-c', 'pg', '--', 'psql', '-v', 'ON_ERROR_STOP=1', '-At', '-c', 'select 1/0'], env)
    expect(r.stderr).toContain('division by zero')
    expect(r.code).toBe(1)
    const sh = await runAgw(['exec', '-c', 'pg', '--', 'sh', '-c', 'exit 7'], env)
    expect(sh.code).toBe(7)
  })

  it('exports the environment a PostgreSQL tool needs, with a one-time local password', async () => {
    const r = await runAgw(['exec', '-c', 'pg', '--', 'sh', '-c', 'echo "$PGHOST $PGPORT $PGDATABASE $PGSSLMODE ${#PGPASSWORD} $AGW_SESSION_ID $AGW_PG_URL ${AGW_TOKEN:-no-token}"'], env)
    expect(r.code).toBe(0)
    const [host, port, db, sslmode, pwlen, session, url, tok] = r.stdout.trim().split(' ')
    expect(host).toBe('127.0.0.1')
    expect(Number(port)).toBeGreaterThan(0)
    expect(db).toBe('test')
    expect(sslmode).toBe('disable')
    expect(Number(pwlen)).toBeGreaterThanOrEqual(20)
    expect(session).toMatch(/^[0-9a-f-]{36}$/)
    expect(url).toMatch(/^postgres:\/\/[^:]+:[^@]+@127\.0\.0\.1:\d+\/test/)
    // The bearer token is not handed to the wrapped command.
    expect(tok).toBe('no-token')
  })

  it('refuses a wrong local password: only the command agw started can use the port', async () => {
    const r = await runAgw(['exec', '-c', 'pg', '--', 'sh', '-c', 'PGPASSWORD=guess psql -At -c "select 1"'], env)
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain('wrong local password')
  })

  it('records the session, the connection, the query and its rows', async () => {
    const r = await runAgw(['exec', '-c', 'pg', '--agent', 'test-agent', '--', 'psql', '-At', '-c', "select 'hello' as greeting, 7 as n"], env)
    expect(r.code).toBe(0)
    const id = await lastSessionId()
    const session = await gw.gateway.store.getSession(id)
    expect(session).toMatchObject({ status: 'ended', exitCode: 0, agent: 'test-agent', connections: ['pg'] })
    expect(session?.identity).toMatchObject({ kind: 'agent', groups: ['agents'] })
    await expect.poll(async () => (await eventsOf(id)).map((e) => e.type)).toEqual([
      'session.start',
      'connection.open',
      'query',
      'query.result',
      'connection.close',
      'session.end',
    ])
    const events = await eventsOf(id)
    expect(events.find((e) => e.type === 'query')?.data).toMatchObject({ sql: "select 'hello' as greeting, 7 as n", protocol: 'simple' })
    expect(events.find((e) => e.type === 'query.result')?.data).toMatchObject({ tag: 'SELECT 1', rowCount: 1, columns: ['greeting', 'n'], rows: [['hello', '7']] })
    expect(events.find((e) => e.type === 'session.end')?.data).toMatchObject({ status: 'ended', exitCode: 0 })
  })

  it('keeps at most the configured number of rows per result in the recording, and counts them all', async () => {
    const r = await runAgw(['exec', '-c', 'pg', '--', 'psql', '-At', '-c', 'select g from generate_series(1, 500) g'], env)
    expect(r.stdout.split('\n').filter(Boolean)).toHaveLength(500)
    const result = (await eventsOf(await lastSessionId())).find((e) => e.type === 'query.result')
    expect(result?.data).toMatchObject({ rowCount: 500, truncated: true })
    expect((result?.data.rows as unknown[]).length).toBe(100)
  })

  it('refuses a connection the identity may not use, with exit 77', async () => {
    const r = await runAgw(['exec', '-c', 'pg-admin', '--', 'psql', '-c', 'select 1'], env)
    expect(r.code).toBe(77)
    expect(r.stderr).toContain('pg-admin')
    // The gateway recorded the refused attempt.
    await gw.gateway.events.flush()
    const failed = await gw.gateway.store.listEvents({ types: ['auth.failed'] })
    expect(failed.map((e) => String(e.data.reason))).toContain('not allowed to use pg-admin')
  })

  it('works interactively under a pseudo-terminal', async () => {
    const pty = await import('node-pty')
    const term = pty.spawn(process.execPath, [join(process.cwd(), 'bin/run.js'), 'exec', '-c', 'pg', '--', 'psql', '-X'], {
      cols: 100,
      rows: 30,
      env: { ...process.env, ...env, CI: 'true', TERM: 'xterm', PAGER: 'cat' } as Record<string, string>,
    })
    let out = ''
    term.onData((d) => (out += d))
    const exit = new Promise<number>((resolve) => term.onExit((e) => resolve(e.exitCode)))
    await expect.poll(() => out, { timeout: 20_000 }).toMatch(/test=[#>]/)
    term.write('select 40 + 2 as answer;\r')
    await expect.poll(() => out, { timeout: 10_000 }).toMatch(/answer[\s\S]*42/)
    term.write('\\q\r')
    expect(await exit).toBe(0)
  })
})

describe('agw connect', () => {
  let info: ConnectInfo
  let stop: () => void
  let done: Promise<number>

  beforeAll(async () => {
    const client = new GatewayClient(gw.url, new StaticTokenProvider(token, 'test'))
    let ready!: (i: ConnectInfo) => void
    const readyP = new Promise<ConnectInfo>((r) => (ready = r))
    done = runConnect({ client, connection: 'pg', onReady: ready, say: () => {}, until: new Promise<void>((r) => (stop = r)) })
    info = await readyP
  })

  afterAll(async () => {
    stop()
    await done
  })

  it('prints a postgres URL that node-postgres can use (extended protocol, parameters)', async () => {
    expect(info.url).toBe(`postgres://${info.user}:${info.password}@127.0.0.1:${info.port}/test?sslmode=disable`)
    const client = new pg.Client({ connectionString: info.url })
    await client.connect()
    const r = await client.query('select $1::int + $2::int as sum, $3::text as label', [40, 2, 'x'])
    expect(r.rows).toEqual([{ sum: 42, label: 'x' }])
    await client.end()
    const events = await eventsOf(info.sessionId)
    const q = events.find((e) => e.type === 'query' && e.data.protocol === 'extended')
    expect(q?.data).toMatchObject({ sql: 'select $1::int + $2::int as sum, $3::text as label', params: ['40', '2', 'x'] })
  })

  it('streams COPY in and out', async () => {
    const client = new pg.Client({ connectionString: info.url })
    await client.connect()
    await client.query('create temp table copytest (id int, name text)')
    await client.query("insert into copytest select g, 'name ' || g from generate_series(1, 1000) g")
    const r = await client.query('select count(*)::int as n, sum(id)::int as s from copytest')
    expect(r.rows[0]).toEqual({ n: 1000, s: 500500 })
    await client.end()
    const csv = join(gw.dir, 'out.csv')
    const out = await execFileP('psql', ['-At', '-c', `\\copy (select g, md5(g::text) from generate_series(1,2000) g) to '${csv}' csv`], {
      env: { ...process.env, PGHOST: '127.0.0.1', PGPORT: String(info.port), PGUSER: info.user, PGPASSWORD: info.password, PGDATABASE: 'test' },
    })
    expect(out.stdout).toContain('COPY 2000')
    writeFileSync(join(gw.dir, 'in.csv'), Array.from({ length: 300 }, (_, i) => `${i},row ${i}`).join('\n') + '\n')
    const inp = await execFileP(
      'psql',
      ['-At', '-c', 'create temp table t_in (id int, name text)', '-c', `\\copy t_in from '${join(gw.dir, 'in.csv')}' csv`, '-c', 'select count(*) from t_in'],
      { env: { ...process.env, PGHOST: '127.0.0.1', PGPORT: String(info.port), PGUSER: info.user, PGPASSWORD: info.password, PGDATABASE: 'test' } },
    )
    expect(inp.stdout).toContain('COPY 300')
    expect(inp.stdout.trim().endsWith('300')).toBe(true)
  })

  it('serves pgbench (many connections, prepared protocol)', async () => {
    const script = join(gw.dir, 'bench.sql')
    writeFileSync(script, 'select 1;\n')
    const r = await execFileP('pgbench', ['-n', '-f', script, '-c', '4', '-t', '50', '-M', 'prepared'], {
      env: { ...process.env, PGHOST: '127.0.0.1', PGPORT: String(info.port), PGUSER: info.user, PGPASSWORD: info.password, PGDATABASE: 'test' },
    })
    expect(r.stdout).toMatch(/number of transactions actually processed: 200\/200/)
  })

  it('cancels a running query through the gateway (CancelRequest mapped to the target)', async () => {
    const client = new pg.Client({ connectionString: info.url })
    await client.connect()
    const started = Date.now()
    const query = new pg.Query('select pg_sleep(30)')
    const failed = expect(new Promise((resolve, reject) => query.on('end', resolve).on('error', reject))).rejects.toThrow(/cancel/i)
    void client.query(query)
    // Wait until the query runs on the target, then cancel it the way node-postgres does: a
    // CancelRequest on a new connection with the BackendKeyData the client was given (the gateway's).
    await expect
      .poll(async () => (await execFileP('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-At', '-c', "select count(*) from pg_stat_activity where query = 'select pg_sleep(30)' and state = 'active'", 'test'])).stdout.trim())
      .toBe('1')
    const canceller = new pg.Client({ connectionString: info.url })
    ;(canceller as unknown as { cancel(c: unknown, q: unknown): void }).cancel(client, query)
    await failed
    expect(Date.now() - started).toBeLessThan(25_000)
    await client.end()
  })
})
