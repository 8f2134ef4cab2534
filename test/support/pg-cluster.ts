/**
 * A throwaway PostgreSQL cluster for integration tests: its own data directory in a fresh temp dir,
 * listening on 127.0.0.1:<free port> (and a Unix socket in the temp dir), with a pg_hba.conf that
 * demands passwords: `scram_user` must use SCRAM-SHA-256 and `md5_user` MD5 (its stored password
 * really is an MD5 hash). The superuser `postgres` gets trust over the Unix socket only, for setup
 * and for `admin()`.
 *
 * The postmaster is our own child process (not started through pg_ctl), so `kill()` can SIGKILL it
 * and its backends like a crash, and Node reaps it. When we run as root, initdb and postgres run as
 * the `postgres` OS user, because PostgreSQL refuses to run as root.
 *
 *   const pg = await startPgCluster()
 *   ... psql -h 127.0.0.1 -p pg.port -U pg.users.scram.user app ...
 *   await pg.stop()
 */
import { execFile, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, openSync, closeSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs'
import { appendFile, chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { promisify } from 'node:util'

const execFileP = promisify(execFile)

export interface PgCluster {
  host: '127.0.0.1'
  port: number
  /** The temp dir holding the data directory, the Unix socket and postgres.log. */
  rootDir: string
  dataDir: string
  /** Where the Unix socket is (pass as `-h` / `host` to connect as the superuser). */
  socketDir: string
  superuser: 'postgres'
  users: { scram: { user: string; password: string }; md5: { user: string; password: string } }
  database: string
  /** Runs SQL as the superuser through the Unix socket (psql -f -); resolves to psql's output. */
  admin(sql: string, database?: string): Promise<string>
  /** Fast shutdown, then removes the temp dir. A later `start()` builds a fresh cluster (same port and users). */
  stop(): Promise<void>
  /** SIGKILLs the postmaster and every backend at once, like a crash; keeps the data for `start()`. */
  kill(): Promise<void>
  /** Starts again after `kill()` (crash recovery, data kept) or `stop()` (fresh cluster). */
  start(): Promise<void>
}

export interface PgClusterOptions {
  port?: number
}

const READY_TIMEOUT_MS = 30_000
const STOP_TIMEOUT_MS = 30_000

/** The newest /usr/lib/postgresql/<version>/bin holding initdb and postgres, else a PATH directory. */
export function findPgBinDir(): string {
  const base = '/usr/lib/postgresql'
  const versions = existsSync(base)
    ? readdirSync(base)
        .filter((v) => /^\d+(\.\d+)?$/.test(v) && existsSync(join(base, v, 'bin', 'initdb')) && existsSync(join(base, v, 'bin', 'postgres')))
        .sort((a, b) => Number(b) - Number(a))
    : []
  if (versions[0] !== undefined) return join(base, versions[0], 'bin')
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres'))) return dir
  }
  throw new Error('pg-cluster: no PostgreSQL server binaries (initdb, postgres) in /usr/lib/postgresql/*/bin or on PATH')
}

/** A port the kernel considers free right now (bind port 0, read it, close). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))))
    })
  })
}

/** The uid/gid to run PostgreSQL as: the `postgres` OS user when we are root, else ourselves. */
async function serverIdentity(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined
  try {
    const [{ stdout: uid }, { stdout: gid }] = await Promise.all([execFileP('id', ['-u', 'postgres']), execFileP('id', ['-g', 'postgres'])])
    return { uid: Number(uid.trim()), gid: Number(gid.trim()) }
  } catch (err) {
    throw new Error('pg-cluster: running as root, and there is no `postgres` OS user to run PostgreSQL as', { cause: err })
  }
}

/** Our environment without PG* variables (PGHOST, PGPASSWORD, PGDATA ... would redirect the tools). */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { LC_ALL: 'C', TZ: 'UTC' }
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PG') && k !== 'LC_ALL') env[k] = v
  return env
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return '(no log)'
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Children of `pid`, from /proc (Linux). */
function childPids(pid: number): number[] {
  const out: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === pid) out.push(Number(entry))
    } catch {
      // exited meanwhile
    }
  }
  return out
}

/**
 * Live processes whose working directory is `dir`: every process of a cluster runs in its data
 * directory, including a backend forked while the postmaster was being frozen (which the ppid scan
 * can miss, and which would keep its client's connection open after the kill).
 */
function pidsIn(dir: string): number[] {
  const out: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (readlinkSync(`/proc/${entry}/cwd`) === dir && !isDead(Number(entry))) out.push(Number(entry))
    } catch {
      // exited meanwhile, or not ours to read
    }
  }
  return out
}

/** True once `pid` is gone or a zombie (PID 1 in a container may never reap orphans). */
function isDead(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')
  } catch {
    return true
  }
}

export async function startPgCluster(opts: PgClusterOptions = {}): Promise<PgCluster> {
  const binDir = findPgBinDir()
  const identity = await serverIdentity()
  const port = opts.port ?? (await freePort())
  const env = cleanEnv()
  const users = {
    scram: { user: 'scram_user', password: `scram-${randomBytes(8).toString('hex')}` },
    md5: { user: 'md5_user', password: `md5-${randomBytes(8).toString('hex')}` },
  }
  const database = 'app'
  let rootDir = ''
  let postmaster: ChildProcess | undefined
  let exited: Promise<void> = Promise.resolve()

  const dataDir = (): string => join(rootDir, 'data')
  const logFile = (): string => join(rootDir, 'postgres.log')
  const asServer = identity ? { uid: identity.uid, gid: identity.gid } : {}

  const onExit = (): void => {
    // Last resort if a test run dies without stop(): immediate shutdown, remove the files.
    postmaster?.kill('SIGQUIT')
    if (rootDir) rmSync(rootDir, { recursive: true, force: true })
  }

  async function psql(sql: string, db: string): Promise<string> {
    const args = ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', rootDir, '-p', String(port), '-U', 'postgres', '-d', db, '-f', '-']
    return new Promise((resolve, reject) => {
      const child = execFile(join(binDir, 'psql'), args, { env, cwd: rootDir }, (err, stdout, stderr) => {
        if (err) reject(new Error(`pg-cluster: psql failed: ${stderr.trim() || err.message}`))
        else resolve(stdout)
      })
      child.stdin?.end(sql)
    })
  }

  async function init(): Promise<void> {
    rootDir = await mkdtemp(join(tmpdir(), 'agw-pg-'))
    if (identity) await chown(rootDir, identity.uid, identity.gid)
    await chmod(rootDir, 0o700)
    const initdbArgs = ['-D', dataDir(), '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync']
    try {
      await execFileP(join(binDir, 'initdb'), initdbArgs, { env, cwd: rootDir, ...asServer })
    } catch (err) {
      const stderr = (err as { stderr?: string }).stderr ?? ''
      throw new Error(`pg-cluster: initdb failed: ${stderr.trim() || String(err)}`, { cause: err })
    }
    await appendFile(
      join(dataDir(), 'postgresql.conf'),
      [
        '',
        '# agw test cluster',
        "listen_addresses = '127.0.0.1'",
        `port = ${port}`,
        `unix_socket_directories = '${rootDir}'`,
        'fsync = off',
        'full_page_writes = off',
        'wal_level = minimal',
        'max_wal_senders = 0',
        'shared_buffers = 16MB',
        'max_connections = 40',
        "password_encryption = 'scram-sha-256'",
        '',
      ].join('\n'),
    )
    // initdb wrote these files as the server user; rewriting keeps owner and mode.
    await writeFile(
      join(dataDir(), 'pg_hba.conf'),
      [
        '# TYPE  DATABASE  USER        ADDRESS        METHOD',
        'local   all       postgres                   trust',
        'host    all       scram_user  127.0.0.1/32   scram-sha-256',
        'host    all       md5_user    127.0.0.1/32   md5',
        '',
      ].join('\n'),
    )
    await launch()
    await psql(
      `SET password_encryption = 'scram-sha-256';
       CREATE ROLE scram_user LOGIN PASSWORD '${users.scram.password}';
       SET password_encryption = 'md5';
       CREATE ROLE md5_user LOGIN PASSWORD '${users.md5.password}';
       CREATE DATABASE ${database};`,
      'postgres',
    )
    await psql(
      `CREATE TABLE customers (id serial PRIMARY KEY, name text, email text, card text);
       INSERT INTO customers (name, email, card) VALUES
         ('Ada Lovelace', 'ada@example.com', '4111 1111 1111 1111'),
         ('Alan Turing', 'alan@example.com', '5500 0000 0000 0004'),
         ('Grace Hopper', 'grace@example.com', '3400 0000 0000 009');
       GRANT ALL ON SCHEMA public TO scram_user, md5_user;
       GRANT ALL ON ALL TABLES IN SCHEMA public TO scram_user, md5_user;
       GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO scram_user, md5_user;`,
      database,
    )
  }

  /** Spawns the postmaster and waits until it accepts connections on 127.0.0.1. */
  async function launch(): Promise<void> {
    const log = openSync(logFile(), 'a')
    const child = spawn(join(binDir, 'postgres'), ['-D', dataDir()], { env, cwd: rootDir, stdio: ['ignore', log, log], ...asServer })
    closeSync(log)
    postmaster = child
    let exitInfo: string | undefined
    exited = new Promise((resolve) => {
      const gone = (info: string): void => {
        exitInfo ??= info
        if (postmaster === child) postmaster = undefined
        resolve()
      }
      child.once('exit', (code, signal) => gone(`exited (${signal ?? code})`))
      child.once('error', (err) => gone(`failed to start (${err.message})`))
    })
    process.once('exit', onExit)

    const deadline = Date.now() + READY_TIMEOUT_MS
    while (true) {
      if (exitInfo !== undefined) throw new Error(`pg-cluster: postgres ${exitInfo}:\n${tail(logFile())}`)
      const ready = await execFileP(join(binDir, 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(port), '-t', '2'], { env }).then(
        () => true,
        () => false,
      )
      if (ready) return
      if (Date.now() > deadline) throw new Error(`pg-cluster: postgres not ready after ${READY_TIMEOUT_MS} ms:\n${tail(logFile())}`)
      await pause(25)
    }
  }

  async function shutdown(signal: NodeJS.Signals): Promise<void> {
    const child = postmaster
    if (!child) return
    child.kill(signal)
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS)
    await exited
    clearTimeout(timer)
  }

  const cluster: PgCluster = {
    host: '127.0.0.1',
    port,
    get rootDir() {
      return rootDir
    },
    get dataDir() {
      return dataDir()
    },
    get socketDir() {
      return rootDir
    },
    superuser: 'postgres',
    users,
    database,
    admin: (sql, db = 'postgres') => psql(sql, db),
    async stop() {
      await shutdown('SIGINT') // fast shutdown: roll back, disconnect, checkpoint
      process.removeListener('exit', onExit)
      if (rootDir) await rm(rootDir, { recursive: true, force: true })
      rootDir = ''
    },
    async kill() {
      const child = postmaster
      if (!child?.pid) return
      // Freeze the postmaster so it cannot fork or restart children, list them, then kill them all.
      process.kill(child.pid, 'SIGSTOP')
      const backends = childPids(child.pid)
      child.kill('SIGKILL')
      for (const pid of backends) {
        try {
          process.kill(pid, 'SIGKILL')
        } catch {
          // already gone
        }
      }
      await exited
      const deadline = Date.now() + STOP_TIMEOUT_MS
      while (!backends.every(isDead) && Date.now() < deadline) await pause(10)
      // Stragglers: anything still running in the data directory.
      for (let left = pidsIn(dataDir()); left.length > 0 && Date.now() < deadline; left = pidsIn(dataDir())) {
        for (const pid of left) {
          try {
            process.kill(pid, 'SIGKILL')
          } catch {
            // already gone
          }
        }
        await pause(10)
      }
      process.removeListener('exit', onExit)
    },
    async start() {
      if (postmaster) return
      if (rootDir && existsSync(dataDir())) await launch()
      else await init()
    },
  }

  try {
    await init()
  } catch (err) {
    await cluster.stop().catch(() => undefined)
    throw err
  }
  return cluster
}
