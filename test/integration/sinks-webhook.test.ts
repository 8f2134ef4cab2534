/**
 * The webhook sink against a SIEM stand-in: a small HTTP server in this test that can answer 2xx,
 * answer 500, or hold requests without answering (a timeout). With a real gateway, the machine's
 * PostgreSQL and psql through the built CLI: a SIEM that fails and then hangs gets retries with
 * backoff, loses nothing, and never slows the data path. Also the formats and auth headers.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest'
import type { SinkSetOptions } from '../../src/audit/sinks/index.js'
import { parseConfig } from '../../src/config/load.js'
import type { Gateway } from '../../src/gateway/gateway.js'
import { createGateway } from '../../src/gateway/start.js'
import { uuidv7 } from '../../src/ids.js'
import { silentLogger } from '../../src/log.js'
import type { AuditEvent } from '../../src/recording/events.js'
import { runAgw } from '../support/gateway.js'
import { connectTestIssuer } from '../support/oidc.js'

const idp = connectTestIssuer(inject('issuerUrl'))
const SINKS: SinkSetOptions = { retry: { initialMs: 100, maxMs: 800 }, timeoutMs: 1000, drainMs: 200, wakeDelayMs: 5 }

type Mode = 'ok' | '500' | 'hang'

interface Request {
  path: string
  headers: IncomingMessage['headers']
  body: string
  status: number | 'no answer'
}

/** The SIEM stand-in. Every request is kept; ids count as received only from 2xx answers. */
class Siem {
  mode: Mode = 'ok'
  readonly requests: Request[] = []
  private readonly held = new Set<ServerResponse>()
  private readonly server = createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (d: string) => (body += d))
    req.on('end', () => {
      const r: Request = { path: req.url ?? '', headers: req.headers, body, status: 'no answer' }
      this.requests.push(r)
      if (this.mode === 'hang') {
        this.held.add(res)
        res.on('close', () => this.held.delete(res))
        return
      }
      r.status = this.mode === 'ok' ? 200 : 500
      res.writeHead(r.status, { 'content-type': 'application/json' })
      res.end(this.mode === 'ok' ? '{"text":"Success","code":0}' : '{"error":"indexer unavailable"}')
    })
  })
  url = ''

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r))
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`
  }

  /** Requests being held without an answer right now. */
  get hanging(): number {
    return this.held.size
  }

  accepted(path?: string): Request[] {
    return this.requests.filter((r) => r.status === 200 && (path === undefined || r.path === path))
  }

  /** Event ids from accepted jsonl requests, in arrival order (duplicates kept). */
  acceptedIds(path?: string): string[] {
    return this.accepted(path).flatMap((r) =>
      r.body
        .split('\n')
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as { id: string }).id),
    )
  }

  async stop(): Promise<void> {
    for (const res of this.held) res.destroy()
    this.server.closeAllConnections()
    await new Promise<void>((r) => this.server.close(() => r()))
  }
}

const dirs: string[] = []
const gateways: Gateway[] = []
let siem: Siem
let token: string

async function startGateway(sinksYaml: string, extraConfig = ''): Promise<Gateway> {
  const dir = mkdtempSync(join(tmpdir(), 'agw-webhook-'))
  dirs.push(dir)
  const config = parseConfig(
    `listen: 127.0.0.1:0
storage: sqlite:./agw.db
encryption: { keyFile: ./agw.key }
identity:
  issuers: [{ issuer: ${idp.issuer}, audience: agw }]
connections:
  - name: pg
    type: postgres
    target: { host: 127.0.0.1, port: 5432, database: test, user: postgres }
    allow: [agents]
${extraConfig}audit:
  sinks:
${sinksYaml}`,
    'test.yaml',
    dir,
  )
  const gw = createGateway(config, { logger: silentLogger, sinks: SINKS })
  gateways.push(gw)
  await gw.start()
  return gw
}

async function allEvents(gw: Gateway): Promise<AuditEvent[]> {
  await gw.events.flush()
  return gw.store.listEvents({ afterSeq: 0, limit: 1_000_000 })
}

function psql(gw: Gateway, sql: string) {
  return runAgw(['exec', '-c', 'pg', '--', 'psql', '-At', '-c', sql], { AGW_GATEWAY: gw.url, AGW_TOKEN: token })
}

beforeAll(async () => {
  token = await idp.agentToken()
})

afterEach(async () => {
  for (const g of gateways.splice(0)) await g.stop()
  await siem?.stop()
})

afterAll(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
  delete process.env.AGW_TEST_SIEM_TOKEN
})

describe('webhook sink faults', () => {
  it('a SIEM answering 500 and then timing out: retries with backoff, nothing lost, psql through the gateway unaffected', async () => {
    siem = new Siem()
    await siem.start()
    siem.mode = '500'
    process.env.AGW_TEST_SIEM_TOKEN = 'siem-test-token'
    const gw = await startGateway(`    - { type: webhook, url: "${siem.url}/hook", format: jsonl, token: env:AGW_TEST_SIEM_TOKEN }\n`)

    const first = await psql(gw, 'select 42')
    expect(first.stdout).toBe('42\n')
    expect(first.code).toBe(0)
    // The SIEM refuses: the sink keeps trying (with growing delays, see runner.test.ts) and keeps the events.
    await expect.poll(() => siem.requests.length, { timeout: 20_000 }).toBeGreaterThanOrEqual(3)
    expect(siem.accepted()).toHaveLength(0)
    expect(gw.sinks.status()[0]).toMatchObject({ cursor: 0, lastError: expect.stringContaining('answered 500') })

    // Now the SIEM takes requests and never answers.
    siem.mode = 'hang'
    await expect.poll(() => siem.hanging, { timeout: 20_000 }).toBeGreaterThan(0)
    const during = await psql(gw, 'select 43')
    expect(during.stdout).toBe('43\n')
    expect(during.code).toBe(0)
    // The query went through while the sink had delivered nothing at all.
    expect(siem.accepted()).toHaveLength(0)
    await expect.poll(() => gw.sinks.status()[0]?.lastError, { timeout: 20_000 }).toMatch(/no answer within 1000 ms/)

    // The SIEM recovers: everything the gateway recorded arrives, in order per session.
    siem.mode = 'ok'
    const stored = await allEvents(gw)
    expect(stored.filter((e) => e.type === 'query').length).toBeGreaterThanOrEqual(2)
    await expect
      .poll(
        async () => {
          const got = new Set(siem.acceptedIds('/hook'))
          return (await allEvents(gw)).filter((e) => !got.has(e.id)).length
        },
        { timeout: 30_000, interval: 200 },
      )
      .toBe(0)
    const all = await allEvents(gw)
    const byId = new Map(all.map((e) => [e.id, e]))
    const firstSeen = [...new Set(siem.acceptedIds('/hook'))]
    for (const s of new Set(all.map((e) => e.sessionId))) {
      const order = firstSeen.filter((id) => byId.get(id)?.sessionId === s).map((id) => byId.get(id)?.seq as number)
      expect(order.length).toBeGreaterThan(0)
      expect(order).toEqual([...order].sort((a, b) => a - b))
    }
    // Retries happened: more requests than accepted ones, and the accepted ones carried the token.
    expect(siem.requests.length).toBeGreaterThan(siem.accepted().length)
    for (const r of siem.requests) {
      expect(r.headers.authorization).toBe('Bearer siem-test-token')
      expect(r.headers['content-type']).toBe('application/x-ndjson')
    }
    await expect.poll(() => gw.sinks.status()[0]?.cursor, { timeout: 10_000 }).toBe((await allEvents(gw)).at(-1)?.seq)
    expect(gw.sinks.status()[0]?.failures).toBe(0)
  })
})

describe('webhook formats and auth headers', () => {
  it('splunk-hec (Authorization: Splunk), ocsf and cef bodies, batched, one event per line', async () => {
    siem = new Siem()
    await siem.start()
    process.env.AGW_TEST_SIEM_TOKEN = 'hec-token-1'
    const gw = await startGateway(
      [
        `    - { type: webhook, url: "${siem.url}/services/collector/event", format: splunk-hec, token: env:AGW_TEST_SIEM_TOKEN }`,
        `    - { type: webhook, url: "${siem.url}/ocsf", format: ocsf, token: literal-bearer }`,
        `    - { type: webhook, url: "${siem.url}/cef", format: cef }`,
        '',
      ].join('\n'),
    )
    const session = uuidv7()
    const emitted = Array.from({ length: 30 }, (_, i) => gw.events.emit({ type: 'query', sessionId: session, connection: 'pg', data: { queryId: i, sql: `select ${i}` } }))
    const want = emitted.map((e) => e.id)
    const lines = (path: string) => siem.accepted(path).flatMap((r) => r.body.split('\n').filter(Boolean))

    await expect.poll(() => lines('/services/collector/event').length, { timeout: 15_000 }).toBeGreaterThanOrEqual(30)
    const hec = lines('/services/collector/event').map((l) => JSON.parse(l) as { time: number; sourcetype: string; event: AuditEvent })
    expect(hec.map((h) => h.event.id).filter((id) => want.includes(id))).toEqual(want)
    expect(hec[0]).toMatchObject({ sourcetype: 'agw:audit', source: 'agw' })
    for (const r of siem.accepted('/services/collector/event')) expect(r.headers.authorization).toBe('Splunk hec-token-1')
    expect(siem.accepted('/services/collector/event').length).toBeLessThan(30) // batched

    await expect.poll(() => lines('/ocsf').length, { timeout: 15_000 }).toBeGreaterThanOrEqual(30)
    const ocsf = lines('/ocsf').map((l) => JSON.parse(l) as { class_uid: number; type_uid: number; metadata: { uid: string } })
    expect(ocsf.map((o) => o.metadata.uid).filter((id) => want.includes(id))).toEqual(want)
    expect(ocsf.every((o) => o.class_uid === 6005 && o.type_uid === 600504)).toBe(true)
    for (const r of siem.accepted('/ocsf')) expect(r.headers.authorization).toBe('Bearer literal-bearer')

    await expect.poll(() => lines('/cef').length, { timeout: 15_000 }).toBeGreaterThanOrEqual(30)
    const cef = lines('/cef')
    expect(cef.every((l) => l.startsWith('CEF:0|agw|agw|'))).toBe(true)
    expect(cef.map((l) => /externalId=(\S+)/.exec(l)?.[1]).filter((id) => want.includes(id as string))).toEqual(want)
    for (const r of siem.accepted('/cef')) {
      expect(r.headers.authorization).toBeUndefined()
      expect(r.headers['content-type']).toBe('text/plain; charset=utf-8')
    }
  })

  it('a webhook over plain http to a non-loopback host is refused at start (exit 65)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agw-webhook-'))
    dirs.push(dir)
    const config = parseConfig(
      `storage: sqlite:./agw.db\nencryption: { keyFile: ./agw.key }\nidentity:\n  issuers: [{ issuer: ${idp.issuer}, audience: agw }]\naudit:\n  sinks:\n    - { type: webhook, url: "http://siem.example/hook" }\n`,
      'test.yaml',
      dir,
    )
    expect(() => createGateway(config, { logger: silentLogger })).toThrow(expect.objectContaining({ code: 'bad_input', message: expect.stringMatching(/audit\.sinks\[0\].*https/) }))
  })
})
