/**
 * `agw demo`: everything on one machine with no setup. An embedded OIDC issuer, a gateway on
 * SQLite in a temp dir, an embedded PostgreSQL (PGlite) as the target, and a scripted agent session
 * through the real `agw exec`, then what the gateway recorded. Each step prints what it shows.
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

/** The statements the scripted agent runs, with what each is meant to show. */
export const DEMO_STEPS: Array<{ title: string; sql: string }> = [
  { title: 'The agent looks around', sql: 'select count(*) as customers from customers' },
  { title: 'The agent reads customer data', sql: 'select id, name, email, card_number, plan from customers order by id limit 3' },
  { title: 'The agent joins two tables', sql: 'select c.name, sum(o.amount_cents) / 100.0 as paid from customers c join orders o on o.customer_id = c.id where o.status = $$paid$$ group by c.name order by paid desc' },
]

function describeEvent(e: AuditEvent): string {
  const d = e.data
  switch (e.type) {
    case 'session.start':
      return `${e.actor?.subject} (${e.actor?.kind}) started ${String(d.agent)} on ${String(d.host)}`
    case 'connection.open':
      return `opened ${e.connection}`
    case 'query':
      return `${String(d.sql)}`
    case 'query.result':
      return d.error ? `error ${(d.error as { message: string }).message}` : `${String(d.tag)}, ${String(d.rowCount)} row(s)${d.rows ? `: ${JSON.stringify((d.rows as unknown[][])[0])}${(d.rows as unknown[]).length > 1 ? ' ...' : ''}` : ''}`
    case 'connection.close':
      return `closed ${e.connection} (${String(d.reason)})`
    case 'session.end':
      return `ended, exit code ${String(d.exitCode)}`
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
    out(`${bold('agw demo')}: an agent, a gateway, a database, all on this machine.\n\n`)
    out(`${cyan('1.')} An OIDC issuer (oidc-provider) for identities ... `)
    issuer = await startIssuer({
      audience: 'agw',
      users: [{ id: 'dana', email: 'dana@example.com', name: 'Dana (SRE)', groups: ['sre'] }],
      clients: [{ clientId: AGENT.id, clientSecret: AGENT.secret, groups: ['agents'], grants: ['client_credentials'] }],
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
`,
      'demo.yaml',
      dir,
    )
    gateway = createGateway(config, { logger: silentLogger })
    const url = await gateway.start()
    out(`${url}\n`)
    out(`${cyan('4.')} The agent gets a token of its own (client credentials, group "agents") ... `)
    const token = await issuer.clientCredentialsToken(AGENT.id, AGENT.secret)
    out('ok\n\n')
    const env = { AGW_GATEWAY: url, AGW_TOKEN: token }

    const hasPsql = await which('psql')
    out(`${bold('The agent session')} ${dim(`(agw exec -c ${CONNECTION} -- ${hasPsql ? 'psql' : 'node + node-postgres'}, every byte through the gateway)`)}\n`)
    for (const step of DEMO_STEPS) {
      out(`\n  ${bold(step.title)}\n  ${dim('$')} ${step.sql}\n`)
      const args = hasPsql
        ? ['exec', '-c', CONNECTION, '--agent', 'demo-agent', '--', 'psql', '-X', '--pset=footer=off', '-c', step.sql]
        : ['exec', '-c', CONNECTION, '--agent', 'demo-agent', '--', process.execPath, join(PACKAGE_ROOT, 'dist', 'src', 'demo', 'pg-client.js'), step.sql]
      const code = await runCli(args, env, out)
      if (code !== 0) {
        out(`\n  the step failed (exit ${code})\n`)
        return 1
      }
    }

    await gateway.events.flush()
    const sessions = await gateway.store.listSessions({ limit: DEMO_STEPS.length })
    out(`\n${bold('What the gateway recorded')} ${dim(`(${sessions.length} sessions; \`agw sessions\` reads them through the API)`)}\n`)
    for (const s of [...sessions].reverse()) {
      out(`\n  session ${s.id}  ${dim(`${s.identity.subject} via ${s.agent}, exit ${s.exitCode ?? '-'}`)}\n`)
      for (const e of await gateway.store.listEvents({ sessionId: s.id })) {
        out(`    ${dim(e.time.slice(11, 23))}  ${e.type.padEnd(17)} ${describeEvent(e)}\n`)
      }
    }

    if (opts.keep) {
      out(`\n${bold('Still running.')} Try it yourself in another terminal:\n\n`)
      out(`  export AGW_GATEWAY=${url}\n  export AGW_TOKEN=${token}\n  agw exec -c ${CONNECTION} -- psql\n\n`)
      out(`${dim('The token is the demo agent\'s, valid 15 minutes, from the demo issuer. Ctrl-C stops the demo.')}\n`)
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
