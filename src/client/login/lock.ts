/**
 * A lock file per profile, held while a refresh rotates its tokens. Providers rotate refresh
 * tokens, and most treat a rotated token presented again as theft and revoke the whole grant: two
 * `agw` processes refreshing at once would log the user out. The second one waits here, then
 * reads the tokens the first one stored.
 *
 * `O_EXCL` create; a lock older than STALE_MS (a process killed mid-refresh) is taken over.
 */
import { closeSync, constants, openSync, rmSync, statSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { AgwError } from '../../errors.js'
import { ensurePrivateDir } from '../profiles.js'

const STALE_MS = 30_000
const WAIT_MS = 20_000
const RETRY_MS = 50

function tryCreate(path: string): boolean {
  try {
    const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600)
    writeSync(fd, `${process.pid}\n`)
    closeSync(fd)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw err
  }
}

function isStale(path: string, now: number): boolean {
  try {
    return now - statSync(path).mtimeMs > STALE_MS
  } catch {
    return false // gone already: the next try takes it
  }
}

/** Runs `fn` while holding `<dir>/locks/<name>.lock`. */
export async function withLock<T>(dir: string, name: string, fn: () => Promise<T>): Promise<T> {
  const locks = join(dir, 'locks')
  ensurePrivateDir(locks)
  const path = join(locks, `${name}.lock`)
  const deadline = Date.now() + WAIT_MS
  while (!tryCreate(path)) {
    if (isStale(path, Date.now())) {
      rmSync(path, { force: true })
      continue
    }
    if (Date.now() > deadline) {
      throw new AgwError('unreachable', `another agw process has held ${path} for more than ${WAIT_MS / 1000} s; if none is running, delete that file`)
    }
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS))
  }
  try {
    return await fn()
  } finally {
    rmSync(path, { force: true })
  }
}
