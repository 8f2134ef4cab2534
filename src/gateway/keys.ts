/** The gateway's master key: 32 random bytes, base64 in a file of mode 0600, created on first start. */
import { randomBytes } from 'node:crypto'
import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeFileSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import { AgwError } from '../errors.js'

export function ensureMasterKey(path: string): Buffer {
  const key = readMasterKeyIfExists(path)
  if (key) return key
  const fresh = randomBytes(32)
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, `${fresh.toString('base64')}\n`, { mode: 0o600, flag: 'wx' })
  return fresh
}

/** Reads an existing master key; never creates one (for `agw audit verify` and other offline tools). */
export function readMasterKey(path: string): Buffer {
  const key = readMasterKeyIfExists(path)
  if (!key) throw new AgwError('bad_input', `the master key ${path} does not exist: point encryption.keyFile at the gateway's key (the store cannot be read without it)`)
  return key
}

function readMasterKeyIfExists(path: string): Buffer | undefined {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new AgwError('bad_input', `cannot read the master key ${path}: ${(err as NodeJS.ErrnoException).code}`)
  }
  const mode = statSync(path).mode & 0o777
  if (mode & 0o077) {
    // Tighten rather than refuse: the operator sees a warning in the log via the caller.
    chmodSync(path, 0o600)
  }
  const key = Buffer.from(text.trim(), 'base64')
  if (key.length !== 32) throw new AgwError('bad_input', `the master key ${path} is not 32 bytes of base64; restore it from backup (events encrypted with it cannot be read without it)`)
  return key
}

/** Writes a key file atomically-enough for rotation: a new file of mode 0600, synced to disk. */
export function writeKeyFile(path: string, key: Buffer): void {
  const fd = openSync(path, 'w', 0o600)
  try {
    writeSync(fd, `${key.toString('base64')}\n`)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  chmodSync(path, 0o600)
}

/** Moves `from` over `to` (same directory, so the rename is atomic). */
export function replaceKeyFile(from: string, to: string): void {
  renameSync(from, to)
}
