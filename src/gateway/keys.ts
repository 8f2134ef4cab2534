/** The gateway's master key: 32 random bytes, base64 in a file of mode 0600, created on first start. */
import { randomBytes } from 'node:crypto'
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { AgwError } from '../errors.js'

export function ensureMasterKey(path: string): Buffer {
  let text: string | undefined
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new AgwError('bad_input', `cannot read the master key ${path}: ${(err as NodeJS.ErrnoException).code}`)
    }
  }
  if (text === undefined) {
    const key = randomBytes(32)
    mkdirSync(dirname(path), { recursive: true })
    writeFileSync(path, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' })
    return key
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
