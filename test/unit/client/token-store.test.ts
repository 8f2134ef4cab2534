/** Where tokens go: the keychain first, then an encrypted file with its key in the keychain, then in machine.key. */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { KeychainUnavailable } from '../../../src/client/login/keychain.js'
import { storeModeFrom, TokenVault, type StoredTokens } from '../../../src/client/login/token-store.js'
import { FakeKeychain } from './fake-keychain.js'

const dirs: string[] = []
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'agw-vault-'))
  dirs.push(d)
  return d
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

const TOKENS: StoredTokens = { accessToken: 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.access-signature', refreshToken: 'refresh-token-value', expiresAt: 2_000_000_000, issuedAt: 1_999_999_100 }

function filesIn(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name))
}

function clearTextIn(dir: string): boolean {
  return filesIn(dir).some((f) => {
    const text = readFileSync(f, 'utf8')
    return text.includes(TOKENS.accessToken) || text.includes(TOKENS.refreshToken ?? '')
  })
}

describe('TokenVault', () => {
  it('keeps the tokens in the keychain when there is one, and writes no file', async () => {
    const dir = tempDir()
    const keychain = new FakeKeychain()
    const vault = new TokenVault({ dir, keychain })
    expect(await vault.save('default', TOKENS)).toBe('keychain')
    expect(keychain.dump()).toContain(TOKENS.refreshToken)
    expect(filesIn(dir)).toEqual([])
    expect(await vault.load('default', 'keychain')).toEqual(TOKENS)
    expect(vault.describe('keychain')).toBe('OS keychain (Fake Keychain)')
  })

  it('uses an encrypted file with its key in the keychain when the keychain refuses the tokens (size limit)', async () => {
    const dir = tempDir()
    const keychain = new FakeKeychain()
    keychain.maxLength = 100
    const vault = new TokenVault({ dir, keychain })
    expect(await vault.save('default', TOKENS)).toBe('file+keychain-key')
    expect(existsSync(join(dir, 'credentials', 'default.enc'))).toBe(true)
    expect(existsSync(join(dir, 'machine.key'))).toBe(false)
    expect(keychain.dump()).not.toContain(TOKENS.refreshToken)
    expect(clearTextIn(dir)).toBe(false)
    expect(await vault.load('default', 'file+keychain-key')).toEqual(TOKENS)
    // Without the key from the keychain the file does not open.
    keychain.entries.clear()
    await expect(vault.load('default', 'file+keychain-key')).rejects.toMatchObject({ code: 'unauthenticated' })
  })

  it('uses an encrypted file with machine.key when no keychain is reachable', async () => {
    const dir = tempDir()
    const vault = new TokenVault({ dir, keychain: new KeychainUnavailable('no D-Bus session') })
    expect(await vault.save('default', TOKENS)).toBe('file+machine-key')
    expect(filesIn(dir).sort()).toEqual([join(dir, 'credentials', 'default.enc'), join(dir, 'machine.key')])
    expect(clearTextIn(dir)).toBe(false)
    expect(await vault.load('default', 'file+machine-key')).toEqual(TOKENS)
    expect(vault.describe('file+machine-key')).toBe(`encrypted file (AES-256-GCM, key in ${join(dir, 'machine.key')}, as no OS keychain is reachable)`)
  })

  it('AGW_TOKEN_STORE=keychain fails rather than write a file; =file never puts tokens in the keychain', async () => {
    const dir = tempDir()
    await expect(new TokenVault({ dir, mode: 'keychain', keychain: new KeychainUnavailable('no D-Bus session') }).save('default', TOKENS)).rejects.toMatchObject({
      code: 'bad_input',
      message: expect.stringContaining('cannot store your tokens: the OS keychain is not reachable (no D-Bus session)'),
    })
    expect(filesIn(dir)).toEqual([])
    const keychain = new FakeKeychain()
    expect(await new TokenVault({ dir, mode: 'file', keychain }).save('default', TOKENS)).toBe('file+keychain-key')
    expect(keychain.dump()).not.toContain(TOKENS.refreshToken)
    expect(storeModeFrom({ AGW_TOKEN_STORE: 'File' })).toBe('file')
    expect(() => storeModeFrom({ AGW_TOKEN_STORE: 'plaintext' })).toThrow(/not one of auto, keychain, file/)
  })

  it('a keychain that stopped answering says so and how to get on, instead of "not logged in"', async () => {
    const dir = tempDir()
    const keychain = new FakeKeychain()
    const vault = new TokenVault({ dir, keychain })
    await vault.save('default', TOKENS)
    keychain.down = true
    await expect(vault.load('default', 'keychain')).rejects.toMatchObject({
      code: 'unauthenticated',
      message: expect.stringMatching(/kept in the OS keychain, which cannot be used now \(.*unlock prompt was dismissed\); unlock it, or run `agw login` again/),
    })
  })

  it('moving between stores leaves no stale copy, and remove() clears both', async () => {
    const dir = tempDir()
    const keychain = new FakeKeychain()
    keychain.down = true
    const vault = new TokenVault({ dir, keychain })
    expect(await vault.save('default', TOKENS)).toBe('file+machine-key')
    keychain.down = false
    expect(await vault.save('default', TOKENS)).toBe('keychain')
    expect(existsSync(join(dir, 'credentials', 'default.enc'))).toBe(false)
    expect(await vault.remove('default')).toEqual({ keychain: true, file: false })
    expect(await vault.load('default', 'keychain')).toBeUndefined()
  })

  it('remove() says when the keychain could not delete an entry, instead of pretending it did', async () => {
    const keychain = new FakeKeychain()
    const vault = new TokenVault({ dir: tempDir(), keychain })
    await vault.save('default', TOKENS)
    keychain.down = true
    expect(await vault.remove('default')).toEqual({ keychain: false, file: false, keychainError: expect.stringContaining('unlock prompt was dismissed') })
    keychain.down = false
    expect(await vault.load('default', 'keychain')).toEqual(TOKENS) // still there: the caller must say so
  })

  it('profiles and config directories never share an entry', async () => {
    const keychain = new FakeKeychain()
    const a = new TokenVault({ dir: tempDir(), keychain })
    const b = new TokenVault({ dir: tempDir(), keychain })
    await a.save('default', TOKENS)
    await a.save('work', { ...TOKENS, refreshToken: 'other' })
    expect(await b.load('default', 'keychain')).toBeUndefined()
    expect((await a.load('work', 'keychain'))?.refreshToken).toBe('other')
    expect(keychain.entries.size).toBe(2)
  })
})
