/**
 * The encrypted token file: AES-256-GCM with a random 96-bit IV per write, the profile name as
 * additional authenticated data (a file copied over another profile's does not open), and a
 * 32-byte key that lives in the keychain when there is one, otherwise in `machine.key` (mode
 * 0600) in the config directory. See docs/adr/0002-keychain.md for what each protects against.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { closeSync, constants, existsSync, fstatSync, openSync, readFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { AgwError } from '../../errors.js'
import { ensurePrivateDir } from '../profiles.js'

export const KEY_BYTES = 32
const IV_BYTES = 12

/** Where the file key lives, as written in the envelope. */
export type FileKeySource = 'keychain' | 'machine'

interface Envelope {
  v: 1
  alg: 'A256GCM'
  key: FileKeySource
  iv: string
  tag: string
  data: string
}

function aad(label: string): Buffer {
  return Buffer.from(`agw-credentials/v1/${label}`, 'utf8')
}

/** Encrypts `plaintext` for `label` (the profile name); returns the file content. */
export function seal(key: Buffer, keySource: FileKeySource, label: string, plaintext: string): string {
  if (key.length !== KEY_BYTES) throw new AgwError('internal', 'the credentials key must be 32 bytes')
  const iv = randomBytes(IV_BYTES)
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  cipher.setAAD(aad(label))
  const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
  const envelope: Envelope = {
    v: 1,
    alg: 'A256GCM',
    key: keySource,
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    data: data.toString('base64'),
  }
  return `${JSON.stringify(envelope)}\n`
}

/** Which key a sealed file needs, without opening it. */
export function keySourceOf(content: string, path: string): FileKeySource {
  return parseEnvelope(content, path).key
}

function parseEnvelope(content: string, path: string): Envelope {
  let env: Partial<Envelope>
  try {
    env = JSON.parse(content) as Partial<Envelope>
  } catch {
    throw new AgwError('unauthenticated', `${path} is damaged (not JSON); run \`agw login\` to replace it`)
  }
  if (env.v !== 1 || env.alg !== 'A256GCM' || (env.key !== 'keychain' && env.key !== 'machine') || !env.iv || !env.tag || !env.data) {
    throw new AgwError('unauthenticated', `${path} is not an agw credentials file; run \`agw login\` to replace it`)
  }
  return env as Envelope
}

/** Decrypts a sealed file; a wrong key, label or any changed byte is an error, never garbage. */
export function unseal(key: Buffer, label: string, content: string, path: string): string {
  const env = parseEnvelope(content, path)
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(env.iv, 'base64'))
    decipher.setAAD(aad(label))
    decipher.setAuthTag(Buffer.from(env.tag, 'base64'))
    return Buffer.concat([decipher.update(Buffer.from(env.data, 'base64')), decipher.final()]).toString('utf8')
  } catch {
    throw new AgwError(
      'unauthenticated',
      `${path} cannot be decrypted with the ${env.key === 'keychain' ? 'key in the keychain' : 'machine key'} (changed, or the key was replaced); run \`agw login\``,
    )
  }
}

/**
 * The machine key: 32 random bytes in `<dir>/machine.key`, created with mode 0600. An existing
 * key that other users may read (or that is not a regular file of ours) is refused: fail closed.
 */
export function machineKey(dir: string): Buffer {
  const path = join(dir, 'machine.key')
  if (!existsSync(path)) {
    ensurePrivateDir(dir)
    try {
      const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600)
      try {
        writeSync(fd, `${randomBytes(KEY_BYTES).toString('base64')}\n`)
      } finally {
        closeSync(fd)
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err // another process made it first
    }
  }
  const fd = openSync(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0))
  let text: string
  try {
    const st = fstatSync(fd)
    if (!st.isFile()) throw new AgwError('bad_input', `${path} is not a regular file; delete it and run \`agw login\``)
    if (process.platform !== 'win32') {
      if ((st.mode & 0o077) !== 0) {
        throw new AgwError('bad_input', `${path} may be read by other users (mode ${(st.mode & 0o777).toString(8)}); run \`chmod 600 ${path}\``)
      }
      if (typeof process.getuid === 'function' && st.uid !== process.getuid()) {
        throw new AgwError('bad_input', `${path} belongs to another user (uid ${st.uid}); delete it and run \`agw login\``)
      }
    }
    text = readFileSync(fd, 'utf8')
  } finally {
    closeSync(fd)
  }
  const key = Buffer.from(text.trim(), 'base64')
  if (key.length !== KEY_BYTES) throw new AgwError('bad_input', `${path} does not hold a 32-byte key; delete it and run \`agw login\``)
  return key
}
