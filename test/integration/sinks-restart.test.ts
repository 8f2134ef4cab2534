/**
 * A gateway restart resumes delivery at the sink's cursor: nothing acknowledged before is sent
 * again, nothing left unacknowledged is lost. Three gateway runs on one store directory, delivering
 * to a SIEM stand-in (a small HTTP server in this test) that accepts, then refuses, then accepts.
 */
import { createServer } from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { parseConfig } from '../../src/config/load.js'
import type { Gateway } from '../../src/gateway/gateway.js'
import { createGateway } from '../../src/gateway/start.js'
import { uuidv7 } from '../../src/ids.js'
import { silentLogger } from '../../src/log.js'

const dir = mkdtempSync(join(tmpdir(), 'agw-sink-restart-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Accepted batches: the ids of each 2xx request, in arrival order. */
const batches: { ids: string[]; status: number }[] = []
let status = 200
const siem = createServer((req, res) => {
  let body = ''
  req.on('data', (d: Buffer) => (body += d.toString()))
  req.on('end', () => {
    batches.push({ status, ids: body.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { id: string }).id) })
    res.writeHead(status).end()
  })
})
afterAll(() => new Promise<void>((r) => siem.close(() => r())))

async function startGateway(url: string): Promise<Gateway> {
  const config = parseConfig(
    `listen: 127.0.0.1:0
storage: sqlite:./agw.db
encryption: { keyFile: ./agw.key }
identity:
  issuers: [{ issuer: ${inject('issuerUrl')}, audience: agw }]
audit:
  sinks:
    - { type: webhook, name: siem, url: "${url}", format: jsonl }
`,
    'test.yaml',
    dir,
  )
  const gw = createGateway(config, { logger: silentLogger, sinks: { retry: { initialMs: 50, maxMs: 300 }, timeoutMs: 2000, drainMs: 300, wakeDelayMs: 5 } })
  await gw.start()
  return gw
}

function emit(gw: Gateway, count: number): string[] {
  const sessionId = uuidv7()
  return Array.from({ length: count }, (_, i) => gw.events.emit({ type: 'query', sessionId, data: { queryId: i, sql: `select ${i}` } }).id)
}

const accepted = (from = 0) => batches.slice(from).filter((b) => b.status === 200).flatMap((b) => b.ids)

describe('a gateway restart', () => {
  it('resumes delivery at the cursor: no redelivery of what was acknowledged, no loss of what was not', async () => {
    await new Promise<void>((r) => siem.listen(0, '127.0.0.1', r))
    const url = `http://127.0.0.1:${(siem.address() as { port: number }).port}/hook`

    // Run 1: everything is delivered and acknowledged.
    const gw1 = await startGateway(url)
    const first = emit(gw1, 10)
    await expect.poll(() => first.every((id) => accepted().includes(id)), { timeout: 15_000 }).toBe(true)
    await gw1.stop()
    const gw1Ids = new Set(accepted())

    // Run 2: the SIEM refuses; the events stay behind the cursor when the gateway stops.
    status = 500
    const gw2 = await startGateway(url)
    const cursorBefore = gw2.sinks.status()[0]?.cursor ?? -1
    expect(cursorBefore).toBeGreaterThan(0)
    const second = emit(gw2, 10)
    await expect.poll(() => batches.filter((b) => b.status === 500 && b.ids.includes(second[0] as string)).length, { timeout: 15_000 }).toBeGreaterThan(0)
    await gw2.stop()

    // Run 3: the SIEM accepts again; delivery starts right after the stored cursor.
    status = 200
    const mark = batches.length
    const gw3 = await startGateway(url)
    expect(gw3.sinks.status()[0]?.cursor).toBe(cursorBefore)
    await expect.poll(() => second.every((id) => accepted(mark).includes(id)), { timeout: 15_000 }).toBe(true)
    const resumed = accepted(mark)
    expect(resumed.filter((id) => gw1Ids.has(id))).toEqual([])
    const stored = await gw3.store.listEvents({ afterSeq: cursorBefore, limit: 1 })
    expect(resumed[0]).toBe(stored[0]?.id)
    await gw3.events.flush()
    const last = (await gw3.store.listEvents({ afterSeq: 0, limit: 100_000 })).at(-1)?.seq
    await expect.poll(() => gw3.store.getSinkCursor('siem'), { timeout: 15_000 }).toBe(last)
    await gw3.stop()
  })
})
