/**
 * agw as a user runs it: `agw gateway start --config FILE` and `agw connect NAME --json`, both the
 * built CLI (node bin/run.js) as child processes, with recording on (the gateway's default). The
 * agent's token comes from the embedded OIDC issuer running in the bench process (client
 * credentials), handed to `agw connect` as AGW_TOKEN; the gateway's config trusts that issuer.
 * pgbench and psql then use the local URL's port, user and one-time secret (PGPASSWORD).
 */
import { createWriteStream, mkdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { stringify } from 'yaml'
import type { ConnectInfo } from '../../src/client/connect.js'
import type { RunningIssuer } from '../../src/demo/issuer.js'
import { adminEndpoint } from '../lib/postgres.js'
import { Proc, waitForLine } from '../lib/proc.js'
import type { BenchConfig, RunningTarget } from './target.js'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const AGW_BIN = join(ROOT, 'bin', 'run.js')
export const CONNECTION = 'bench'
export const AGENT_GROUP = 'bench-agents'

export interface AgwContext {
  /** The run's temp dir; this target keeps its config, store and key in a folder inside it. */
  dir: string
  database: string
  issuer: RunningIssuer
  client: { id: string; secret: string }
  /** Write V8 CPU profiles of the gateway and the agent here (node --cpu-prof) when set. */
  profileDir?: string
}

export function gatewayConfig(config: BenchConfig, issuer: RunningIssuer, database: string): Record<string, unknown> {
  const target = adminEndpoint(database)
  return {
    listen: '127.0.0.1:0',
    storage: 'sqlite:./agw.db',
    encryption: { keyFile: './agw.key' },
    identity: { issuers: [{ issuer: issuer.issuer, audience: issuer.audience }] },
    connections: [
      {
        name: CONNECTION,
        type: 'postgres',
        description: `agw bench: ${config.label}`,
        target: { host: target.host, port: target.port, database: target.database, user: target.user },
        allow: [AGENT_GROUP],
        ...config.connection,
      },
    ],
    log: { level: 'info' },
  }
}

function nodeArgs(profileDir: string | undefined, name: string): string[] {
  return profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${name}.cpuprofile`] : []
}

/** Events in the gateway's store by type, read after it stopped (a diagnostic: recording was on). */
function recordedEvents(dbFile: string): string {
  try {
    const db = new Database(dbFile, { readonly: true, fileMustExist: true })
    try {
      const rows = db.prepare('select type, count(*) as n from events group by type order by n desc').all() as { type: string; n: number }[]
      const total = rows.reduce((s, r) => s + r.n, 0)
      return `${total} events recorded (${rows.map((r) => `${r.type} ${r.n}`).join(', ')}), store ${(statSync(dbFile).size / 1e6).toFixed(1)} MB`
    } finally {
      db.close()
    }
  } catch (err) {
    return `events recorded: unknown (${err instanceof Error ? err.message : String(err)})`
  }
}

export async function startAgw(config: BenchConfig, ctx: AgwContext): Promise<RunningTarget> {
  const dir = join(ctx.dir, `agw-${config.id}`)
  mkdirSync(dir, { mode: 0o700 })
  const configFile = join(dir, 'agw.yaml')
  writeFileSync(configFile, stringify(gatewayConfig(config, ctx.issuer, ctx.database)), { mode: 0o600 })
  const log = createWriteStream(join(dir, 'gateway.log'))
  const started: Proc[] = []
  const stopAllStarted = async () => {
    for (const p of started.reverse()) await p.stop()
    await new Promise<void>((r) => log.end(() => r()))
  }

  try {
    const gateway = new Proc(`agw gateway (${config.id})`, process.execPath, [...nodeArgs(ctx.profileDir, `gateway-${config.id}`), AGW_BIN, 'gateway', 'start', '--config', configFile], {
      cwd: dir,
      env: { ...process.env, CI: 'true' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    started.push(gateway)
    gateway.child.stdout?.on('data', (d: Buffer) => log.write(d))
    const [, url] = await waitForLine(gateway, 'stderr', /^agw gateway listening on (\S+)/, 30_000, (chunk) => log.write(chunk))
    if (!url) throw new Error('the gateway printed no URL')

    const token = await ctx.issuer.clientCredentialsToken(ctx.client.id, ctx.client.secret)
    const agent = new Proc(`agw connect (${config.id})`, process.execPath, [...nodeArgs(ctx.profileDir, `agent-${config.id}`), AGW_BIN, 'connect', CONNECTION, '--json'], {
      cwd: dir,
      env: { ...process.env, CI: 'true', AGW_GATEWAY: url, AGW_TOKEN: token },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    started.push(agent)
    agent.child.stderr?.on('data', (d: Buffer) => log.write(d))
    // stdout's one line carries the one-time secret: parsed in memory, never logged.
    const [line] = await waitForLine(agent, 'stdout', /^\{.*\}\s*$/, 30_000)
    const info = JSON.parse(line) as ConnectInfo

    return {
      config,
      endpoint: { host: info.host, port: info.port, user: info.user, database: info.database ?? ctx.database, password: info.password },
      processes: new Map([
        ['proxy', gateway.pid],
        ['agent', agent.pid],
      ]),
      async stop() {
        const notes: string[] = []
        const a = await agent.stop()
        const g = await gateway.stop()
        await new Promise<void>((r) => log.end(() => r()))
        if (a.code !== 0) notes.push(`agw connect exited ${a.signal ?? a.code}`)
        if (g.code !== 0) notes.push(`agw gateway exited ${g.signal ?? g.code}`)
        notes.push(recordedEvents(join(dir, 'agw.db')))
        return notes
      },
    }
  } catch (err) {
    await stopAllStarted()
    throw new Error(`${config.label} did not start: ${err instanceof Error ? err.message : String(err)} (log: ${join(dir, 'gateway.log')})`)
  }
}
