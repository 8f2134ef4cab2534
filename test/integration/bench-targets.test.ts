/**
 * The benchmark's paths to PostgreSQL (bench/targets), each reached the way pgbench reaches it:
 * pgbouncer started from the generated ini with a SCRAM-only userlist, and agw as a gateway plus
 * `agw connect` (the built CLI) with a token from the embedded issuer. A harness whose paths do not
 * work would measure errors, so this checks that each serves a query, and that agw recorded it.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CONFIGS } from '../../bench/configs.js'
import { psql } from '../../bench/lib/postgres.js'
import { run } from '../../bench/lib/proc.js'
import { AGENT_GROUP, startAgw } from '../../bench/targets/agw.js'
import { startPgbouncer } from '../../bench/targets/pgbouncer.js'
import type { BenchConfig } from '../../bench/targets/target.js'
import { startIssuer, type RunningIssuer } from '../../src/demo/issuer.js'

const config = (kind: BenchConfig['kind']): BenchConfig => {
  const c = CONFIGS.find((x) => x.kind === kind)
  if (!c) throw new Error(`no ${kind} configuration`)
  return c
}

let dir: string
let issuer: RunningIssuer
const client = { id: 'bench-test-agent', secret: 'bench-test-secret' }
const hasPgbouncer = (await run('pgbouncer', ['--version'])).code === 0

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'agw-bench-test-'))
  issuer = await startIssuer({ audience: 'agw-bench', users: [], clients: [{ clientId: client.id, clientSecret: client.secret, groups: [AGENT_GROUP], grants: ['client_credentials'] }] })
})
afterAll(async () => {
  await issuer?.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('bench targets', () => {
  it.skipIf(!hasPgbouncer)('pgbouncer: a SCRAM login with the one-time password serves queries, and a wrong password is refused', async () => {
    const target = await startPgbouncer(config('pgbouncer'), { dir, database: 'postgres', maxClients: 8 })
    try {
      expect(target.processes.get('proxy')).toBeGreaterThan(0)
      expect(await psql(target.endpoint, 'select 40 + 2')).toBe('42')
      await expect(psql({ ...target.endpoint, password: 'wrong' }, 'select 1')).rejects.toThrow(/password authentication failed|SASL authentication failed/)
    } finally {
      expect(await target.stop()).toEqual([])
    }
  })

  it('agw: gateway and `agw connect` serve queries on the local port, and the gateway records them', async () => {
    const target = await startAgw(config('agw'), { dir, database: 'postgres', issuer, client })
    let notes: string[] = []
    try {
      expect(target.processes.get('proxy')).toBeGreaterThan(0)
      expect(target.processes.get('agent')).toBeGreaterThan(0)
      expect(await psql(target.endpoint, 'select 40 + 2')).toBe('42')
      expect(await psql(target.endpoint, 'select current_database()')).toBe('postgres')
    } finally {
      notes = await target.stop()
    }
    expect(notes.filter((n) => /exited/.test(n))).toEqual([])
    expect(notes.join('\n')).toMatch(/\bquery 2\b/)
  })
})
