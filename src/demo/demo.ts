/**
 * `agw demo`: everything on one machine with no setup. An embedded OIDC issuer, a gateway on
 * SQLite in a temp dir, an embedded PostgreSQL (PGlite) as the target, and a scripted agent session
 * through the real `agw exec` (one session, one connection): a masked SELECT, a denied DROP, an
 * UPDATE held until a scripted reviewer (Dana, group sre, signed in by the device flow) sees it in
 * `agw reviews` and approves it with `agw review approve`; then what the gateway recorded.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseConfig } from '../config/load.js'
import type { Gateway } from '../gateway/gateway.js'
import { createGateway } from '../gateway/start.js'
import { silentLogger } from '../log.js'
import type { AuditEvent } from '../recording/events.js'
import { PACKAGE_ROOT } from '../version.js'
import { startIssuer, type RunningIssuer } from './issuer.js'
import { startEmbeddedPostgres, type EmbeddedPostgres } from './pglite.js'

export interface DemoOptions {
  keep: boolean
  out: (text: string) => void
  /** Resolves when a kept demo should stop (default: SIGINT/SIGTERM). */
  until?: Promise<void>
}

const AGENT = { id: 'demo-agent', secret: 'demo-agent-secret' }
const CONNECTION = 'customers'

function style(code: number, text: string): string {
  return process.stdout.isTTY ? `\x1b[${code}m${text}\x1b[0m` : text
}
const bold = (t: string) => style(1, t)
const dim = (t: string) => style(2, t)
const cyan = (t: string) => style(36, t)

function which(cmd: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = spawn('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' })
    c.on('close', (code) => resolve(code === 0))
    c.on('error', () => resolve(false))
  })
}

/** Runs the real CLI, streaming its output through `out`, indented. */
function runCli(args: string[], env: Record<string, string>, out: (t: string) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(PACKAGE_ROOT, 'bin', 'run.js'), ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const pipe = (d: Buffer) => out(d.toString().replace(/^(?=.)/gm, '    '))
    child.stdout.on('data', pipe)
    child.stderr.on('data', pipe)
    child.on('error', reject)
    child.on('close', (code) => resolve(code ?? 1))
  })
}

/** The scripted agent's session: one `agw exec`, one database connection, these steps in order. */
export const DEMO_STEPS: Array<{ title: string; sql: string }> = [
  { title: 'The agent looks around', sql: 'select count(*) as customers from customers' },
  { title: 'The agent reads customer data: card numbers and emails are masked before it sees them', sql: 'select id, name, email, card_number, plan from customers order by id limit 3' },
  { title: 'The agent tries to drop a table: refused by rule, the session goes on', sql: 'drop table orders' },
  { title: 'The agent upgrades a customer: held until a reviewer approves', sql: "update customers set plan = 'enterprise' where id = 1" },
  { title: 'The agent checks its work', sql: 'select id, name, plan from customers where id = 1' },
]

/** The connection's policy: what the tour shows. */
const POLICY = `
    rules:
      - { name: no-schema-changes, match: { statement: [DROP, TRUNCATE, ALTER] }, action: deny, message: schema changes go through migrations }
      - { name: writes-need-review, match: { statement: [INSERT, UPDATE, DELETE] }, action: review, reviewers: [sre], timeout: 5m }
    masking:
      columns: [card_number]
      detectors: [email, credit_card]
      style: partial
`

/** The agent's command: psql with one -c per step (titles as \echo), or node-postgres doing the same. */
function agentCommand(hasPsql: boolean): string[] {
  const steps = DEMO_STEPS.flatMap((s) => [`\\echo`, `\\echo == ${s.title}`, s.sql])
  if (hasPsql) return ['psql', '-X', '-e', '-v', 'VERBOSITY=verbose', '--pset=footer=off', ...steps.flatMap((s) => ['-c', s])]
  return [process.execPath, join(PACKAGE_ROOT, 'dist', 'src', 'demo', 'pg-client.js'), ...steps]
}

/**
 * Output that can be held back and let go later, so that what the agent prints after a reviewer
 * acted comes after the reviewer's own output (the two run at the same time).
 */
class Valve {
  private queue: string[] | undefined
  text = ''
  constructor(private readonly out: (t: string) => void) {}
  write = (t: string): void => {
    this.text += t
    if (this.queue) this.queue.push(t)
    else this.out(t)
  }
  close(): void {
    this.queue ??= []
  }
  open(): void {
    const q = this.queue ?? []
    this.queue = undefined
    for (const t of q) this.out(t)
  }
}

function describeEvent(e: AuditEvent): string {
  const d = e.data
  const str = (v: unknown) => String(v)
  switch (e.type) {
    case 'session.start':
      return `${e.actor?.subject} (${e.actor?.kind}) started ${str(d.agent)} on ${str(d.host)}`
    case 'connection.open':
      return `opened ${e.connection}`
    case 'query':
      return str(d.sql)
    case 'query.result':
      return d.error ? `error ${(d.error as { message: string }).message}` : `${str(d.tag)}, ${str(d.rowCount)} row(s)${d.rows ? `: ${JSON.stringify((d.rows as unknown[][])[0])}${(d.rows as unknown[]).length > 1 ? ' ...' : ''}` : ''}`
    case 'masking.applied':
      return `masked ${str(d.values)} value(s): ${JSON.stringify({ ...(d.columns as object), ...(d.detectors as object) })}`
    case 'query.denied':
      return `${str(d.sql)}: ${str(d.message)}`
    case 'review.requested':
      return `${str(d.reviewId)} by rule ${str(d.rule)}, for ${(d.reviewers as string[]).join(', ')}: ${str(d.sql)}`
    case 'review.approved':
    case 'review.denied':
      return `${str(d.reviewId)} by ${str(d.by)}${d.reason ? `: ${str(d.reason)}` : ''}`
    case 'review.expired':
      return `${str(d.reviewId)}${d.reason ? `: ${str(d.reason)}` : ''}`
    case 'connection.close':
      return `closed ${e.connection} (${str(d.reason)})`
    case 'session.end':
      return `ended, exit code ${str(d.exitCode)}`
    default:
      return JSON.stringify(d).slice(0, 120)
  }
}

export async function runDemo(opts: DemoOptions): Promise<number> {
  const { out } = opts
  const dir = mkdtempSync(join(tmpdir(), 'agw-demo-'))
  let issuer: RunningIssuer | undefined
  let pg: EmbeddedPostgres | undefined
  let gateway: Gateway | undefined
  try {
    out(`${bold('agw demo')}: an agent, a gateway, a database and a reviewer, all on this machine.\n\n`)
    out(`${cyan('1.')} An OIDC issuer (oidc-provider) for identities ... `)
    issuer = await startIssuer({
      audience: 'agw',
      users: [{ id: 'dana', email: 'dana@example.com', name: 'Dana (SRE)', groups: ['sre'] }],
      clients: [
        { clientId: AGENT.id, clientSecret: AGENT.secret, groups: ['agents'], grants: ['client_credentials'] },
        { clientId: 'agw-cli', grants: ['device_code'] },
      ],
    })
    out(`${issuer.issuer}\n`)
    out(`${cyan('2.')} A PostgreSQL database (PGlite) with customers, emails and card numbers ... `)
    pg = await startEmbeddedPostgres()
    out(`127.0.0.1:${pg.port}\n`)
    out(`${cyan('3.')} The agw gateway, recording to SQLite in ${dir} ... `)
    const config = parseConfig(
      `
listen: 127.0.0.1:0
identity:
  issuers: [{ issuer: ${issuer.issuer}, audience: agw }]
storage: sqlite:./agw.db
encryption: { keyFile: ./agw.key }
roles: { auditors: [sre] }
connections:
  - name: ${CONNECTION}
    type: postgres
    description: the demo customer database (PGlite)
    target: { host: 127.0.0.1, port: ${pg.port}, database: postgres, user: postgres }
    allow: [agents]
${POLICY}`,
      'demo.yaml',
      dir,
    )
    gateway = createGateway(config, { logger: silentLogger })
    const url = await gateway.start()
    out(`${url}\n`)
    out(`   ${dim('policy: card numbers and emails masked; DROP/TRUNCATE/ALTER denied; INSERT/UPDATE/DELETE held for group sre')}\n`)
    out(`${cyan('4.')} The agent gets a token of its own (client credentials, group "agents") ... `)
    const token = await issuer.clientCredentialsToken(AGENT.id, AGENT.secret)
    out('ok\n')
    out(`${cyan('5.')} Dana, a reviewer in group "sre", signs in (device flow) ... `)
    const danaToken = await issuer.userToken('dana')
    out('ok\n\n')
    const env = { AGW_GATEWAY: url, AGW_TOKEN: token }
    const danaEnv = { AGW_GATEWAY: url, AGW_TOKEN: danaToken }

    const hasPsql = await which('psql')
    const command = agentCommand(hasPsql)
    out(`${bold('The agent session')} ${dim(`(agw exec -c ${CONNECTION} -- ${hasPsql ? 'psql' : 'node + node-postgres'}, every byte through the gateway)`)}\n`)
    const agent = new Valve(out)
    const session = runCli(['exec', '-c', CONNECTION, '--agent', 'demo-agent', '--', ...command], env, agent.write)
    // The UPDATE is held: wait for the hold line (or the end of the session, if it never comes).
    const held = await new Promise<string | undefined>((resolve) => {
      const timer = setInterval(() => {
        const m = /agw: held for review ([0-9a-f-]{36})/.exec(agent.text)
        if (m) {
          clearInterval(timer)
          resolve(m[1])
        }
      }, 20)
      void session.then(() => {
        clearInterval(timer)
        resolve(/agw: held for review ([0-9a-f-]{36})/.exec(agent.text)?.[1])
      })
    })
    if (!held) {
      out(`\n  the agent's UPDATE was not held for review (exit ${await session})\n`)
      return 1
    }
    agent.close()
    out(`\n  ${bold("Meanwhile, in Dana's terminal")} ${dim('(agw reviews shows what waits for her; `agw reviews --watch` is the live view)')}\n  ${dim('$')} agw reviews\n`)
    const listed = await runCli(['reviews'], danaEnv, out)
    const reason = 'one upgrade for a paying customer, ticket CS-1042'
    out(`  ${dim('$')} agw review approve ${held} --reason "${reason}"\n`)
    const approved = await runCli(['review', 'approve', held, '--reason', reason], danaEnv, out)
    out(`\n  ${bold('Back in the agent session')}\n`)
    agent.open()
    const code = await session
    if (listed !== 0 || approved !== 0 || code !== 0) {
      out(`\n  the tour failed (agw reviews exit ${listed}, agw review approve exit ${approved}, agent exit ${code})\n`)
      return 1
    }

    await gateway.events.flush()
    const sessions = (await gateway.store.listSessions({ limit: 20 })).filter((s) => s.agent === 'demo-agent')
    out(`\n${bold('What the gateway recorded')} ${dim(`(${sessions.length} session; \`agw sessions\` reads it through the API)`)}\n`)
    for (const s of [...sessions].reverse()) {
      out(`\n  session ${s.id}  ${dim(`${s.identity.subject} via ${s.agent}, exit ${s.exitCode ?? '-'}`)}\n`)
      for (const e of await gateway.store.listEvents({ sessionId: s.id })) {
        out(`    ${dim(e.time.slice(11, 23))}  ${e.type.padEnd(17)} ${describeEvent(e)}\n`)
      }
    }

    if (opts.keep) {
      out(`\n${bold('Still running.')} Try it yourself in another terminal:\n\n`)
      out(`  export AGW_GATEWAY=${url}\n  export AGW_TOKEN=${token}\n  agw exec -c ${CONNECTION} -- psql\n\n`)
      out(`And review what the agent changes, as Dana, in a third one:\n\n`)
      out(`  export AGW_GATEWAY=${url}\n  export AGW_TOKEN=${danaToken}\n  agw reviews --watch\n\n`)
      out(`${dim("The tokens are the demo agent's and Dana's, valid 15 minutes, from the demo issuer. Ctrl-C stops the demo.")}\n`)
      await (opts.until ??
        new Promise<void>((resolve) => {
          process.once('SIGINT', () => resolve())
          process.once('SIGTERM', () => resolve())
        }))
    } else {
      out(`\n${bold('Done.')} ${dim('Run `agw demo --keep` to keep it running and connect yourself.')}\n`)
    }
    return 0
  } finally {
    await gateway?.stop().catch(() => undefined)
    await pg?.stop().catch(() => undefined)
    await issuer?.close().catch(() => undefined)
    rmSync(dir, { recursive: true, force: true })
  }
}
