/** `agw audit export` without the CLI: --since parsing and the paged, filtered, formatted output. */
import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { exportEvents, parseSince } from '../../../../src/audit/formats/export.js'
import { AgwError } from '../../../../src/errors.js'
import { MemoryOutbox } from '../sinks/fakes.js'

async function run(store: MemoryOutbox, format: 'jsonl' | 'ocsf' | 'cef', since: string, pageSize?: number): Promise<{ count: number; lines: string[] }> {
  const out = new PassThrough()
  let text = ''
  out.on('data', (d: Buffer) => (text += d.toString()))
  const count = await exportEvents(store, { format, since, ...(pageSize ? { pageSize } : {}) }, out)
  return { count, lines: text.split('\n').filter(Boolean) }
}

describe('parseSince', () => {
  const now = Date.parse('2024-05-02T00:00:00Z')
  it('takes a duration back from now', () => {
    expect(parseSince('24h', now)).toBe('2024-05-01T00:00:00.000Z')
    expect(parseSince('90m', now)).toBe('2024-05-01T22:30:00.000Z')
    expect(parseSince('7d', now)).toBe('2024-04-25T00:00:00.000Z')
  })
  it('takes an ISO date (UTC midnight) or date-time', () => {
    expect(parseSince('2024-05-01')).toBe('2024-05-01T00:00:00.000Z')
    expect(parseSince('2024-05-01T12:30:00Z')).toBe('2024-05-01T12:30:00.000Z')
    expect(parseSince('2024-05-01T12:30:00+02:00')).toBe('2024-05-01T10:30:00.000Z')
  })
  it('refuses anything else as bad input', () => {
    for (const bad of ['yesterday', '2024-13-45', '10 minutes', '']) {
      expect(() => parseSince(bad)).toThrow(AgwError)
    }
  })
})

describe('exportEvents', () => {
  it('writes every event at or after --since, across pages, in store order', async () => {
    const store = new MemoryOutbox()
    const events = store.add(25)
    const since = events[10]!.time
    const { count, lines } = await run(store, 'jsonl', since, 7)
    expect(count).toBe(15)
    expect(lines.map((l) => JSON.parse(l).seq)).toEqual(events.slice(10).map((e) => e.seq))
  })

  it('ocsf writes one OCSF event per line; cef one CEF line per event', async () => {
    const store = new MemoryOutbox()
    store.add(3)
    const ocsf = await run(store, 'ocsf', '2000-01-01')
    expect(ocsf.lines.map((l) => JSON.parse(l).class_uid)).toEqual([6005, 6005, 6005])
    expect(ocsf.lines.map((l) => JSON.parse(l).metadata.uid)).toEqual(['id-1', 'id-2', 'id-3'])
    const cef = await run(store, 'cef', '2000-01-01')
    expect(cef.lines).toHaveLength(3)
    for (const l of cef.lines) expect(l).toMatch(/^CEF:0\|agw\|agw\|[^|]+\|query\|/)
  })

  it('writes nothing when nothing is that recent', async () => {
    const store = new MemoryOutbox()
    store.add(3)
    expect(await run(store, 'jsonl', '2999-01-01')).toEqual({ count: 0, lines: [] })
  })
})
