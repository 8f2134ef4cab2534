/** File sink: JSON lines, mode 0600, size-based rotation that keeps a fixed number of old files. */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { FileSink } from '../../../../src/audit/sinks/file.js'
import { SinkError } from '../../../../src/audit/sinks/sink.js'
import { MemoryOutbox } from './fakes.js'

let dir: string

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'agw-file-sink-'))
})
afterEach(() => {
  chmodSync(dir, 0o700)
  rmSync(dir, { recursive: true, force: true })
})

function lines(path: string): Record<string, unknown>[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
}

describe('FileSink', () => {
  it('appends one JSON event per line to a file only its owner can read, creating the directory', async () => {
    const path = join(dir, 'sub', 'audit.jsonl')
    const events = new MemoryOutbox().add(3)
    const sink = new FileSink({ name: 'f', path })
    await sink.deliver(events.slice(0, 2))
    await sink.deliver(events.slice(2))
    await sink.close()
    expect(lines(path)).toEqual(events.map((e) => JSON.parse(JSON.stringify(e))))
    expect(statSync(path).mode & 0o777).toBe(0o600)
  })

  it('continues an existing file after a restart', async () => {
    const path = join(dir, 'audit.jsonl')
    const events = new MemoryOutbox().add(4)
    const a = new FileSink({ name: 'f', path })
    await a.deliver(events.slice(0, 2))
    await a.close()
    const b = new FileSink({ name: 'f', path })
    await b.deliver(events.slice(2))
    await b.close()
    expect(lines(path).map((e) => e.seq)).toEqual([1, 2, 3, 4])
  })

  it('rotates when the file would pass maxBytes and keeps `keep` old files', async () => {
    const path = join(dir, 'audit.jsonl')
    const store = new MemoryOutbox()
    const events = store.add(40)
    const lineBytes = Buffer.byteLength(`${JSON.stringify(events[0])}\n`)
    const sink = new FileSink({ name: 'f', path, maxBytes: lineBytes * 5, keep: 2 })
    for (let i = 0; i < 40; i += 4) await sink.deliver(events.slice(i, i + 4))
    await sink.close()
    expect(existsSync(`${path}.1`)).toBe(true)
    expect(existsSync(`${path}.2`)).toBe(true)
    expect(existsSync(`${path}.3`)).toBe(false)
    for (const p of [path, `${path}.1`, `${path}.2`]) expect(statSync(p).size).toBeLessThanOrEqual(lineBytes * 5)
    // The newest events, in order across the files: oldest kept file first.
    const kept = [...lines(`${path}.2`), ...lines(`${path}.1`), ...lines(path)].map((e) => e.seq)
    expect(kept).toEqual(Array.from({ length: kept.length }, (_, i) => 40 - kept.length + 1 + i))
    expect(kept.at(-1)).toBe(40)
  })

  it('with keep 0 the file starts over', async () => {
    const path = join(dir, 'audit.jsonl')
    const events = new MemoryOutbox().add(6)
    const lineBytes = Buffer.byteLength(`${JSON.stringify(events[0])}\n`)
    const sink = new FileSink({ name: 'f', path, maxBytes: lineBytes * 3, keep: 0 })
    for (const e of events) await sink.deliver([e])
    await sink.close()
    expect(existsSync(`${path}.1`)).toBe(false)
    expect(lines(path).map((e) => e.seq)).toEqual([4, 5, 6])
  })

  it('a file it cannot write fails the delivery (the runner retries), and works once it can', async () => {
    const path = join(dir, 'ro', 'audit.jsonl')
    const sink = new FileSink({ name: 'f', path })
    const events = new MemoryOutbox().add(1)
    writeFileSync(join(dir, 'ro'), 'a file where the directory should be')
    await expect(sink.deliver(events)).rejects.toBeInstanceOf(SinkError)
    rmSync(join(dir, 'ro'))
    await sink.deliver(events)
    await sink.close()
    expect(lines(path)).toHaveLength(1)
  })
})
