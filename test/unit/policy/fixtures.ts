/**
 * Shared by the policy tests (unit and integration): a scripted review gate, a gateway started
 * in-process with that gate, and a client runner that executes SQL with real psql and with
 * node-postgres (extended protocol) under `agw exec`, reporting what each statement got.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseConfig } from '../../../src/config/load.js'
import { Gateway } from '../../../src/gateway/gateway.js'
import { defaultEngines, issuerConfigs } from '../../../src/gateway/start.js'
import { TokenVerifier } from '../../../src/identity/verifier.js'
import { silentLogger } from '../../../src/log.js'
import type { ReviewGate, ReviewOutcome, ReviewRequest } from '../../../src/policy/index.js'

/**
 * A gate that decides by what the statement says, at once or when told:
 * `deny-me` -> denied, `expire-me` -> expired, `hold-me` -> waits for release(), anything else -> approved.
 */
export class ScriptedGate implements ReviewGate {
  readonly requests: ReviewRequest[] = []
  readonly withdrawn: string[] = []
  private n = 0
  private readonly waiting = new Map<string, (o: ReviewOutcome) => void>()

  request(req: ReviewRequest, signal: AbortSignal, onPending: (id: string) => void): Promise<ReviewOutcome> {
    const reviewId = `rev-${++this.n}`
    this.requests.push(req)
    onPending(reviewId)
    if (req.statement.includes('deny-me')) return Promise.resolve({ outcome: 'denied', reviewId, reason: 'not today', decidedBy: 'bob@example.com' })
    if (req.statement.includes('expire-me')) return Promise.resolve({ outcome: 'expired', reviewId })
    if (!req.statement.includes('hold-me')) return Promise.resolve({ outcome: 'approved', reviewId, decidedBy: 'bob@example.com' })
    return new Promise((resolve) => {
      this.waiting.set(reviewId, resolve)
      signal.addEventListener('abort', () => {
        this.withdrawn.push(reviewId)
        this.waiting.delete(reviewId)
        resolve({ outcome: 'withdrawn', reviewId })
      })
    })
  }

  /** Ids of reviews waiting for a decision. */
  get pending(): string[] {
    return [...this.waiting.keys()]
  }

  release(id: string, outcome: ReviewOutcome['outcome'] = 'approved'): void {
    const r = this.waiting.get(id)
    if (!r) throw new Error(`review ${id} is not waiting`)
    this.waiting.delete(id)
    r({ outcome, reviewId: id })
  }
}

export interface PolicyGateway {
  gateway: Gateway
  url: string
  dir: string
  stop(): Promise<void>
}

/** Like test/support/gateway.ts startTestGateway, with a review gate and a fixed masking key. */
export async function startPolicyGateway(yaml: string, gate?: ReviewGate): Promise<PolicyGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'agw-policy-'))
  const config = parseConfig(`listen: 127.0.0.1:0\nstorage: sqlite:./agw.db\nencryption: { keyFile: ./agw.key }\n${yaml}`, 'test.yaml', dir)
  const gateway = new Gateway({
    config,
    logger: silentLogger,
    authenticator: new TokenVerifier(issuerConfigs(config)),
    engines: defaultEngines(config, { gate, maskingKey: Buffer.alloc(32, 7) }),
  })
  const url = await gateway.start()
  return {
    gateway,
    url,
    dir,
    async stop() {
      await gateway.stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** What one statement got from a client. */
export interface ClientResult {
  ok: boolean
  /** Rows as text (psql -At lines, or node-postgres rows as JSON). */
  output: string
  code?: string
  message?: string
  notices: string[]
  /** For a `sequence` job: each step's result, and NOTIFY payloads received. */
  steps?: ClientResult[]
  /** For a psql `commands` job: the SQLSTATE of every error, in order. */
  codes?: string[]
  notifications?: string[]
}

/**
 * A Node script run as COMMAND under `agw exec` (so PG* variables point at agw's local port). It
 * reads a JSON list of jobs from the file in argv[2] and prints one JSON line of results.
 * Job: { sql, client: 'psql' | 'pg', params?, sequence?: string[] (pg: run in order on one connection),
 * commands?: string[] (psql: one session, each sent as its own Query, going on after errors) }.
 */
export function writeRunner(dir: string): string {
  const pgUrl = pathToFileURL(join(process.cwd(), 'node_modules', 'pg', 'lib', 'index.js')).href
  const file = join(dir, 'runner.mjs')
  writeFileSync(
    file,
    `
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import pg from ${JSON.stringify(pgUrl)}
const jobs = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const out = []
function psql(sql, commands) {
  const args = commands ? commands.flatMap((c) => ['-c', c]) : ['-v', 'ON_ERROR_STOP=1', '-c', sql]
  const r = spawnSync('psql', ['-X', '-At', '-v', 'VERBOSITY=verbose', ...args], { encoding: 'utf8', env: { ...process.env, PGAPPNAME: 'corpus' }, timeout: commands ? 30000 : undefined })
  const err = r.stderr.split('\\n').filter(Boolean)
  const error = err.find((l) => l.startsWith('ERROR:') || l.startsWith('psql:'))
  const m = /^ERROR:\\s+([0-9A-Z]{5}): (.*)$/.exec(error ?? '')
  const res = { ok: r.status === 0, output: r.stdout.trimEnd(), notices: err.filter((l) => l.startsWith('NOTICE:')).map((l) => l.replace(/^NOTICE:\\s+(?:[0-9A-Z]{5}: )?/, '')) }
  if (m) { res.code = m[1]; res.message = m[2] } else if (error) res.message = error
  if (commands) res.codes = err.map((l) => /^ERROR:\\s+([0-9A-Z]{5}):/.exec(l)?.[1]).filter(Boolean)
  if (r.error) { res.ok = false; res.message = String(r.error) }
  return res
}
async function node(job) {
  const c = new pg.Client()
  const notices = []
  const notifications = []
  c.on('notice', (n) => notices.push(n.message))
  c.on('notification', (n) => notifications.push(n.payload))
  await c.connect()
  try {
    const res = []
    for (const step of job.sequence ?? [job]) {
      try {
        const r = await c.query({ text: step.sql, values: step.params ?? [], queryMode: step.simple ? undefined : 'extended', rowMode: 'array' })
        res.push({ ok: true, output: JSON.stringify((Array.isArray(r) ? r.at(-1) : r).rows), notices: [...notices] })
      } catch (e) {
        res.push({ ok: false, output: '', code: e.code, message: e.message, notices: [...notices] })
      }
      notices.length = 0
    }
    return job.sequence ? { ok: true, output: '', notices: [], steps: res, notifications } : res[0]
  } finally {
    await c.end()
  }
}
for (const job of jobs) out.push(job.client === 'psql' ? psql(job.sql, job.commands) : await node(job))
console.log(JSON.stringify(out))
`,
  )
  return file
}
