/**
 * Reading recordings back through the gateway with the built CLI: `agw sessions list|show|replay|
 * search|export` after real psql sessions through `agw exec` (one in a pseudo-terminal, one with
 * plain pipes), who may read what, and an asciicast export that Debian's asciinema plays.
 */
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { SearchHitView } from '../../src/gateway/api/sessions.js'
import type { SessionRecord } from '../../src/storage/store.js'
import { runAgw, startTestGateway, type TestGateway } from '../support/gateway.js'
import { connectTestIssuer } from '../support/oidc.js'


/** Runs a program in a pseudo-terminal (asciinema wants one), resolving with what it printed. */
async function inPty(file: string, args: string[]): Promise<{ code: number; output: string }> {
  const pty = await import('node-pty')
  return new Promise((resolve) => {
    const term = pty.spawn(file, args, { cols: 100, rows: 30, env: { ...process.env, TERM: 'xterm-256color' } as Record<string, string> })
    let output = ''
    term.onData((d) => (output += d))
    term.onExit(({ exitCode }) => resolve({ code: exitCode, output }))
  })
}

/** Error messages as one line (oclif wraps them to the terminal width). */
const flat = (s: string) => s.replace(/\s+/g, ' ')
const idp = connectTestIssuer(inject('issuerUrl'))

let gw: TestGateway
const env: Record<string, Record<string, string>> = {}
let ttySession: string
let pipeSession: string

function as(who: 'agent' | 'bob' | 'mallory') {
  return env[who] as Record<string, string>
}

async function sessionsOf(who: 'agent' | 'bob' | 'mallory'): Promise<SessionRecord[]> {
  const r = await runAgw(['sessions', 'list', '--json'], as(who))
  expect(r.code, r.stderr).toBe(0)
  return (JSON.parse(r.stdout) as { sessions: SessionRecord[] }).sessions
}

beforeAll(async () => {
  gw = await startTestGateway(`
identity:
  issuers: [{ issuer: ${idp.issuer}, audience: agw }]
roles:
  auditors: [sre]
connections:
  - name: pg
    type: postgres
    target: { host: 127.0.0.1, port: 5432, database: test, user: postgres }
    allow: [agents]
`)
  const configDir = mkdtempSync(join(tmpdir(), 'agw-cli-'))
  const base = { AGW_GATEWAY: gw.url, AGW_CONFIG_DIR: configDir, AGW_TOKEN_STORE: 'file' }
  const [agent, bob, mallory] = await Promise.all([idp.agentToken(), idp.userToken('bob'), idp.userToken('mallory')])
  env.agent = { ...base, AGW_TOKEN: agent }
  env.bob = { ...base, AGW_TOKEN: bob }
  env.mallory = { ...base, AGW_TOKEN: mallory }
  const sql = `select 'needle_' || 41 + 1 as marker, 'haystack' as other`
  const tty = await runAgw(['exec', '--tty', '-c', 'pg', '--', 'psql', '-X', '-P', 'pager=off', '-c', sql], as('agent'))
  if (tty.code !== 0) console.log(JSON.stringify(tty))
  expect(tty.code).toBe(0)
  expect(tty.stdout).toContain('needle_42')
  const pipe = await runAgw(['exec', '-c', 'pg', '--', 'psql', '-X', '-At', '-c', `select 'pipes_only_' || 7`], as('agent'))
  expect(pipe.code, pipe.stderr).toBe(0)
  const mine = await sessionsOf('agent')
  pipeSession = mine[0]!.id
  ttySession = mine[1]!.id
})

afterAll(async () => {
  await gw?.stop()
})

describe('agw sessions list', () => {
  it('shows the caller its own sessions, newest first', async () => {
    const mine = await sessionsOf('agent')
    expect(mine.map((s) => s.id)).toEqual([pipeSession, ttySession])
    expect(mine[0]).toMatchObject({ agent: 'psql', connections: ['pg'], status: 'ended', exitCode: 0, identity: { subject: 'ci-agent', kind: 'agent' } })
    const table = await runAgw(['sessions', 'list'], as('agent'))
    expect(table.stdout).toMatch(/^ID\s+STARTED \(UTC\)\s+USER\s+AGENT/)
    expect(table.stdout).toContain(ttySession)
  })

  it('shows an auditor everyone’s, and filters by user, connection and time', async () => {
    expect((await sessionsOf('bob')).map((s) => s.id)).toEqual(expect.arrayContaining([pipeSession, ttySession]))
    const byUser = await runAgw(['sessions', 'list', '--user', 'nobody-like-this', '--json'], as('bob'))
    expect(JSON.parse(byUser.stdout).sessions).toEqual([])
    const byConn = await runAgw(['sessions', 'list', '--connection', 'pg', '--since', '1h', '--json'], as('bob'))
    expect(JSON.parse(byConn.stdout).sessions.length).toBeGreaterThanOrEqual(2)
    const future = await runAgw(['sessions', 'list', '--since', new Date(Date.now() + 3_600_000).toISOString(), '--json'], as('bob'))
    expect(JSON.parse(future.stdout).sessions).toEqual([])
  })

  it('shows someone else none of them', async () => {
    expect(await sessionsOf('mallory')).toEqual([])
  })

  it('refuses --user of someone else to a non-auditor (exit 77), rather than answer with their own', async () => {
    const r = await runAgw(['sessions', 'list', '--user', 'ci-agent'], as('mallory'))
    expect(r.code).toBe(77)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain('only auditors')
    const own = await runAgw(['sessions', 'list', '--user', 'ci-agent', '--json'], as('agent'))
    expect(own.code, own.stderr).toBe(0)
    expect(JSON.parse(own.stdout).sessions.length).toBeGreaterThanOrEqual(2)
  })
})

describe('agw sessions show', () => {
  it('prints identity, agent, connections and the timeline', async () => {
    const r = await runAgw(['sessions', 'show', pipeSession], as('agent'))
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain(`session    ${pipeSession}`)
    expect(r.stdout).toMatch(/identity\s+ci-agent \(agent/)
    expect(r.stdout).toMatch(/connections pg/)
    expect(r.stdout).toMatch(/session\.start[\s\S]*connection\.open[\s\S]*query\s+pg\s+select 'pipes_only_' \|\| 7[\s\S]*query\.result[\s\S]*session\.end/)
  })

  it("refuses someone else's session like a missing one (exit 77)", async () => {
    const r = await runAgw(['sessions', 'show', pipeSession], as('mallory'))
    expect(r.code).toBe(77)
    expect(flat(r.stderr)).toContain('does not exist or is not yours')
    expect((await runAgw(['sessions', 'show', 'not-an-id'], as('agent'))).code).toBe(65)
  })
})

describe('agw sessions replay', () => {
  it("plays the agent's terminal as it saw it", async () => {
    const r = await runAgw(['sessions', 'replay', ttySession, '--speed', '50'], as('agent'))
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/marker\s*\|\s*other/)
    expect(r.stdout).toContain('needle_42')
  })

  it('replays a database session as its statements and results, in order', async () => {
    const r = await runAgw(['sessions', 'replay', pipeSession, '--instant'], as('agent'))
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/-- connected to pg\n\[\+[\d.]+s\] pg=> select 'pipes_only_' \|\| 7\n\?column\?\n-+\npipes_only_7\n\(1 row, SELECT 1/)
    const q = await runAgw(['sessions', 'replay', ttySession, '--queries', '--instant'], as('bob'))
    expect(q.stdout).toMatch(/marker\s+\| other\n-+-\+-+\nneedle_42\s+\| haystack/)
  })
})

describe('agw sessions search', () => {
  it('finds a query and its result by their words', async () => {
    const r = await runAgw(['sessions', 'search', 'needle_42', '--json'], as('agent'))
    expect(r.code, r.stderr).toBe(0)
    const hits = (JSON.parse(r.stdout) as { hits: SearchHitView[] }).hits
    expect(hits.map((h) => h.sessionId)).toContain(ttySession)
    expect(hits.map((h) => h.type)).toEqual(expect.arrayContaining(['query.result', 'terminal.output']))
    const phrase = await runAgw(['sessions', 'search', '"pipes_only_ 7"', '--json'], as('agent'))
    // The statement (and the command line that ran it), not its result: "pipes_only_7" is one word.
    const types = (JSON.parse(phrase.stdout) as { hits: SearchHitView[] }).hits.map((h) => h.type)
    expect(types).toContain('query')
    expect(types).not.toContain('query.result')
    const text = await runAgw(['sessions', 'search', 'haystack'], as('bob'))
    expect(text.stdout).toContain(ttySession)
    expect(text.stdout).toContain('haystack')
  })

  it("finds nothing in other people's sessions", async () => {
    const r = await runAgw(['sessions', 'search', 'needle_42', '--json'], as('mallory'))
    expect(JSON.parse(r.stdout).hits).toEqual([])
  })
})

describe('agw sessions export', () => {
  it('writes asciicast v2 that asciinema plays', async () => {
    const file = join(gw.dir, 'session.cast')
    const r = await runAgw(['sessions', 'export', ttySession, '--format', 'asciicast', '--output', file], as('agent'))
    expect(r.code, r.stderr).toBe(0)
    const [header, ...frames] = readFileSync(file, 'utf8').trimEnd().split('\n')
    expect(JSON.parse(header!)).toMatchObject({ version: 2, width: 80, height: 24 })
    for (const f of frames) expect(JSON.parse(f)).toEqual([expect.any(Number), expect.stringMatching(/^[oir]$/), expect.any(String)])
    const cat = await inPty('asciinema', ['cat', file])
    expect(cat.output).toContain('needle_42')
    const play = await inPty('asciinema', ['play', '-s', '20', '-i', '0.1', file])
    expect(play.code).toBe(0)
    expect(play.output).toContain('needle_42')
  })

  it('writes every event as JSON lines; a session without a terminal has no asciicast', async () => {
    const r = await runAgw(['sessions', 'export', pipeSession, '--format', 'jsonl'], as('agent'))
    const events = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { type: string; seq: number })
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['session.start', 'query', 'query.result', 'session.end']))
    expect(events.map((e) => e.seq)).toEqual([...events.map((e) => e.seq)].sort((a, b) => a - b))
    const cast = await runAgw(['sessions', 'export', pipeSession, '--format', 'asciicast'], as('agent'))
    expect(cast.code).toBe(65)
    expect(flat(cast.stderr)).toContain('no terminal recording')
  })
})
