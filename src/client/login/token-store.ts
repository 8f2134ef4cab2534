/**
 * Where a profile's tokens are kept, in order of preference:
 *   1. the OS keychain (one entry per profile);
 *   2. an encrypted file, its key in the keychain (a keychain that refuses the token entry, e.g.
 *      Windows Credential Manager's 2.5 KB limit on a long JWT);
 *   3. an encrypted file, its key in machine.key (mode 0600): no keychain at all (headless Linux
 *      without a Secret Service, CI, a container).
 * AGW_TOKEN_STORE=keychain|file narrows the choice (keychain: fail rather than use a file).
 * The tokens are never written anywhere else, and never in clear.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { AgwError } from '../../errors.js'
import { ensurePrivateDir, writePrivateFile, type TokenStoreKind } from '../profiles.js'
import { KEYCHAIN_SERVICE, KeychainUnavailable, systemKeychain, type Keychain } from './keychain.js'
import { KEY_BYTES, keySourceOf, machineKey, seal, unseal, type FileKeySource } from './sealed-file.js'

export interface StoredTokens {
  accessToken: string
  refreshToken?: string
  /** Access token expiry, seconds since the epoch. */
  expiresAt: number
  /** When the access token was issued, seconds since the epoch (for the refresh margin). */
  issuedAt?: number
}

export type StoreMode = 'auto' | 'keychain' | 'file'

export function storeModeFrom(env: NodeJS.ProcessEnv = process.env): StoreMode {
  const mode = (env.AGW_TOKEN_STORE ?? 'auto').trim().toLowerCase() || 'auto'
  if (mode === 'auto' || mode === 'keychain' || mode === 'file') return mode
  throw new AgwError('bad_input', `AGW_TOKEN_STORE="${env.AGW_TOKEN_STORE}" is not one of auto, keychain, file`)
}

export interface TokenVaultOptions {
  /** The config directory. */
  dir: string
  mode?: StoreMode
  /** Injected in tests; default: this machine's keychain. */
  keychain?: Keychain | KeychainUnavailable
}

interface Serialized {
  access_token: string
  refresh_token?: string
  expires_at: number
  issued_at?: number
}

function serialize(t: StoredTokens): string {
  const s: Serialized = { access_token: t.accessToken, expires_at: t.expiresAt }
  if (t.refreshToken !== undefined) s.refresh_token = t.refreshToken
  if (t.issuedAt !== undefined) s.issued_at = t.issuedAt
  return JSON.stringify(s)
}

function deserialize(text: string, where: string): StoredTokens {
  let s: Partial<Serialized>
  try {
    s = JSON.parse(text) as Partial<Serialized>
  } catch {
    throw new AgwError('unauthenticated', `the tokens in ${where} are damaged; run \`agw login\``)
  }
  if (typeof s.access_token !== 'string' || typeof s.expires_at !== 'number') {
    throw new AgwError('unauthenticated', `the tokens in ${where} are incomplete; run \`agw login\``)
  }
  const t: StoredTokens = { accessToken: s.access_token, expiresAt: s.expires_at }
  if (typeof s.refresh_token === 'string') t.refreshToken = s.refresh_token
  if (typeof s.issued_at === 'number') t.issuedAt = s.issued_at
  return t
}

export class TokenVault {
  readonly dir: string
  readonly mode: StoreMode
  readonly #keychain: Keychain | KeychainUnavailable

  constructor(opts: TokenVaultOptions) {
    this.dir = opts.dir
    this.mode = opts.mode ?? 'auto'
    this.#keychain = opts.keychain ?? systemKeychain()
  }

  /** The keychain entry names include the config dir, so two config dirs never share tokens. */
  private tokenAccount(profile: string): string {
    return `tokens:${profile}@${this.dir}`
  }

  private fileKeyAccount(): string {
    return `file-key@${this.dir}`
  }

  credentialsPath(profile: string): string {
    return join(this.dir, 'credentials', `${profile}.enc`)
  }

  /** A sentence for `agw whoami`: where this kind of store keeps the tokens. */
  describe(kind: TokenStoreKind): string {
    const keychain = this.#keychain instanceof KeychainUnavailable ? 'keychain' : this.#keychain.name
    switch (kind) {
      case 'keychain':
        return `OS keychain (${keychain})`
      case 'file+keychain-key':
        return `encrypted file (AES-256-GCM, key in the ${keychain})`
      case 'file+machine-key':
        return `encrypted file (AES-256-GCM, key in ${join(this.dir, 'machine.key')}, as no OS keychain is reachable)`
    }
  }

  private keychain(): Keychain {
    if (this.#keychain instanceof KeychainUnavailable) throw this.#keychain
    return this.#keychain
  }

  private async keychainFileKey(create: boolean): Promise<Buffer> {
    const kc = this.keychain()
    const stored = await kc.getPassword(KEYCHAIN_SERVICE, this.fileKeyAccount())
    if (stored !== null) {
      const key = Buffer.from(stored, 'base64')
      if (key.length === KEY_BYTES) return key
      if (!create) throw new KeychainUnavailable('the file key in the keychain is not 32 bytes')
    }
    if (!create) throw new KeychainUnavailable('the keychain holds no file key for this config directory')
    const key = randomBytes(KEY_BYTES)
    await kc.setPassword(KEYCHAIN_SERVICE, this.fileKeyAccount(), key.toString('base64'))
    return key
  }

  private candidates(): TokenStoreKind[] {
    if (this.mode === 'keychain') return ['keychain']
    if (this.mode === 'file') return ['file+keychain-key', 'file+machine-key']
    return ['keychain', 'file+keychain-key', 'file+machine-key']
  }

  /** Saves the tokens in the first store that takes them; returns which one. */
  async save(profile: string, tokens: StoredTokens): Promise<TokenStoreKind> {
    const text = serialize(tokens)
    const reasons: string[] = []
    for (const kind of this.candidates()) {
      try {
        await this.saveIn(kind, profile, text)
      } catch (err) {
        if (err instanceof KeychainUnavailable) {
          reasons.push(err.message)
          continue
        }
        throw err
      }
      await this.removeOthers(kind, profile)
      return kind
    }
    throw new AgwError(
      'bad_input',
      `cannot store your tokens: the OS keychain is not reachable (${reasons.join('; ')}); unlock it, or set AGW_TOKEN_STORE=file to use an encrypted file`,
    )
  }

  private async saveIn(kind: TokenStoreKind, profile: string, text: string): Promise<void> {
    if (kind === 'keychain') {
      await this.keychain().setPassword(KEYCHAIN_SERVICE, this.tokenAccount(profile), text)
      return
    }
    const source: FileKeySource = kind === 'file+keychain-key' ? 'keychain' : 'machine'
    const key = source === 'keychain' ? await this.keychainFileKey(true) : machineKey(this.dir)
    const path = this.credentialsPath(profile)
    ensurePrivateDir(join(this.dir, 'credentials'))
    writePrivateFile(path, seal(key, source, profile, text))
  }

  private async removeOthers(kept: TokenStoreKind, profile: string): Promise<void> {
    if (kept !== 'keychain') {
      await this.deleteKeychainEntry(profile).catch(() => undefined)
    } else {
      rmSync(this.credentialsPath(profile), { force: true })
    }
  }

  private async deleteKeychainEntry(profile: string): Promise<boolean> {
    if (this.#keychain instanceof KeychainUnavailable) return false
    return this.#keychain.deletePassword(KEYCHAIN_SERVICE, this.tokenAccount(profile))
  }

  /** The stored tokens, or undefined when there are none. */
  async load(profile: string, kind: TokenStoreKind): Promise<StoredTokens | undefined> {
    if (kind === 'keychain') {
      let text: string | null
      try {
        text = await this.keychain().getPassword(KEYCHAIN_SERVICE, this.tokenAccount(profile))
      } catch (err) {
        throw this.unreachable(err)
      }
      return text === null ? undefined : deserialize(text, `the ${this.describe('keychain')}`)
    }
    const path = this.credentialsPath(profile)
    if (!existsSync(path)) return undefined
    const content = readFileSync(path, 'utf8')
    let key: Buffer
    try {
      key = keySourceOf(content, path) === 'keychain' ? await this.keychainFileKey(false) : machineKey(this.dir)
    } catch (err) {
      throw this.unreachable(err)
    }
    return deserialize(unseal(key, profile, content, path), path)
  }

  private unreachable(err: unknown): unknown {
    if (!(err instanceof KeychainUnavailable)) return err
    return new AgwError(
      'unauthenticated',
      `your login is kept in the OS keychain, which cannot be used now (${err.message}); unlock it, or run \`agw login\` again to keep the tokens in an encrypted file`,
    )
  }

  /**
   * Deletes the profile's tokens from every store. `keychainError` says why the keychain entry
   * could not be deleted (it may still be there); absent when it was deleted or never existed.
   */
  async remove(profile: string): Promise<{ keychain: boolean; file: boolean; keychainError?: string }> {
    const path = this.credentialsPath(profile)
    const file = existsSync(path)
    rmSync(path, { force: true })
    try {
      return { keychain: await this.deleteKeychainEntry(profile), file }
    } catch (err) {
      return { keychain: false, file, keychainError: (err as Error).message }
    }
  }
}
