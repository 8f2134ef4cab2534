/**
 * The audit store's faults, each a test, with the gateway as a real child process
 * (`node bin/run.js gateway start --config F`) and the built CLI:
 *  - the gateway SIGKILLed mid-session: after a restart the session is `interrupted`, the chain
 *    verifies, every event the gateway had acknowledged is there, and the terminal output of the
 *    outage reaches the gateway later from the CLI's local cache;
 *  - one byte changed, one event deleted, two swapped, the tail cut: `agw audit verify` names each;
 *  - a damaged or unreadable store: a clear error and exit code 65, not a crash loop;
 *  - the store file holds no token, no target password, no SQL text, no result and no masked value
 *    in clear.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { AuditEvent } from '../../src/recording/events.js'
import type { SessionRecord } from '../../src/storage/store.js'
import { attacks } from '../unit/audit/tamper.js'
import { AGW_BIN, runAgw } from '../support/gateway.js'
import { connectTestIssuer } from '../support/oidc.js'
import { startPgCluster, type PgCluster } from '../support/pg-cluster.js'

const idp = connectTestIssuer(inject('issuerUrl'))

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

class GatewayProcess {
  child: ChildProcess | undefined
  stderr = ''

  constructor(
    readonly config: string,
    readonly env: Record<string, string>,
  ) {}

  async start(): Promise<void> {
    this.stderr = ''
    const child = spawn(process.execPath, [AGW_BIN, 'gateway', 'start', '--config', this.config], { env: { ...process.env, ...this.env }, stdio: ['ignore', 'ignore', 'pipe'] })
    this.child = child
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`gateway did not start within 20 s: ${this.stderr}`)), 20_000)
      child.stderr!.on('data', (d: Buffer) => {
        this.stderr += d.toString()
        if (this.stderr.includes('agw gateway listening on')) {
          clearTimeout(timer)
          resolve()
        }
      })
      child.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`gateway exited with ${code}: ${this.stderr}`))
      })
    })
  }

  kill(signal: NodeJS.Signals): Promise<void> {
    const child = this.child
    // Already gone (an exit code, or killed by a signal): 'exit' will not fire again.
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
    return new Promise((resolve) => {
      child.once('exit', () => resolve())
      child.kill(signal)
    })
  }
}

let dir: string
let pgt: PgCluster
let gateway: GatewayProcess
let env: Record<string, string>
let token: string
let url: string
let sessionId: string

function configFile(d: string, port: number, storage = 'sqlite:./agw.db'): string {
  const file = join(d, 'agw.yaml')
  writeFileSync(
    file,
    `listen: 127.0.0.1:${port}
storage: { url: "${storage}", checkpoint: { events: 20, interval: 1s } }
encryption: { keyFile: ./agw.key }
log: { level: warn }
identity:
  issuers: [{ issuer: ${idp.issuer}, audience: agw }]
roles:
  auditors: [agents]
connections:
  - name: pg
    type: postgres
    target: { host: 127.0.0.1, port: 5432, database: test, user: postgres }
    allow: [agents]
  - name: pgs
    type: postgres
    target: { host: 127.0.0.1, port: ${pgt.port}, database: ${pgt.database}, user: ${pgt.users.scram.user}, password: "env:PGT_PASSWORD" }
    allow: [agents]
    masking: { columns: [contact_email] }
`,
  )
  return file
}

async function api<T>(path: string): Promise<T> {
  const res = await fetch(new URL(path, url), { headers: { authorization: `Bearer ${token}` } })
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`)
  return (await res.json()) as T
}

async function sessionEvents(id: string): Promise<{ session: SessionRecord; events: AuditEvent[] }> {
  return api(`/v1/sessions/${id}`)
}

function terminalText(events: AuditEvent[]): string {
  return events
    .filter((e) => e.type === 'terminal.output')
    .map((e) => String(e.data.data))
    .join('')
}

/** The store as bytes on disk: the database file and its write-ahead log. */
function storeBytes(path: string): string {
  return [path, `${path}-wal`].filter(existsSync).map((p) => readFileSync(p).toString('latin1')).join('')
}

beforeAll(async () => {
  pgt = await startPgCluster()
  await pgt.admin(`GRANT CREATE ON SCHEMA public TO ${pgt.users.scram.user}`, pgt.database)
  dir = mkdtempSync(join(tmpdir(), 'agw-audit-'))
  const port = await freePort()
  url = `http://127.0.0.1:${port}`
  token = await idp.agentToken()
  env = { AGW_GATEWAY: url, AGW_TOKEN: token, AGW_CONFIG_DIR: join(dir, 'cli'), AGW_TOKEN_STORE: 'file' }
  gateway = new GatewayProcess(configFile(dir, port), { PGT_PASSWORD: pgt.users.scram.password })
  await gateway.start()
}, 120_000)

afterAll(async () => {
  await gateway?.kill('SIGKILL')
  await pgt?.stop()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('the gateway killed with SIGKILL mid-session', () => {
  it('leaves an interrupted session, a chain that verifies, every acknowledged event, and the outage in the local cache until it can be sent', async () => {
    const exec = spawn(
      process.execPath,
      [AGW_BIN, 'exec', '--tty', '-c', 'pg', '--', 'sh', '-c', `psql -X -At -c "select 'before_' || 1111"; echo first-part-done; read line; echo "after-kill-$line"`],
      { env: { ...process.env, CI: 'true', ...env }, stdio: ['pipe', 'pipe', 'pipe'] },
    )
    let out = ''
    let err = ''
    exec.stdout!.on('data', (d: Buffer) => (out += d.toString()))
    exec.stderr!.on('data', (d: Buffer) => (err += d.toString()))
    const exited = new Promise<number | null>((resolve) => exec.on('exit', (code) => resolve(code)))
    await expect.poll(() => out, { timeout: 20_000 }).toContain('first-part-done')

    // Acknowledged: what the gateway has in its store, as its API shows it.
    await expect.poll(async () => (await api<{ sessions: SessionRecord[] }>('/v1/sessions')).sessions.length).toBeGreaterThan(0)
    sessionId = (await api<{ sessions: SessionRecord[] }>('/v1/sessions')).sessions[0]!.id
    await expect.poll(async () => terminalText((await sessionEvents(sessionId)).events), { timeout: 10_000 }).toContain('first-part-done')
    const acknowledged = (await sessionEvents(sessionId)).events

    await gateway.kill('SIGKILL')
    // The command goes on while the gateway is gone; what it prints is cached on this machine.
    exec.stdin!.end('x\n')
    expect(await exited).toBe(0)
    expect(out).toContain('after-kill-x')
    expect(err).toMatch(/terminal chunk\(s\) of this session could not reach the gateway; they are kept \(encrypted\)/)
    const local = await runAgw(['sessions', 'replay', '--local', sessionId, '--instant'], env)
    expect(local.code, local.stderr).toBe(0)
    expect(local.stdout).toContain('first-part-done')
    expect(local.stdout).toContain('after-kill-x')
    expect(storeBytes(join(env.AGW_CONFIG_DIR!, 'session-cache.db'))).not.toContain('after-kill')

    await gateway.start()
    const after = await sessionEvents(sessionId)
    expect(after.session.status).toBe('interrupted')
    expect(after.events.map((e) => e.id)).toEqual(expect.arrayContaining(acknowledged.map((e) => e.id)))
    expect(after.events.at(-1)).toMatchObject({ type: 'session.end', data: { status: 'interrupted' } })
    const verify = await runAgw(['audit', 'verify', '--config', gateway.config], {})
    expect(verify.code, verify.stderr).toBe(0)
    expect(verify.stdout).toMatch(/^ok: [\d,]+ events/)

    // The next `agw exec` sends what the cache held.
    expect(terminalText(after.events)).not.toContain('after-kill-x')
    const next = await runAgw(['exec', '--tty', '-c', 'pg', '--', 'true'], env)
    expect(next.code, next.stderr).toBe(0)
    const replay = await runAgw(['sessions', 'replay', sessionId, '--instant'], env)
    expect(replay.stdout).toMatch(/first-part-done[\s\S]*after-kill-x/)
    expect((await runAgw(['audit', 'verify', '--config', gateway.config], {})).code).toBe(0)
  })
})

describe('the store file at rest', () => {
  it('holds no token, target password, SQL text, result or masked value in clear', async () => {
    const r = await runAgw(
      ['exec', '-c', 'pgs', '--', 'psql', '-X', '-At', '-c', `select 'visible_' || 'result_9731' as shown, 'carol.hidden@example.com' as contact_email`],
      env,
    )
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('visible_result_9731')
    expect(r.stdout).not.toContain('carol.hidden@example.com')
    await gateway.kill('SIGTERM')
    const bytes = storeBytes(join(dir, 'agw.db'))
    // Control: the connection names are kept in clear, so this is the right file.
    expect(bytes).toContain('pgs')
    expect(bytes).not.toContain(token)
    expect(bytes).not.toContain(token.split('.')[2]!)
    expect(bytes).not.toContain(pgt.users.scram.password)
    expect(bytes).not.toContain('visible_result_9731')
    expect(bytes).not.toContain("'visible_'")
    expect(bytes).not.toContain('carol.hidden')
    expect(bytes).not.toContain('before_')
    await gateway.start()
  })
})

describe('agw audit verify on a tampered copy', () => {
  /** A copy of the store (and its key) with one attack applied; returns verify's result. */
  async function verifyAfter(attack: (path: string, last: number) => void) {
    const copy = mkdtempSync(join(dir, 'copy-'))
    await gateway.kill('SIGTERM')
    copyFileSync(join(dir, 'agw.db'), join(copy, 'agw.db'))
    copyFileSync(join(dir, 'agw.key'), join(copy, 'agw.key'))
    await gateway.start()
    const config = configFile(copy, 1)
    const before = await runAgw(['audit', 'verify', '--config', config, '--json'], {})
    expect(before.code, before.stderr).toBe(0)
    const last = (JSON.parse(before.stdout) as { lastSeq: number }).lastSeq
    expect(last).toBeGreaterThan(12)
    attack(join(copy, 'agw.db'), last)
    const r = await runAgw(['audit', 'verify', '--config', config], {})
    return { ...r, last }
  }

  it('names the event with one byte changed', async () => {
    const r = await verifyAfter((p) => attacks.changeOneByte(p, 5))
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/FAILED \(changed\): event seq 5 \(\S+ [0-9a-f-]{36} at .*\) was changed/)
  })

  it('names the gap where an event was deleted', async () => {
    const r = await verifyAfter((p) => attacks.deleteOne(p, 6))
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/FAILED \(removed\): events between seq 5 and seq 7 .* were removed/)
  })

  it('names two swapped events', async () => {
    const r = await verifyAfter((p) => attacks.swap(p, 7, 8))
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/FAILED \(reordered\): event seq 7 .* is out of order: in the chain it follows the event now stored at seq 8/)
  })

  it('names a cut tail', async () => {
    const r = await verifyAfter((p, last) => attacks.cutTail(p, last - 2))
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`FAILED (cut): the store ends at seq ${r.last - 3}`)
  })
})

describe('a damaged or unreadable store', () => {
  it('gets a clear error and exit code 65 from verify and from the gateway, which does not start', async () => {
    const bad = mkdtempSync(join(dir, 'bad-'))
    copyFileSync(join(dir, 'agw.key'), join(bad, 'agw.key'))
    writeFileSync(join(bad, 'agw.db'), Buffer.alloc(16384, 0x5a))
    const config = configFile(bad, await freePort())
    const verify = await runAgw(['audit', 'verify', '--config', config], {})
    expect(verify.code).toBe(65)
    expect(verify.stderr.replace(/\s+/g, " ")).toContain("damaged or not an agw store")
    const start = await runAgw(['gateway', 'start', '--config', config], { PGT_PASSWORD: 'x' })
    expect(start.code).toBe(65)
    expect(start.stderr.replace(/\s+/g, " ")).toContain("damaged or not an agw store")
    expect(start.stderr).not.toMatch(/\n\s+at /)

    const unreadable = mkdtempSync(join(dir, 'unreadable-'))
    copyFileSync(join(dir, 'agw.key'), join(unreadable, 'agw.key'))
    mkdirSync(join(unreadable, 'agw.db'))
    const config2 = configFile(unreadable, await freePort())
    const start2 = await runAgw(['gateway', 'start', '--config', config2], { PGT_PASSWORD: 'x' })
    expect(start2.code).toBe(65)
    expect(start2.stderr.replace(/\s+/g, " ")).toMatch(/cannot open the store \S*agw\.db: it cannot be opened/)
  })
})

describe('agw audit rotate-key', () => {
  it('refuses while the gateway runs; stopped, re-wraps the keys and the store verifies under the new key', async () => {
    const refused = await runAgw(['audit', 'rotate-key', '--config', gateway.config], {})
    expect(refused.code).toBe(65)
    expect(refused.stderr).toContain('stop it first')
    await gateway.kill('SIGTERM')
    const oldKey = readFileSync(join(dir, 'agw.key'), 'utf8')
    const r = await runAgw(['audit', 'rotate-key', '--config', gateway.config], {})
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/master key [0-9a-f]{16} -> [0-9a-f]{16}: \d+ keys re-wrapped/)
    expect(readFileSync(join(dir, 'agw.key'), 'utf8')).not.toBe(oldKey)
    expect((await runAgw(['audit', 'verify', '--config', gateway.config], {})).code).toBe(0)
    await gateway.start()
    const replay = await runAgw(['sessions', 'replay', sessionId, '--instant'], env)
    expect(replay.stdout).toContain('first-part-done')
  })
})
