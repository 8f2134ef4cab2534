// The throwaway cluster (test/support/pg-cluster.ts) really demands passwords: psql gets in as
// scram_user and md5_user with the right password and is refused with a wrong one. Also checks our
// SCRAM and MD5 client code (src/protocols/postgres/auth.ts) against a real server, over a minimal
// hand-written startup exchange (PostgreSQL protocol docs, "Message Flow: Start-up").
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { connect } from 'node:net'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ScramClient, md5PasswordResponse } from '../../src/protocols/postgres/auth.js'
import { startPgCluster } from '../support/pg-cluster.js'
import type { PgCluster } from '../support/pg-cluster.js'

const execFileP = promisify(execFile)

let pg: PgCluster
let startMs = 0

beforeAll(async () => {
  const t0 = Date.now()
  pg = await startPgCluster()
  startMs = Date.now() - t0
}, 120_000)

afterAll(async () => {
  await pg?.stop()
})

function withoutPgEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PG')))
}

/** Real psql (whatever `psql` is on PATH) over TCP; resolves to stdout, rejects with stderr. */
async function psql(user: string, password: string, sql: string): Promise<string> {
  const env = { ...withoutPgEnv(), PGPASSWORD: password, PGCONNECT_TIMEOUT: '10' }
  const args = ['-X', '-A', '-t', '-w', '-h', pg.host, '-p', String(pg.port), '-U', user, '-d', pg.database, '-c', sql]
  try {
    const { stdout } = await execFileP('psql', args, { env })
    return stdout.trim()
  } catch (err) {
    throw new Error(String((err as { stderr?: string }).stderr ?? err))
  }
}

/** Authenticates with our auth.ts over a raw socket; resolves once ReadyForQuery arrives. */
async function authenticate(user: string, password: string): Promise<{ method: 'scram' | 'md5' }> {
  const socket = connect(pg.port, pg.host)
  const send = (type: string, body: Buffer): void => {
    const header = Buffer.alloc(5)
    header.write(type, 0, 'latin1')
    header.writeInt32BE(body.length + 4, 1)
    socket.write(Buffer.concat([header, body]))
  }
  const cstr = (s: string): Buffer => Buffer.from(`${s}\0`, 'utf8')
  const int32 = (n: number): Buffer => {
    const b = Buffer.alloc(4)
    b.writeInt32BE(n)
    return b
  }
  const startup = Buffer.concat([int32(196608), cstr('user'), cstr(user), cstr('database'), cstr(pg.database), Buffer.from([0])])
  socket.write(Buffer.concat([int32(startup.length + 4), startup]))

  let scram: ScramClient | undefined
  let method: 'scram' | 'md5' | undefined
  let buffered = Buffer.alloc(0)
  try {
    return await new Promise((resolve, reject) => {
      socket.on('error', reject)
      socket.on('close', () => reject(new Error('connection closed')))
      socket.on('data', (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk])
        try {
          while (buffered.length >= 5 && buffered.length >= 1 + buffered.readInt32BE(1)) {
            const type = String.fromCharCode(buffered[0] as number)
            const body = buffered.subarray(5, 1 + buffered.readInt32BE(1))
            buffered = buffered.subarray(1 + buffered.readInt32BE(1))
            if (type === 'E') {
              const fields = new Map(body.toString('utf8').split('\0').filter(Boolean).map((f) => [f[0], f.slice(1)]))
              throw new Error(`${fields.get('C')}: ${fields.get('M')}`)
            }
            if (type === 'Z') return resolve({ method: method as 'scram' | 'md5' })
            if (type !== 'R') continue
            const code = body.readInt32BE(0)
            if (code === 5) {
              method = 'md5'
              send('p', cstr(md5PasswordResponse(user, password, body.subarray(4, 8))))
            } else if (code === 10) {
              method = 'scram'
              expect(body.subarray(4).toString('utf8').split('\0')).toContain('SCRAM-SHA-256')
              scram = new ScramClient(password)
              const first = Buffer.from(scram.clientFirstMessage())
              send('p', Buffer.concat([cstr('SCRAM-SHA-256'), int32(first.length), first]))
            } else if (code === 11) {
              send('p', Buffer.from((scram as ScramClient).handleServerFirst(body.subarray(4).toString('utf8'))))
            } else if (code === 12) {
              ;(scram as ScramClient).verifyServerFinal(body.subarray(4).toString('utf8'))
            } else if (code !== 0) {
              throw new Error(`unexpected authentication request ${code}`)
            }
          }
        } catch (err) {
          reject(err)
        }
      })
    })
  } finally {
    socket.end(Buffer.from([0x58, 0, 0, 0, 4])) // Terminate
  }
}

describe('pg-cluster', () => {
  it('starts in a few seconds', () => {
    console.log(`pg-cluster: started on port ${pg.port} in ${startMs} ms`)
    expect(startMs).toBeLessThan(15_000)
  })

  it('lets psql in as scram_user and md5_user with their passwords', async () => {
    expect(await psql(pg.users.scram.user, pg.users.scram.password, 'SELECT count(*) FROM customers')).toBe('3')
    expect(await psql(pg.users.md5.user, pg.users.md5.password, "SELECT name FROM customers WHERE id = 1")).toBe('Ada Lovelace')
  })

  it('stores real SCRAM and MD5 verifiers', async () => {
    const out = await pg.admin("SELECT rolname, left(rolpassword, 14) FROM pg_authid WHERE rolname LIKE '%_user' ORDER BY 1")
    expect(out.trim().split('\n')).toEqual([expect.stringMatching(/^md5_user\|md5[0-9a-f]{11}$/), 'scram_user|SCRAM-SHA-256$'])
  })

  it('refuses psql with a wrong password, and users without a pg_hba line', async () => {
    await expect(psql(pg.users.scram.user, 'wrong', 'SELECT 1')).rejects.toThrow(/password authentication failed/)
    await expect(psql(pg.users.md5.user, 'wrong', 'SELECT 1')).rejects.toThrow(/password authentication failed/)
    await expect(psql('postgres', 'anything', 'SELECT 1')).rejects.toThrow(/no pg_hba.conf entry/)
  })
})

describe('src/protocols/postgres/auth.ts against a real PostgreSQL', () => {
  it('SCRAM-SHA-256: authenticates and verifies the server signature', async () => {
    expect(await authenticate(pg.users.scram.user, pg.users.scram.password)).toEqual({ method: 'scram' })
  })

  it('MD5: authenticates', async () => {
    expect(await authenticate(pg.users.md5.user, pg.users.md5.password)).toEqual({ method: 'md5' })
  })

  it('wrong passwords are refused with 28P01', async () => {
    await expect(authenticate(pg.users.scram.user, 'wrong')).rejects.toThrow(/^28P01/)
    await expect(authenticate(pg.users.md5.user, 'wrong')).rejects.toThrow(/^28P01/)
  })

  it('SASLprep matches the server for a non-ASCII password', async () => {
    // U+FF50 FULLWIDTH p, U+00A0 NO-BREAK SPACE, U+00E9 e-acute: the server stores the normalised form.
    const password = '\uff50ass\u00a0w\u00f6rd\u00e9'
    await pg.admin(`SET password_encryption = 'scram-sha-256'; ALTER ROLE scram_user PASSWORD '${password}';`)
    try {
      expect(await authenticate(pg.users.scram.user, password)).toEqual({ method: 'scram' })
      expect(await authenticate(pg.users.scram.user, 'pass w\u00f6rd\u00e9')).toEqual({ method: 'scram' })
      expect(await psql(pg.users.scram.user, password, 'SELECT 1')).toBe('1')
    } finally {
      await pg.admin(`SET password_encryption = 'scram-sha-256'; ALTER ROLE scram_user PASSWORD '${pg.users.scram.password}';`)
    }
  })
})

describe('pg-cluster faults', () => {
  it('kill() drops connections at once, start() recovers with the data', async () => {
    await psql(pg.users.scram.user, pg.users.scram.password, "INSERT INTO customers (name) VALUES ('survivor')")
    const socket = connect(pg.port, pg.host)
    await new Promise((resolve) => socket.once('connect', resolve))
    const closed = new Promise((resolve) => socket.once('close', resolve))
    socket.on('error', () => undefined)
    // Read, so a FIN (not only a RST) is seen: a paused socket never notices the end and sits in CLOSE-WAIT.
    socket.resume()
    await pg.kill()
    await closed
    await expect(psql(pg.users.scram.user, pg.users.scram.password, 'SELECT 1')).rejects.toThrow(/Connection refused|could not connect/)
    const t0 = Date.now()
    await pg.start()
    console.log(`pg-cluster: restarted after kill in ${Date.now() - t0} ms`)
    expect(await psql(pg.users.scram.user, pg.users.scram.password, "SELECT count(*) FROM customers WHERE name = 'survivor'")).toBe('1')
  })

  it('stop() removes the temp dir; start() builds a fresh cluster on the same port', async () => {
    const oldRoot = pg.rootDir
    await pg.stop()
    expect(existsSync(oldRoot)).toBe(false)
    await pg.start()
    expect(pg.rootDir).not.toBe(oldRoot)
    expect(await psql(pg.users.md5.user, pg.users.md5.password, 'SELECT count(*) FROM customers')).toBe('3')
  })
})
