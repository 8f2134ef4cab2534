/** The Store's sink cursors (SqliteStore): 0 before a sink acknowledged anything, kept per sink, kept across reopening. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { SqliteStore } from '../../../../src/storage/sqlite.js'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

describe('sink cursors in the SQLite store', () => {
  it('start at 0, are kept per sink and survive reopening the store', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agw-cursor-'))
    dirs.push(dir)
    const path = join(dir, 'agw.db')
    const masterKey = randomBytes(32)
    const a = new SqliteStore(path, { masterKey })
    expect(await a.getSinkCursor('webhook:jsonl:https://siem/x')).toBe(0)
    await a.setSinkCursor('webhook:jsonl:https://siem/x', 41)
    await a.setSinkCursor('webhook:jsonl:https://siem/x', 42)
    await a.setSinkCursor('stdout', 7)
    await a.close()
    const b = new SqliteStore(path, { masterKey })
    expect(await b.getSinkCursor('webhook:jsonl:https://siem/x')).toBe(42)
    expect(await b.getSinkCursor('stdout')).toBe(7)
    expect(await b.getSinkCursor('file:/other')).toBe(0)
    await b.close()
  })
})
