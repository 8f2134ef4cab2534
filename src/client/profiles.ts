/**
 * Login profiles: the CLI's non-secret state, one JSON file in the config directory.
 *
 *   $AGW_CONFIG_DIR, else $XDG_CONFIG_HOME/agw, else ~/.config/agw
 *     profiles.json          gateway URL per profile, and who is logged in there (subject, email,
 *                            groups, issuer, expiry, which token store holds the tokens)
 *     credentials/NAME.enc   tokens, encrypted (only when the keychain does not hold them)
 *     machine.key            the file key when there is no keychain (mode 0600)
 *     locks/NAME.lock        held while a refresh rotates the tokens of a profile
 *
 * Nothing in profiles.json is secret, but it says who you are, so the directory is 0700 and the
 * file 0600. Writes go to a temp file and are renamed into place, so a reader never sees half.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { AgwError } from '../errors.js'

export const DEFAULT_PROFILE = 'default'
const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

/** Where the tokens of a login live (never the tokens themselves). */
export type TokenStoreKind =
  /** The OS keychain holds the tokens (Keychain, Credential Manager, Secret Service). */
  | 'keychain'
  /** An AES-256-GCM file holds them; its key is in the keychain. */
  | 'file+keychain-key'
  /** An AES-256-GCM file holds them; its key is machine.key (mode 0600) in the config dir. */
  | 'file+machine-key'

/** Who logged in, as the gateway saw it at login or last refresh. */
export interface LoginRecord {
  issuer: string
  clientId: string
  /** The RFC 8707 resource the tokens were requested for. */
  resource: string
  subject: string
  email?: string
  name?: string
  groups: string[]
  kind: 'human' | 'agent'
  /** Access token expiry, seconds since the epoch. */
  expiresAt: number
  /** True when a refresh token is stored (silent refresh is possible). */
  refreshable: boolean
  store: TokenStoreKind
  loggedInAt: string
  refreshedAt?: string
}

export interface Profile {
  /** The gateway this profile talks to, remembered by `agw login --gateway URL`. */
  gateway?: string
  login?: LoginRecord
}

interface ProfilesFile {
  version: 1
  profiles: Record<string, Profile>
}

/** The CLI's config directory (not created here). */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.AGW_CONFIG_DIR) return resolve(env.AGW_CONFIG_DIR)
  if (env.XDG_CONFIG_HOME) return resolve(env.XDG_CONFIG_HOME, 'agw')
  return join(homedir(), '.config', 'agw')
}

/** The profile name from a flag or AGW_PROFILE, checked (it names files). */
export function profileName(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const name = flag ?? env.AGW_PROFILE ?? DEFAULT_PROFILE
  if (!PROFILE_NAME.test(name)) {
    throw new AgwError('bad_input', `profile name "${name}" is not allowed: use letters, digits, '.', '_' and '-' (at most 64), starting with a letter or digit`)
  }
  return name
}

/** Creates `dir` (and parents) private to this user. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  chmodSync(dir, 0o700)
}

/** Writes a file atomically with mode 0600. */
export function writePrivateFile(path: string, data: string | Buffer): void {
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`
  writeFileSync(tmp, data, { mode: 0o600 })
  renameSync(tmp, path)
}

export class ProfileStore {
  readonly dir: string
  readonly path: string

  constructor(dir: string) {
    this.dir = dir
    this.path = join(dir, 'profiles.json')
  }

  static fromEnvironment(env: NodeJS.ProcessEnv = process.env): ProfileStore {
    return new ProfileStore(configDir(env))
  }

  private read(): ProfilesFile {
    if (!existsSync(this.path)) return { version: 1, profiles: {} }
    let parsed: unknown
    try {
      parsed = JSON.parse(readFileSync(this.path, 'utf8'))
    } catch (err) {
      throw new AgwError('bad_input', `${this.path} is not valid JSON (${(err as Error).message}); fix or delete it, then run \`agw login\``)
    }
    const file = parsed as Partial<ProfilesFile>
    if (typeof file !== 'object' || file === null || file.version !== 1 || typeof file.profiles !== 'object' || file.profiles === null) {
      throw new AgwError('bad_input', `${this.path} is not an agw profiles file (version 1); delete it and run \`agw login\``)
    }
    return file as ProfilesFile
  }

  get(name: string): Profile | undefined {
    const p = this.read().profiles[name]
    return p === undefined ? undefined : structuredClone(p)
  }

  list(): Record<string, Profile> {
    return this.read().profiles
  }

  /** Read-modify-write of one profile; `change` returning undefined deletes it. */
  update(name: string, change: (current: Profile) => Profile | undefined): Profile | undefined {
    const file = this.read()
    const next = change(structuredClone(file.profiles[name] ?? {}))
    if (next === undefined) delete file.profiles[name]
    else file.profiles[name] = next
    ensurePrivateDir(this.dir)
    writePrivateFile(this.path, `${JSON.stringify(file, null, 2)}\n`)
    return next
  }
}
