/**
 * The agent's own terminal, recorded by `agw exec` in a pseudo-terminal: output with its timing,
 * keystrokes only with --record-input, the size, and content detectors applied before a chunk
 * leaves the machine (the connection's `masking.detectors`).
 */
import { readFileSync } from 'node:fs'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { AuditEvent } from '../../src/recording/events.js'
import { runAgw, startTestGateway, type TestGateway } from '../support/gateway.js'
import { connectTestIssuer } from '../support/oidc.js'

const idp = connectTestIssuer(inject('issuerUrl'))
let gw: TestGateway
let env: Record<string, string>

async function lastSessionTerminal(): Promise<{ kind: string; data: string; time: number; n: number }[]> {
  await gw.gateway.events.flush()
  const [s] = await gw.gateway.store.listSessions({ limit: 1 })
  const events: AuditEvent[] = await gw.gateway.store.listEvents({ sessionId: s!.id, types: ['terminal.output'] })
  return events.map((e) => e.data as { kind: string; data: string; time: number; n: number })
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
  - name: pgm
    type: postgres
    target: { host: 127.0.0.1, port: 5432, database: test, user: postgres }
    allow: [agents]
    masking: { detectors: [email] }
`)
  env = { AGW_GATEWAY: gw.url, AGW_TOKEN: await idp.agentToken(), AGW_CONFIG_DIR: mkdtempSync(join(tmpdir(), 'agw-cli-')), AGW_TOKEN_STORE: 'file' }
})

afterAll(async () => {
  await gw?.stop()
})

describe('agw exec in a pseudo-terminal', () => {
  it('records the output with its timing and the terminal size, numbered, without keystrokes', async () => {
    const r = await runAgw(['exec', '--tty', '-c', 'pg', '--', 'sh', '-c', 'read a; echo "first line"; echo "got-$a"'], env, { input: 'typed-word\n' })
    expect(r.code, r.stderr).toBe(0)
    const frames = await lastSessionTerminal()
    expect(frames[0]).toMatchObject({ kind: 'r', data: '80x24', n: 1 })
    expect(frames.map((f) => f.n)).toEqual(frames.map((_, i) => i + 1))
    expect(frames.map((f) => f.time)).toEqual([...frames.map((f) => f.time)].sort((a, b) => a - b))
    const output = frames.filter((f) => f.kind === 'o').map((f) => f.data).join('')
    expect(output).toContain('first line\r\ngot-typed-word')
    expect(frames.some((f) => f.kind === 'i')).toBe(false)
  })

  it('records keystrokes as input events with --record-input', async () => {
    const r = await runAgw(['exec', '--tty', '--record-input', '-c', 'pg', '--', 'sh', '-c', 'read a; echo "got-$a"'], env, { input: 'typed-word\n' })
    expect(r.code, r.stderr).toBe(0)
    const input = (await lastSessionTerminal()).filter((f) => f.kind === 'i').map((f) => f.data).join('')
    expect(input).toBe('typed-word\n')
  })

  it("masks what the connection's detectors find before it leaves the machine", async () => {
    const r = await runAgw(['exec', '--tty', '-c', 'pgm', '--', 'sh', '-c', 'echo "contact: dora.secret@example.com"'], env)
    expect(r.code, r.stderr).toBe(0)
    // The agent's own screen is its own: unchanged.
    expect(r.stdout).toContain('dora.secret@example.com')
    const output = (await lastSessionTerminal()).filter((f) => f.kind === 'o').map((f) => f.data).join('')
    expect(output).toContain('contact: [redacted:email]')
    expect(output).not.toContain('dora.secret')
    // ...nor is it in the local cache.
    expect(readFileSync(join(env.AGW_CONFIG_DIR!, 'session-cache.db')).toString('latin1')).not.toContain('dora.secret')
  })
})
