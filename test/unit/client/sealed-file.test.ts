/** The encrypted token file (AES-256-GCM) and the machine key file. */
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { keySourceOf, machineKey, seal, unseal } from '../../../src/client/login/sealed-file.js'

const dirs: string[] = []
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'agw-seal-'))
  dirs.push(d)
  return d
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

const SECRET = '{"access_token":"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl","refresh_token":"rt-0123456789"}'

describe('seal / unseal', () => {
  it('round-trips, and the file holds neither the tokens nor any part of them in clear', () => {
    const key = randomBytes(32)
    const sealed = seal(key, 'machine', 'default', SECRET)
    expect(unseal(key, 'default', sealed, 'f')).toBe(SECRET)
    expect(sealed).not.toContain('rt-0123456789')
    expect(sealed).not.toContain('eyJ')
    expect(JSON.parse(sealed)).toMatchObject({ v: 1, alg: 'A256GCM', key: 'machine' })
    expect(keySourceOf(sealed, 'f')).toBe('machine')
  })

  it('uses a fresh IV each time', () => {
    const key = randomBytes(32)
    expect(seal(key, 'machine', 'default', SECRET)).not.toBe(seal(key, 'machine', 'default', SECRET))
  })

  it('refuses another key, another profile, and any changed byte', () => {
    const key = randomBytes(32)
    const sealed = seal(key, 'keychain', 'default', SECRET)
    expect(() => unseal(randomBytes(32), 'default', sealed, 'f')).toThrow(/cannot be decrypted with the key in the keychain/)
    expect(() => unseal(key, 'work', sealed, 'f')).toThrow(/cannot be decrypted/)
    const env = JSON.parse(sealed) as { data: string }
    const data = Buffer.from(env.data, 'base64')
    data[0] = (data[0] as number) ^ 1
    expect(() => unseal(key, 'default', JSON.stringify({ ...env, data: data.toString('base64') }), 'f')).toThrow(/cannot be decrypted/)
    expect(() => unseal(key, 'default', 'not json', '/x/default.enc')).toThrow(/\/x\/default\.enc is damaged/)
    expect(() => unseal(key, 'default', '{"v":2}', 'f')).toThrow(/not an agw credentials file/)
  })
})

describe('machineKey', () => {
  it('creates a 32-byte key with mode 0600 in a 0700 directory, and returns the same key later', () => {
    const dir = join(tempDir(), 'agw')
    const key = machineKey(dir)
    expect(key).toHaveLength(32)
    expect(statSync(join(dir, 'machine.key')).mode & 0o777).toBe(0o600)
    expect(statSync(dir).mode & 0o777).toBe(0o700)
    expect(machineKey(dir).equals(key)).toBe(true)
  })

  it('refuses a key file other users may read (fail closed)', () => {
    const dir = tempDir()
    machineKey(dir)
    chmodSync(join(dir, 'machine.key'), 0o644)
    expect(() => machineKey(dir)).toThrow(/may be read by other users \(mode 644\); run `chmod 600 /)
  })

  it('refuses a key file that does not hold 32 bytes', () => {
    const dir = tempDir()
    writeFileSync(join(dir, 'machine.key'), 'c2hvcnQ=\n', { mode: 0o600 })
    expect(() => machineKey(dir)).toThrow(/does not hold a 32-byte key/)
    expect(readFileSync(join(dir, 'machine.key'), 'utf8')).toBe('c2hvcnQ=\n') // left for the user to inspect
  })
})
