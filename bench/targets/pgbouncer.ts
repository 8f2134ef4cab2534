/**
 * pgbouncer (Debian package `pgbouncer`) as the reference proxy: session pooling, our own process
 * on a high loopback port with a generated ini and userlist, no unix socket. Clients log in with
 * SCRAM-SHA-256 like agw's local port does; the userlist holds only the SCRAM verifier, never the
 * password. pgbouncer refuses to run as root, so as root it is started with `-u postgres`.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto'
import { chownSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { execFileSync } from 'node:child_process'
import type { Endpoint } from '../lib/pgbench.js'
import { adminEndpoint, psql } from '../lib/postgres.js'
import { Proc, run } from '../lib/proc.js'
import { freeLoopbackPort } from './net.js'
import type { BenchConfig, RunningTarget } from './target.js'

const USER = 'bench'

/** A SCRAM-SHA-256 verifier as PostgreSQL and pgbouncer store it (RFC 5802/7677). */
export function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256')
  const clientKey = createHmac('sha256', salted).update('Client Key').digest()
  const storedKey = createHash('sha256').update(clientKey).digest()
  const serverKey = createHmac('sha256', salted).update('Server Key').digest()
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`
}

export function pgbouncerIni(opts: { port: number; database: string; server: Endpoint; authFile: string; maxClients: number }): string {
  const s = opts.server
  return [
    '[databases]',
    `${opts.database} = host=${s.host} port=${s.port} dbname=${s.database} user=${s.user}`,
    '',
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${opts.port}`,
    "unix_socket_dir =",
    'auth_type = scram-sha-256',
    `auth_file = ${opts.authFile}`,
    'pool_mode = session',
    `max_client_conn = ${opts.maxClients + 10}`,
    `default_pool_size = ${opts.maxClients + 2}`,
    'ignore_startup_parameters = extra_float_digits',
    // Give idle server connections back soon: the other configurations need the server's slots.
    'server_idle_timeout = 5',
    'log_connections = 0',
    'log_disconnections = 0',
    'admin_users =',
    '',
  ].join('\n')
}

function postgresIds(): { uid: number; gid: number } | undefined {
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim())
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim())
    return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : undefined
  } catch {
    return undefined
  }
}

export async function pgbouncerVersion(): Promise<string> {
  const r = await run('pgbouncer', ['--version'])
  return r.code === 0 ? (r.stdout.split('\n')[0] ?? '').trim() : 'not installed'
}

export async function startPgbouncer(config: BenchConfig, opts: { dir: string; database: string; maxClients: number }): Promise<RunningTarget> {
  const dir = join(opts.dir, `pgbouncer-${config.id}`)
  mkdirSync(dir, { mode: 0o700 })
  const asRoot = process.getuid?.() === 0
  const owner = asRoot ? postgresIds() : undefined
  if (asRoot && !owner) throw new Error('pgbouncer will not run as root and there is no postgres user to run it as')
  const password = randomBytes(24).toString('base64url')
  const authFile = join(dir, 'userlist.txt')
  writeFileSync(authFile, `"${USER}" "${scramVerifier(password)}"\n`, { mode: 0o600 })
  const iniFile = join(dir, 'pgbouncer.ini')
  if (owner) {
    chownSync(dir, owner.uid, owner.gid)
    chownSync(authFile, owner.uid, owner.gid)
  }

  let lastError = ''
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freeLoopbackPort()
    writeFileSync(iniFile, pgbouncerIni({ port, database: opts.database, server: adminEndpoint(opts.database), authFile, maxClients: opts.maxClients }), { mode: 0o600 })
    if (owner) chownSync(iniFile, owner.uid, owner.gid)
    const proc = new Proc('pgbouncer', 'pgbouncer', [...(owner ? ['-u', 'postgres'] : []), iniFile], { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    const keep = (d: Buffer) => (output = (output + d.toString()).slice(-4000))
    proc.child.stdout?.on('data', keep)
    proc.child.stderr?.on('data', keep)
    const endpoint: Endpoint = { host: '127.0.0.1', port, user: USER, database: opts.database, password }
    // Ready when a client can log in and run a query through it.
    const deadline = Date.now() + 15_000
    let ready = false
    while (proc.running && Date.now() < deadline) {
      try {
        await psql(endpoint, 'select 1', 5_000)
        ready = true
        break
      } catch (err) {
        lastError = err instanceof Error ? err.message : String(err)
        await new Promise((r) => setTimeout(r, 100))
      }
    }
    if (ready) {
      return {
        config,
        endpoint,
        processes: new Map([['proxy', proc.pid]]),
        async stop() {
          // SIGINT is pgbouncer's orderly shutdown (exit 0); SIGTERM is its "fast exit" (exit 1).
          const e = await proc.stop(10_000, 'SIGINT')
          return e.code === 0 ? [] : [`pgbouncer exited ${e.signal ?? e.code}`]
        },
      }
    }
    await proc.stop(10_000, 'SIGINT')
    lastError = `${lastError}\n${output}`.trim()
    if (!/address already in use|bind/i.test(output)) break
  }
  throw new Error(`pgbouncer did not start: ${lastError.slice(-2000)}`)
}
