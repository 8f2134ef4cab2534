/**
 * A denied statement behaves as a statement PostgreSQL itself rejects: the same messages in the
 * same order, the same transaction state, the same rows left in the table. Each scenario runs
 * twice with a raw protocol client: through the gateway (the middle statement is denied by rule)
 * and straight to the server (the middle statement is one the server rejects on its own).
 */
import { execFileSync } from 'node:child_process'
import { connect as netConnect, type Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { runConnect, type ConnectInfo } from '../../src/client/connect.js'
import { GatewayClient } from '../../src/client/gateway-client.js'
import { StaticTokenProvider } from '../../src/client/tokens.js'
import { ScramClient } from '../../src/protocols/postgres/auth.js'
import {
  decodeBackend,
  encodeCancelRequest,
  encodeFrontend,
  encodeSASLInitialResponse,
  encodeSASLResponse,
  encodeStartup,
  MessageFramer,
  type BackendMessage,
  type FrontendMessage,
} from '../../src/protocols/postgres/codec/index.js'
import { connectTestIssuer } from '../support/oidc.js'
import { ScriptedGate, startPolicyGateway, type PolicyGateway } from '../unit/policy/fixtures.js'

const idp = connectTestIssuer(inject('issuerUrl'))
const gate = new ScriptedGate()
let gw: PolicyGateway
let info: ConnectInfo
let stop: () => void
let done: Promise<number>

function direct(sql: string): string {
  return execFileSync('psql', ['-X', '-At', '-h', '127.0.0.1', '-U', 'postgres', '-d', 'test', '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8' }).trim()
}

beforeAll(async () => {
  direct('DROP SCHEMA IF EXISTS agw_proto CASCADE; CREATE SCHEMA agw_proto; CREATE TABLE agw_proto.t (id int)')
  gw = await startPolicyGateway(
    `
identity:
  issuers: [{ issuer: ${idp.issuer}, audience: agw }]
connections:
  - name: pg
    type: postgres
    target: { host: 127.0.0.1, port: 5432, database: test, user: postgres }
    allow: [agents]
    rules:
      - { name: no-ddl, match: { statement: [DROP] }, action: deny, message: schema changes go through migrations }
      - { name: slow-writes, match: { statement: [UPDATE] }, action: review, reviewers: [sre] }
`,
    gate,
  )
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
  direct('DROP SCHEMA IF EXISTS agw_proto CASCADE')
})

/** A raw protocol client: startup (trust or SCRAM), then messages in and out. */
class Raw {
  private readonly framer = new MessageFramer()
  readonly got: BackendMessage[] = []
  pid = 0
  secret: Buffer = Buffer.alloc(0)
  private constructor(private readonly socket: Socket) {}

  static async open(port: number, user: string, password?: string): Promise<Raw> {
    const socket = netConnect(port, '127.0.0.1')
    const raw = new Raw(socket)
    const scram = password ? new ScramClient(password) : undefined
    socket.on('data', (chunk: Buffer) => {
      raw.framer.push(chunk, (f) => {
        const m = decodeBackend(f)
        if (m.type === 'AuthenticationSASL') socket.write(encodeSASLInitialResponse('SCRAM-SHA-256', Buffer.from(scram!.clientFirstMessage())))
        else if (m.type === 'AuthenticationSASLContinue') socket.write(encodeSASLResponse(Buffer.from(scram!.handleServerFirst(m.data.toString()))))
        else if (m.type === 'AuthenticationSASLFinal') scram!.verifyServerFinal(m.data.toString())
        else if (m.type === 'BackendKeyData') {
          raw.pid = m.pid
          raw.secret = m.secret
        } else if (m.type !== 'ParameterStatus' && !m.type.startsWith('Authentication')) raw.got.push(m)
      })
    })
    await new Promise<void>((resolve, reject) => {
      socket.on('error', reject)
      socket.on('connect', () => socket.write(encodeStartup({ user, database: 'test' })))
      const poll = setInterval(() => {
        if (raw.got.some((m) => m.type === 'ReadyForQuery')) {
          clearInterval(poll)
          raw.got.length = 0
          resolve()
        }
      }, 5)
    })
    return raw
  }

  send(...msgs: FrontendMessage[]): void {
    this.socket.write(Buffer.concat(msgs.map((m) => encodeFrontend(m))))
  }

  /** Waits for `n` ReadyForQuery messages and returns (and forgets) everything received. */
  async until(n: number): Promise<BackendMessage[]> {
    await expect.poll(() => this.got.filter((m) => m.type === 'ReadyForQuery').length, { timeout: 20_000 }).toBeGreaterThanOrEqual(n)
    return this.got.splice(0)
  }

  close(): void {
    this.socket.end(Buffer.from([0x58, 0, 0, 0, 4]))
  }

  destroy(): void {
    this.socket.destroy()
  }
}

/** Message types with the transaction status and SQLSTATE shown: what "behaves the same" compares. */
function shape(ms: BackendMessage[]): string[] {
  return ms.map((m) => (m.type === 'ReadyForQuery' ? `Z:${m.status}` : m.type === 'ErrorResponse' ? 'Error' : m.type))
}

const codeOf = (ms: BackendMessage[]) => ms.filter((m) => m.type === 'ErrorResponse').map((m) => (m as { fields: Record<string, string> }).fields.C)

async function scenario(via: 'gateway' | 'server', run: (c: Raw, bad: string) => Promise<BackendMessage[]>): Promise<{ got: BackendMessage[]; rows: string }> {
  direct('TRUNCATE agw_proto.t')
  const c = via === 'gateway' ? await Raw.open(info.port, info.user, info.password) : await Raw.open(5432, 'postgres')
  // The middle statement: refused by agw's rule, or by the server itself.
  const bad = via === 'gateway' ? 'DROP TABLE agw_proto.t' : 'SELECT * FROM agw_proto.no_such_table'
  const got = await run(c, bad)
  c.close()
  return { got, rows: direct('SELECT count(*) FROM agw_proto.t') }
}

describe('a denied statement behaves like one the server rejects', () => {
  it('inside an explicit transaction: the transaction is failed until ROLLBACK, and nothing is kept', async () => {
    const run = async (c: Raw, bad: string) => {
      c.send({ type: 'Query', sql: 'BEGIN' })
      c.send({ type: 'Query', sql: 'INSERT INTO agw_proto.t VALUES (1)' })
      c.send({ type: 'Query', sql: bad })
      c.send({ type: 'Query', sql: 'SELECT 1' })
      c.send({ type: 'Query', sql: 'COMMIT' })
      return c.until(5)
    }
    const gw = await scenario('gateway', run)
    const pg = await scenario('server', run)
    expect(shape(gw.got)).toEqual(shape(pg.got))
    expect(shape(gw.got)).toEqual(['CommandComplete', 'Z:T', 'CommandComplete', 'Z:T', 'Error', 'Z:E', 'Error', 'Z:E', 'CommandComplete', 'Z:I'])
    expect(codeOf(gw.got)).toEqual(['42501', '25P02'])
    expect(gw.got.find((m) => m.type === 'CommandComplete' && m.tag === 'ROLLBACK')).toBeDefined()
    expect([gw.rows, pg.rows]).toEqual(['0', '0'])
  })

  it('in a pipelined extended batch: error at the denied message, the rest skipped until Sync, the implicit transaction rolled back', async () => {
    const run = async (c: Raw, bad: string) => {
      const stmt = (sql: string): FrontendMessage[] => [
        { type: 'Parse', name: '', sql, paramTypes: [] },
        { type: 'Bind', portal: '', statement: '', paramFormats: [], params: [], resultFormats: [] },
        { type: 'Execute', portal: '', maxRows: 0 },
      ]
      c.send(...stmt('INSERT INTO agw_proto.t VALUES (1)'), ...stmt(bad), ...stmt('INSERT INTO agw_proto.t VALUES (2)'), { type: 'Sync' }, ...stmt('SELECT count(*) FROM agw_proto.t'), { type: 'Sync' })
      return c.until(2)
    }
    const gw = await scenario('gateway', run)
    const pg = await scenario('server', run)
    expect(shape(gw.got)).toEqual(shape(pg.got))
    expect(shape(gw.got)).toEqual(['ParseComplete', 'BindComplete', 'CommandComplete', 'Error', 'Z:I', 'ParseComplete', 'BindComplete', 'DataRow', 'CommandComplete', 'Z:I'])
    expect(codeOf(gw.got)).toEqual(['42501'])
    const count = gw.got.find((m) => m.type === 'DataRow') as { values: Buffer[] }
    expect(count.values[0]?.toString()).toBe('0')
    expect([gw.rows, pg.rows]).toEqual(['0', '0'])
  })

  it('a simple Query after a denied extended message, before Sync, is skipped as the server skips it', async () => {
    const run = async (c: Raw, bad: string) => {
      c.send({ type: 'Parse', name: '', sql: bad, paramTypes: [] }, { type: 'Query', sql: 'INSERT INTO agw_proto.t VALUES (9)' }, { type: 'Sync' }, { type: 'Query', sql: 'SELECT 1' })
      return c.until(2)
    }
    const gw = await scenario('gateway', run)
    const pg = await scenario('server', run)
    expect(shape(gw.got)).toEqual(shape(pg.got))
    expect(shape(gw.got)).toEqual(['Error', 'Z:I', 'RowDescription', 'DataRow', 'CommandComplete', 'Z:I'])
    expect([gw.rows, pg.rows]).toEqual(['0', '0'])
  })

  it('in an extended batch inside a transaction block: the block is failed', async () => {
    const run = async (c: Raw, bad: string) => {
      c.send({ type: 'Query', sql: 'BEGIN' })
      c.send({ type: 'Parse', name: 'x', sql: bad, paramTypes: [] }, { type: 'Describe', target: 'S', name: 'x' }, { type: 'Sync' })
      c.send({ type: 'Query', sql: 'ROLLBACK' })
      return c.until(3)
    }
    const gw = await scenario('gateway', run)
    const pg = await scenario('server', run)
    expect(shape(gw.got)).toEqual(shape(pg.got))
    expect(shape(gw.got)).toEqual(['CommandComplete', 'Z:T', 'Error', 'Z:E', 'CommandComplete', 'Z:I'])
  })
})

describe('standard_conforming_strings off cannot hide a statement inside what agw reads as a string', () => {
  it("reads text with a backslash as the server does while the session has it off (the server reads 'a\\', ' as one string)", async () => {
    direct('TRUNCATE agw_proto.t')
    const c = await Raw.open(info.port, info.user, info.password)
    c.send({ type: 'Query', sql: 'SET standard_conforming_strings = off' }, { type: 'Query', sql: "SELECT 'a\\', '; DROP TABLE agw_proto.t; --'" })
    const got = await c.until(2)
    const err = got.find((m) => m.type === 'ErrorResponse') as { fields: Record<string, string> }
    expect(err.fields.C).toBe('42501')
    // Read as the server reads it, the DROP is a statement of its own: the rule for DROP denies it.
    expect(err.fields.M).toContain('DROP')
    c.send({ type: 'Query', sql: 'SET standard_conforming_strings = on' }, { type: 'Query', sql: "SELECT 'a\\b'" })
    const after = await c.until(2)
    expect((after.find((m) => m.type === 'DataRow') as { values: Buffer[] }).values[0]?.toString()).toBe('a\\b')
    c.close()
    expect(direct("SELECT count(*) FROM pg_tables WHERE schemaname = 'agw_proto' AND tablename = 't'")).toBe('1')
  })
})

describe('review hold over the wire', () => {
  it('a CancelRequest withdraws a held statement; the client gets an error and the session goes on', async () => {
    const c = await Raw.open(info.port, info.user, info.password)
    c.send({ type: 'Query', sql: 'UPDATE agw_proto.t SET id = 2 WHERE id = 1 -- hold-me' })
    await expect.poll(() => c.got.some((m) => m.type === 'NoticeResponse')).toBe(true)
    expect(gate.pending).toHaveLength(1)
    const cancel = netConnect(info.port, '127.0.0.1', () => cancel.end(encodeCancelRequest(c.pid, c.secret)))
    const got = await c.until(1)
    expect(gate.withdrawn).toHaveLength(1)
    const err = got.find((m) => m.type === 'ErrorResponse') as { fields: Record<string, string> }
    expect(err.fields.C).toBe('42501')
    expect(err.fields.M).toMatch(/^agw: review rev-\d+ withdrawn; the statement held by rule "slow-writes" was not run$/)
    c.send({ type: 'Query', sql: 'SELECT 7' })
    const after = await c.until(1)
    expect((after.find((m) => m.type === 'DataRow') as { values: Buffer[] }).values[0]?.toString()).toBe('7')
    c.close()
  })

  it('a client that goes away while its statement is held withdraws the review', async () => {
    const c = await Raw.open(info.port, info.user, info.password)
    const before = gate.withdrawn.length
    c.send({ type: 'Query', sql: 'UPDATE agw_proto.t SET id = 3 WHERE id = 1 -- hold-me' })
    await expect.poll(() => gate.pending.length).toBe(1)
    c.destroy()
    await expect.poll(() => gate.withdrawn.length).toBe(before + 1)
    expect(gate.pending).toEqual([])
  })

  it('later statements wait behind the held one and run after it, in order', async () => {
    direct('TRUNCATE agw_proto.t; INSERT INTO agw_proto.t VALUES (1)')
    const c = await Raw.open(info.port, info.user, info.password)
    c.send({ type: 'Query', sql: 'UPDATE agw_proto.t SET id = 5 WHERE id = 1 -- hold-me' }, { type: 'Query', sql: 'SELECT id FROM agw_proto.t' })
    await expect.poll(() => gate.pending.length).toBe(1)
    expect(c.got.filter((m) => m.type === 'ReadyForQuery')).toHaveLength(0)
    gate.release(gate.pending[0]!)
    const got = await c.until(2)
    expect(shape(got)).toEqual(['NoticeResponse', 'CommandComplete', 'Z:I', 'RowDescription', 'DataRow', 'CommandComplete', 'Z:I'])
    expect((got.find((m) => m.type === 'DataRow') as { values: Buffer[] }).values[0]?.toString()).toBe('5')
    c.close()
  })
})
