/**
 * Human reviews end to end (issue 4, "Reviews"): the built CLI, a gateway from YAML, the global test
 * issuer (alice [sre, agents] and bob [sre] are people, ci-agent [agents] an agent), the machine's
 * PostgreSQL and real psql. A connection holds INSERT/UPDATE/DELETE for the sre group; the agent
 * waits in `agw exec -- psql` while a reviewer decides from a second terminal.
 */
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { AuditEvent } from '../../src/recording/events.js'
import type { ReviewView } from '../../src/reviews/rules.js'
import { AGW_BIN, runAgw, startTestGateway, type TestGateway } from '../support/gateway.js'
import { connectTestIssuer } from '../support/oidc.js'

const idp = connectTestIssuer(inject('issuerUrl'))
let gw: TestGateway
const env: Record<'agent' | 'alice' | 'bob' | 'mallory', Record<string, string>> = { agent: {}, alice: {}, bob: {}, mallory: {} }

function sql(text: string): string {
  return execFileSync('psql', ['-X', '-At', '-h', '127.0.0.1', '-U', 'postgres', '-d', 'test', '-v', 'ON_ERROR_STOP=1', '-c', text], { encoding: 'utf8' }).trim()
}

/** A CLI run in the background (the agent's terminal), with what it printed so far. */
interface Running {
  stdout: string
  stderr: string
  /** Types into its stdin. */
  write: (text: string) => void
  kill: () => void
  done: Promise<number | null>
}

function startAgw(args: string[], e: Record<string, string>): Running {
  const child = spawn(process.execPath, [AGW_BIN, ...args], { env: { ...process.env, CI: 'true', ...e }, stdio: ['pipe', 'pipe', 'pipe'] })
  const r: Running = {
    stdout: '',
    stderr: '',
    write: (text) => child.stdin.write(text),
    kill: () => child.kill('SIGINT'),
    done: new Promise((resolve) => child.on('close', (code) => resolve(code))),
  }
  child.stdout.on('data', (d: Buffer) => (r.stdout += d.toString()))
  child.stderr.on('data', (d: Buffer) => (r.stderr += d.toString()))
  return r
}

/** The review id from the hold line `agw exec` prints. */
async function heldId(r: Running): Promise<string> {
  await expect.poll(() => r.stderr, { timeout: 20_000 }).toMatch(/agw: held for review [0-9a-f-]{36} by rule writes; waiting for sre — Ctrl-C cancels/)
  return /held for review ([0-9a-f-]{36})/.exec(r.stderr)![1]!
}

function agentPsql(who: 'agent' | 'alice', ...statements: string[]): Running {
  const args = ['exec', '-c', 'pg', '--', 'psql', '-X', '-v', 'ON_ERROR_STOP=1']
  for (const s of statements) args.push('-c', s)
  return startAgw(args, env[who])
}

async function reviewEvents(reviewId: string): Promise<AuditEvent[]> {
  await gw.gateway.events.flush()
  return (await gw.gateway.store.listEvents({ limit: 100_000 })).filter((e) => e.type.startsWith('review.') && e.data.reviewId === reviewId)
}

const flat = (s: string) => s.replace(/\s+/g, ' ')
/** CR, then erase the line (as a regular expression source). */
const CLEAR_LINE = '\\r\\u001b\\[2K'

beforeAll(async () => {
  sql('DROP SCHEMA IF EXISTS agw_reviews CASCADE; CREATE SCHEMA agw_reviews; CREATE TABLE agw_reviews.accounts (id int primary key, plan text not null)')
  sql(`INSERT INTO agw_reviews.accounts SELECT g, 'free' FROM generate_series(1, 20) g`)
  sql(`CREATE TABLE agw_reviews.notes (id int primary key, body text); INSERT INTO agw_reviews.notes VALUES (1, 'n0')`)
  gw = await startTestGateway(`
identity:
  issuers: [{ issuer: ${idp.issuer}, audience: agw }]
connections:
  - name: pg
    type: postgres
    target: { host: 127.0.0.1, port: 5432, database: test, user: postgres }
    allow: [agents]
    rules:
      - { name: writes, match: { statement: [INSERT, UPDATE, DELETE] }, action: review, reviewers: [sre], timeout: 2m }
  - name: pg-quick
    type: postgres
    target: { host: 127.0.0.1, port: 5432, database: test, user: postgres }
    allow: [agents]
    rules:
      - { name: quick, match: { statement: [UPDATE] }, action: review, reviewers: [sre], timeout: 2s }
`)
  const base = { AGW_GATEWAY: gw.url, AGW_CONFIG_DIR: mkdtempSync(join(tmpdir(), 'agw-cli-')), AGW_TOKEN_STORE: 'file' }
  const [agent, alice, bob, mallory] = await Promise.all([idp.agentToken(), idp.userToken('alice'), idp.userToken('bob'), idp.userToken('mallory')])
  env.agent = { ...base, AGW_TOKEN: agent }
  env.alice = { ...base, AGW_TOKEN: alice }
  env.bob = { ...base, AGW_TOKEN: bob }
  env.mallory = { ...base, AGW_TOKEN: mallory }
})

afterAll(async () => {
  await gw?.stop()
  sql('DROP SCHEMA IF EXISTS agw_reviews CASCADE')
})

describe('a held statement', () => {
  it('runs when a reviewer approves it from a second terminal', async () => {
    const agent = agentPsql('agent', `update agw_reviews.accounts set plan = 'pro' where id = 1`)
    const id = await heldId(agent)
    // The statement waits: nothing changed yet.
    expect(sql('select plan from agw_reviews.accounts where id = 1')).toBe('free')
    expect(agent.stderr).toContain(`NOTICE:  agw: held for review ${id} by rule "writes"; waiting for sre`)

    const listed = await runAgw(['reviews', '--json'], env.bob)
    expect(listed.code, listed.stderr).toBe(0)
    const view = (JSON.parse(listed.stdout) as { reviews: ReviewView[] }).reviews.find((r) => r.id === id)
    expect(view).toMatchObject({
      state: 'pending',
      connection: 'pg',
      rule: 'writes',
      reviewers: ['sre'],
      statement: `update agw_reviews.accounts set plan = 'pro' where id = 1`,
      requester: { kind: 'agent', subject: 'ci-agent' },
      agent: 'psql',
      canApprove: true,
      mine: false,
    })

    const ok = await runAgw(['review', 'approve', id, '--reason', 'ticket OPS-42'], env.bob)
    expect(ok.stderr).toBe('')
    expect(ok.code).toBe(0)
    expect(ok.stdout).toContain(`review ${id} approved (ticket OPS-42)`)

    expect(await agent.done).toBe(0)
    expect(agent.stdout).toContain('UPDATE 1')
    expect(agent.stderr).toContain(`agw: review ${id} approved by bob@example.com: ticket OPS-42; running the statement`)
    expect(sql('select plan from agw_reviews.accounts where id = 1')).toBe('pro')

    const events = await reviewEvents(id)
    expect(events.map((e) => e.type)).toEqual(['review.requested', 'review.approved'])
    expect(events[0]).toMatchObject({ connection: 'pg', actor: { subject: 'ci-agent', kind: 'agent' }, data: { sql: `update agw_reviews.accounts set plan = 'pro' where id = 1`, rule: 'writes', reviewers: ['sre'] } })
    expect(events[1]).toMatchObject({ sessionId: events[0]!.sessionId, actor: { subject: 'bob' }, data: { by: 'bob@example.com', reason: 'ticket OPS-42' } })
    // A decided review is no longer pending: deciding again says what it is (exit 65).
    const again = await runAgw(['review', 'deny', id], env.bob)
    expect(again.code).toBe(65)
    expect(flat(again.stderr)).toContain(`review ${id} is not pending: it was approved by bob@example.com`)
  })

  it('is refused when the reviewer denies it: psql gets the error, the row is unchanged', async () => {
    const agent = agentPsql('agent', `update agw_reviews.accounts set plan = 'team' where id = 2`)
    const id = await heldId(agent)
    const no = await runAgw(['review', 'deny', id, '--reason', 'use the migration'], env.bob)
    expect(no.code, no.stderr).toBe(0)
    expect(no.stdout).toContain(`review ${id} denied`)
    // psql failed because a reviewer refused: agw exits 75 (SPEC section 2).
    expect(await agent.done).toBe(75)
    expect(flat(agent.stderr)).toContain(`ERROR: agw: review ${id} denied by bob@example.com: use the migration; the statement held by rule "writes" was not run`)
    expect(agent.stderr).toContain(`agw: review ${id} denied by bob@example.com: use the migration; the statement was not run`)
    expect(sql('select plan from agw_reviews.accounts where id = 2')).toBe('free')
    expect((await reviewEvents(id)).map((e) => e.type)).toEqual(['review.requested', 'review.denied'])
  })

  it("expires after the rule's timeout: the client gets the error", async () => {
    const agent = startAgw(['exec', '-c', 'pg-quick', '--', 'psql', '-X', '-v', 'ON_ERROR_STOP=1', '-c', `update agw_reviews.accounts set plan = 'x' where id = 3`], env.agent)
    await expect.poll(() => agent.stderr, { timeout: 20_000 }).toContain('held for review')
    const id = /held for review ([0-9a-f-]{36})/.exec(agent.stderr)![1]!
    expect(await agent.done).toBe(75)
    expect(flat(agent.stderr)).toContain(`ERROR: agw: review ${id} expired: no decision within 2s`)
    expect(agent.stderr).toContain(`agw: review ${id} expired: no decision within 2s; the statement was not run`)
    expect(sql('select plan from agw_reviews.accounts where id = 3')).toBe('free')
    const events = await reviewEvents(id)
    expect(events.map((e) => e.type)).toEqual(['review.requested', 'review.expired'])
    expect(events[1]!.data).toMatchObject({ timeoutMs: 2000 })
    const late = await runAgw(['review', 'approve', id], env.bob)
    expect(late.code).toBe(65)
    expect(flat(late.stderr)).toContain('is not pending: it was expired')
  })

  it('is withdrawn when psql cancels it (CancelRequest): nothing runs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agw-rev-'))
    const pidFile = join(dir, 'psql.pid')
    const agent = startAgw(['exec', '-c', 'pg', '--', 'sh', '-c', `echo $$ > ${pidFile}; exec psql -X -v ON_ERROR_STOP=1 -c "update agw_reviews.accounts set plan = 'y' where id = 4"`], env.agent)
    const id = await heldId(agent)
    // SIGINT is what Ctrl-C sends psql: it sends a CancelRequest on a new connection.
    process.kill(Number(readFileSync(pidFile, 'utf8').trim()), 'SIGINT')
    expect(await agent.done).not.toBe(0)
    expect(agent.stderr).toContain(`agw: review ${id} withdrawn: the client cancelled the statement or went away; the statement was not run`)
    expect(flat(agent.stderr)).toContain(`ERROR: agw: review ${id} withdrawn`)
    const events = await reviewEvents(id)
    expect(events.map((e) => e.type)).toEqual(['review.requested', 'review.denied'])
    expect(events[1]!.data).toMatchObject({ withdrawn: true })
    expect((await gw.gateway.store.getReview(id))?.state).toBe('withdrawn')
    const late = await runAgw(['review', 'approve', id], env.bob)
    expect(late.code).toBe(65)
    expect(sql('select plan from agw_reviews.accounts where id = 4')).toBe('free')
  })

  it('is withdrawn when the client goes away (psql killed)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agw-rev-'))
    const pidFile = join(dir, 'psql.pid')
    const agent = startAgw(['exec', '-c', 'pg', '--', 'sh', '-c', `echo $$ > ${pidFile}; exec psql -X -c "delete from agw_reviews.accounts where id = 5"`], env.agent)
    const id = await heldId(agent)
    process.kill(Number(readFileSync(pidFile, 'utf8').trim()), 'SIGKILL')
    await agent.done
    await expect.poll(async () => (await gw.gateway.store.getReview(id))?.state, { timeout: 10_000 }).toBe('withdrawn')
    expect(sql('select count(*) from agw_reviews.accounts where id = 5')).toBe('1')
  })
})

describe('the extended protocol', () => {
  it('holds at Bind and shows the reviewer the parameters', async () => {
    const pgPath = join(process.cwd(), 'node_modules', 'pg', 'lib', 'index.js')
    const script = `const { default: pg } = await import(${JSON.stringify(pgPath)}); const c = new pg.Client(); await c.connect();
      const r = await c.query('update agw_reviews.accounts set plan = $1 where id = $2', ['bound', 16]); console.log('rows ' + r.rowCount); await c.end()`
    const agent = startAgw(['exec', '-c', 'pg', '--', process.execPath, '--input-type=module', '-e', script], env.agent)
    const id = await heldId(agent)
    const listed = await runAgw(['reviews', '--json'], env.bob)
    expect((JSON.parse(listed.stdout) as { reviews: ReviewView[] }).reviews.find((r) => r.id === id)).toMatchObject({
      statement: 'update agw_reviews.accounts set plan = $1 where id = $2',
      params: ['bound', '16'],
    })
    const table = await runAgw(['reviews'], env.bob)
    expect(table.stdout).toContain('update agw_reviews.accounts set plan = $1 where id = $2   -- params: ["bound","16"]')
    expect((await runAgw(['review', 'approve', id], env.bob)).code).toBe(0)
    expect(await agent.done).toBe(0)
    expect(agent.stdout).toContain('rows 1')
    expect(sql('select plan from agw_reviews.accounts where id = 16')).toBe('bound')
  })
})

describe('Ctrl-C in the agent terminal', () => {
  it('withdraws the held statement even when the tool itself does not cancel', async () => {
    // A node-postgres client that ignores SIGINT: only agw exec can withdraw its statement.
    const pgPath = join(process.cwd(), 'node_modules', 'pg', 'lib', 'index.js')
    const script = `process.on('SIGINT', () => {}); const { default: pg } = await import(${JSON.stringify(pgPath)}); const c = new pg.Client(); await c.connect();
      try { await c.query("update agw_reviews.accounts set plan = 'ctrl-c' where id = 15"); console.log('ran') } catch (e) { console.log('refused: ' + e.message) } finally { await c.end() }`
    const agent = startAgw(['exec', '--tty', '-c', 'pg', '--', process.execPath, '--input-type=module', '-e', script], env.agent)
    const id = await heldId(agent)
    agent.write('\x03')
    expect(await agent.done).toBe(0)
    expect(agent.stdout).toContain(`refused: agw: review ${id} withdrawn: cancelled in the agent's terminal (Ctrl-C in agw exec)`)
    expect((await gw.gateway.store.getReview(id))?.state).toBe('withdrawn')
    expect(sql('select plan from agw_reviews.accounts where id = 15')).toBe('free')
  })
})

describe('who may decide', () => {
  it('never the requester: alice cannot approve her own statement, bob can', async () => {
    const agent = agentPsql('alice', `update agw_reviews.accounts set plan = 'alice' where id = 6`)
    const id = await heldId(agent)
    const mine = await runAgw(['reviews', '--json'], env.alice)
    expect((JSON.parse(mine.stdout) as { reviews: ReviewView[] }).reviews.find((r) => r.id === id)).toMatchObject({ mine: true, canApprove: false, canDeny: false })

    const self = await runAgw(['review', 'approve', id], env.alice)
    expect(self.code).toBe(77)
    expect(flat(self.stderr)).toContain(`you requested review ${id} yourself: the requester can never approve its own review; another member of sre must decide it`)
    // Not allowed at all: mallory is in no reviewer group.
    const outsider = await runAgw(['review', 'approve', id], env.mallory)
    expect(outsider.code).toBe(77)
    expect(flat(outsider.stderr)).toContain('is not in a reviewer group of review')
    expect(sql('select plan from agw_reviews.accounts where id = 6')).toBe('free')

    const ok = await runAgw(['review', 'approve', id], env.bob)
    expect(ok.code, ok.stderr).toBe(0)
    expect(await agent.done).toBe(0)
    expect(sql('select plan from agw_reviews.accounts where id = 6')).toBe('alice')
  })

  it('lists pending reviews for reviewers, and nothing for others', async () => {
    const agent = agentPsql('agent', `insert into agw_reviews.accounts values (100, 'new')`)
    const id = await heldId(agent)
    const table = await runAgw(['reviews'], env.bob)
    expect(table.code, table.stderr).toBe(0)
    expect(table.stdout).toMatch(/^Waiting for your decision \(1\)$/m)
    expect(table.stdout).toContain(id)
    expect(table.stdout).toContain(`insert into agw_reviews.accounts values (100, 'new')`)
    expect(table.stdout).toMatch(/ci-agent \(agent\)\s+expires in \d/)
    const other = await runAgw(['reviews', '--json'], env.mallory)
    expect(other.code).toBe(0)
    expect((JSON.parse(other.stdout) as { reviews: ReviewView[] }).reviews).toEqual([])
    expect((await runAgw(['review', 'deny', id], env.bob)).code).toBe(0)
    expect(await agent.done).not.toBe(0)
  })
})

describe('agw reviews --watch --json', () => {
  it('prints the list at once and again on every change, one JSON line each', async () => {
    const watch = startAgw(['reviews', '--watch', '--json'], env.bob)
    const lines = () => watch.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { now: string; reviews: ReviewView[] })
    try {
      await expect.poll(() => lines().length, { timeout: 20_000 }).toBeGreaterThan(0)
      const agent = agentPsql('agent', `update agw_reviews.accounts set plan = 'watched' where id = 17`)
      const id = await heldId(agent)
      await expect.poll(() => lines().at(-1)?.reviews.find((r) => r.id === id)?.state).toBe('pending')
      expect((await runAgw(['review', 'deny', id, '--reason', 'seen live'], env.bob)).code).toBe(0)
      await expect.poll(() => lines().at(-1)?.reviews.find((r) => r.id === id)).toMatchObject({ state: 'denied', reason: 'seen live', decidedBy: 'bob@example.com' })
      expect(await agent.done).not.toBe(0)
    } finally {
      watch.kill()
    }
    expect(await watch.done).toBe(0)
  })
})

describe('approve --for DURATION', () => {
  it('lets statements of the same session, rule, kind and tables through without a new review, recorded; another table or kind is held again', async () => {
    const agent = agentPsql(
      'agent',
      `update agw_reviews.accounts set plan = 'g1' where id = 7`,
      `update agw_reviews.accounts set plan = 'g2' where id = 8`,
      `update agw_reviews.notes set body = 'n1' where id = 1`,
      `delete from agw_reviews.accounts where id = 9`,
    )
    const id = await heldId(agent)
    const listed = (JSON.parse((await runAgw(['reviews', '--json'], env.bob)).stdout) as { reviews: ReviewView[] }).reviews.find((r) => r.id === id)
    expect(listed?.grantCovers).toBe('same rule "writes", UPDATE on agw_reviews.accounts')
    const ok = await runAgw(['review', 'approve', id, '--for', '10m'], env.bob)
    expect(ok.code, ok.stderr).toBe(0)
    expect(flat(ok.stdout)).toContain('matching it (same rule "writes", UPDATE on agw_reviews.accounts) run without review until')
    // The same kind on another table, then another kind on the same table: each is held for a review of its own.
    const holds = () => [...agent.stderr.matchAll(/held for review ([0-9a-f-]{36}) by rule writes;/g)].map((m) => m[1] as string)
    const heldAfter = async (n: number): Promise<string> => {
      await expect.poll(() => holds().length, { timeout: 20_000 }).toBe(n)
      return holds()[n - 1] as string
    }
    const otherTable = await heldAfter(2)
    expect(otherTable).not.toBe(id)
    expect(sql('select plan from agw_reviews.accounts where id in (7, 8) order by id')).toBe('g1\ng2')
    expect(sql('select body from agw_reviews.notes where id = 1')).toBe('n0')
    expect((await runAgw(['review', 'approve', otherTable], env.bob)).code).toBe(0)
    const otherKind = await heldAfter(3)
    expect(sql('select body from agw_reviews.notes where id = 1')).toBe('n1')
    expect(sql('select count(*) from agw_reviews.accounts where id = 9')).toBe('1')
    expect((await runAgw(['review', 'deny', otherKind], env.bob)).code).toBe(0)
    expect(await agent.done).not.toBe(0)
    expect(sql('select count(*) from agw_reviews.accounts where id = 9')).toBe('1')
    const sessionId = (await reviewEvents(id))[0]!.sessionId
    const events = (await gw.gateway.store.listEvents({ sessionId: sessionId! })).filter((e) => e.type.startsWith('review.'))
    expect(events.map((e) => `${e.type}${e.data.underGrant ? ' (grant)' : ''}`)).toEqual([
      'review.requested',
      'review.approved',
      'review.approved (grant)',
      'review.requested',
      'review.approved',
      'review.requested',
      'review.denied',
    ])
    expect(events[2]!.data).toMatchObject({ reviewId: id, by: 'bob@example.com', sql: `update agw_reviews.accounts set plan = 'g2' where id = 8` })

    // Another session is not covered by the grant.
    const next = agentPsql('agent', `update agw_reviews.accounts set plan = 'g3' where id = 10`)
    const id2 = await heldId(next)
    expect(id2).not.toBe(id)
    expect((await runAgw(['review', 'deny', id2], env.bob)).code).toBe(0)
    expect(await next.done).not.toBe(0)
  })

  it('refuses a duration that is not one', async () => {
    const agent = agentPsql('agent', `update agw_reviews.accounts set plan = 'z' where id = 11`)
    const id = await heldId(agent)
    const bad = await runAgw(['review', 'approve', id, '--for', 'forever'], env.bob)
    expect(bad.code).toBe(65)
    expect(flat(bad.stderr)).toContain('is not a duration')
    expect((await runAgw(['review', 'deny', id], env.bob)).code).toBe(0)
    expect(await agent.done).not.toBe(0)
  })
})

describe('agw reviews --watch (ink, in a pseudo-terminal)', () => {
  it('shows a review as soon as it is requested, and approving with keys releases it', async () => {
    const pty = await import('node-pty')
    const childEnv: Record<string, string> = { ...(process.env as Record<string, string>), ...env.bob, TERM: 'xterm-256color' }
    delete childEnv.CI
    const term = pty.spawn(process.execPath, [AGW_BIN, 'reviews', '--watch'], { cols: 160, rows: 50, env: childEnv })
    let screen = ''
    term.onData((d) => (screen += d))
    const exit = new Promise<number>((resolve) => term.onExit((e) => resolve(e.exitCode)))
    try {
      await expect.poll(() => screen, { timeout: 20_000 }).toContain('live')
      const agent = agentPsql('agent', `update agw_reviews.accounts set plan = 'keys' where id = 12`)
      const id = await heldId(agent)
      // Pushed by the gateway: it appears without a key press.
      await expect.poll(() => screen, { timeout: 10_000 }).toContain(id)
      await expect.poll(() => screen).toContain(`update agw_reviews.accounts set plan = 'keys' where id = 12`)
      expect(screen).toContain('Waiting for your decision (1)')
      term.write('a')
      await expect.poll(() => screen).toContain('Reason for approving')
      term.write('looks right')
      term.write('\r')
      expect(await agent.done).toBe(0)
      expect(agent.stdout).toContain('UPDATE 1')
      expect(agent.stderr).toContain(`agw: review ${id} approved by bob@example.com: looks right; running the statement`)
      await expect.poll(() => screen).toContain(`review ${id} approved`)
      expect(sql('select plan from agw_reviews.accounts where id = 12')).toBe('keys')

      // d denies, with the reason told to the client.
      const second = agentPsql('agent', `update agw_reviews.accounts set plan = 'nope' where id = 14`)
      const id2 = await heldId(second)
      await expect.poll(() => screen, { timeout: 10_000 }).toContain(id2.slice(0, 13))
      term.write('d')
      await expect.poll(() => screen).toContain('Reason for denying')
      term.write('not in prod\r')
      expect(await second.done).not.toBe(0)
      expect(second.stderr).toContain(`agw: review ${id2} denied by bob@example.com: not in prod; the statement was not run`)
      expect(sql('select plan from agw_reviews.accounts where id = 14')).toBe('free')

      // f approves for a time: the duration (Enter takes 10m), then the reason.
      const third = agentPsql('agent', `update agw_reviews.accounts set plan = 'f1' where id = 18`, `update agw_reviews.accounts set plan = 'f2' where id = 19`)
      const id3 = await heldId(third)
      await expect.poll(() => screen, { timeout: 10_000 }).toContain(id3.slice(0, 13))
      term.write('f')
      await expect.poll(() => screen).toContain('for how long')
      term.write('\r')
      await expect.poll(() => screen).toContain('(for 10m)')
      term.write('batch fix\r')
      expect(await third.done).toBe(0)
      expect(third.stderr).toContain(`agw: review ${id3} approved by bob@example.com: batch fix; running the statement (and matching statements of this session until`)
      expect(sql('select plan from agw_reviews.accounts where id in (18, 19) order by id')).toBe('f1\nf2')
      expect((await gw.gateway.store.getReview(id3))?.grantUntil).toBeDefined()
      term.write('q')
      expect(await exit).toBe(0)
    } catch (err) {
      console.log(JSON.stringify(screen.slice(-3000)))
      throw err
    } finally {
      term.kill()
    }
  })

  it("shows agw exec's hold line in the agent's own terminal (PTY mode) on a line of its own", async () => {
    const agent = startAgw(['exec', '--tty', '-c', 'pg', '--', 'psql', '-X', '-c', `update agw_reviews.accounts set plan = 'tty' where id = 13`], env.agent)
    await expect.poll(() => agent.stderr, { timeout: 20_000 }).toMatch(new RegExp(`${CLEAR_LINE}agw: held for review [0-9a-f-]{36} by rule writes; waiting for sre — Ctrl-C cancels: update`))
    const id = /held for review ([0-9a-f-]{36})/.exec(agent.stderr)![1]!
    expect((await runAgw(['review', 'approve', id], env.bob)).code).toBe(0)
    expect(await agent.done).toBe(0)
    expect(agent.stderr).toContain(`\r\u001b[2Kagw: review ${id} approved by bob@example.com; running the statement\r\n`)
  })
})
