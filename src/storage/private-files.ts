/**
 * The store's files are private to the gateway's user, like the master key (issue 10): the
 * database and its -wal and -shm files 0600, a directory agw creates for them 0700. Umask-safe:
 * modes are set with chmod, not left to the process's umask.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs'
import { dirname, relative, resolve, sep } from 'node:path'

export const PRIVATE_FILE_MODE = 0o600
export const PRIVATE_DIR_MODE = 0o700

/** SQLite's files beside the database (write-ahead log and shared-memory index). */
export const SIDE_FILES = ['-wal', '-shm'] as const

/** chmod, except where this user may not (a store another user owns, a read-only file system): reading it must still work. */
function tighten(path: string, mode: number): void {
  try {
    chmodSync(path, mode)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code !== 'EPERM' && code !== 'EACCES' && code !== 'EROFS' && code !== 'ENOENT') throw err
  }
}

/**
 * Before SQLite opens `path`: creates the directories it needs (0700) and the database file
 * (0600) when missing, and tightens an existing database and its side files to 0600. SQLite
 * gives the -wal and -shm files it creates the database file's mode.
 */
export function preparePrivateStore(path: string): void {
  const dir = dirname(resolve(path))
  const created = mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE })
  if (created !== undefined) {
    // Every directory mkdir made, from the first one down to the store's.
    let d = resolve(created)
    tighten(d, PRIVATE_DIR_MODE)
    for (const part of relative(d, dir).split(sep).filter(Boolean)) {
      d = resolve(d, part)
      tighten(d, PRIVATE_DIR_MODE)
    }
  }
  if (!existsSync(path)) closeSync(openSync(path, 'a', PRIVATE_FILE_MODE))
  tighten(path, PRIVATE_FILE_MODE)
  for (const side of SIDE_FILES) if (existsSync(path + side)) tighten(path + side, PRIVATE_FILE_MODE)
}

/** After SQLite opened the database in WAL mode: the side files it made are 0600 too. */
export function tightenSideFiles(path: string): void {
  for (const side of SIDE_FILES) if (existsSync(path + side)) tighten(path + side, PRIVATE_FILE_MODE)
}
