/**
 * The OS keychain, through @napi-rs/keyring (keytar's maintained successor; docs/adr/0002-keychain.md):
 * macOS Keychain, Windows Credential Manager, and on Linux the Secret Service (gnome-keyring,
 * KWallet, KeePassXC) over D-Bus.
 *
 * The keytar-compatible shape (getPassword / setPassword / deletePassword by service and account)
 * is kept, with two differences from '@napi-rs/keyring/keytar' on Linux:
 * - the entry is pinned to the Secret Service. The keytar shim lets the binding fall back silently
 *   to the kernel keyutils store, which lives in kernel memory, is gone after a reboot and is not
 *   shared between login sessions: a login would vanish overnight. Without a Secret Service we
 *   want to know, and use the encrypted file instead;
 * - every call has a time limit, so a Secret Service that never answers (a prompt nobody can see)
 *   cannot hang the CLI.
 * Any failure (no D-Bus session, no Secret Service, a locked collection, no binding for this
 * platform) is a KeychainUnavailable with the reason, and callers fall back to the file.
 */
import { createRequire } from 'node:module'
import { describeError } from '../../errors.js'

export const KEYCHAIN_SERVICE = 'agw'
const CALL_TIMEOUT_MS = 5_000

export interface Keychain {
  /** For `agw whoami`: "Secret Service", "macOS Keychain", "Windows Credential Manager". */
  readonly name: string
  getPassword(service: string, account: string): Promise<string | null>
  setPassword(service: string, account: string, password: string): Promise<void>
  deletePassword(service: string, account: string): Promise<boolean>
}

export class KeychainUnavailable extends Error {
  constructor(reason: string) {
    super(reason)
    this.name = 'KeychainUnavailable'
  }
}

interface AsyncEntryLike {
  getPassword(signal?: AbortSignal | null): Promise<string | null>
  setPassword(password: string, signal?: AbortSignal | null): Promise<void>
  deletePassword(signal?: AbortSignal | null): Promise<boolean>
}
interface KeyringModule {
  AsyncEntry: new (service: string, account: string, options?: { linux?: { store?: 'secret-service' | 'keyutils' } }) => AsyncEntryLike
}
interface KeytarModule {
  getPassword(service: string, account: string): Promise<string | null>
  setPassword(service: string, account: string, password: string): Promise<void>
  deletePassword(service: string, account: string): Promise<boolean>
}

function platformName(platform: NodeJS.Platform): string {
  if (platform === 'darwin') return 'macOS Keychain'
  if (platform === 'win32') return 'Windows Credential Manager'
  return 'Secret Service'
}

/** Runs one keychain call with a time limit; every failure becomes KeychainUnavailable. */
async function guarded<T>(what: string, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController()
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort()
      reject(new KeychainUnavailable(`the keychain did not answer within ${CALL_TIMEOUT_MS / 1000} s (${what})`))
    }, CALL_TIMEOUT_MS)
    timer.unref()
  })
  try {
    return await Promise.race([call(controller.signal), timeout])
  } catch (err) {
    if (err instanceof KeychainUnavailable) throw err
    throw new KeychainUnavailable(`${what}: ${describeError(err)}`)
  } finally {
    clearTimeout(timer)
  }
}

class NativeKeychain implements Keychain {
  readonly name: string

  constructor(
    private readonly entry: (service: string, account: string) => AsyncEntryLike,
    platform: NodeJS.Platform,
  ) {
    this.name = platformName(platform)
  }

  getPassword(service: string, account: string): Promise<string | null> {
    return guarded('read', (signal) => this.entry(service, account).getPassword(signal))
  }

  setPassword(service: string, account: string, password: string): Promise<void> {
    return guarded('write', (signal) => this.entry(service, account).setPassword(password, signal))
  }

  deletePassword(service: string, account: string): Promise<boolean> {
    return guarded('delete', (signal) => this.entry(service, account).deletePassword(signal))
  }
}

class KeytarKeychain implements Keychain {
  readonly name: string

  constructor(
    private readonly keytar: KeytarModule,
    platform: NodeJS.Platform,
  ) {
    this.name = platformName(platform)
  }

  getPassword(service: string, account: string): Promise<string | null> {
    return guarded('read', () => this.keytar.getPassword(service, account))
  }

  setPassword(service: string, account: string, password: string): Promise<void> {
    return guarded('write', () => this.keytar.setPassword(service, account, password))
  }

  deletePassword(service: string, account: string): Promise<boolean> {
    return guarded('delete', () => this.keytar.deletePassword(service, account))
  }
}

let loaded: Keychain | KeychainUnavailable | undefined

/**
 * The keychain of this machine, or KeychainUnavailable when the native binding cannot load.
 * Whether it answers is only known by using it: a D-Bus session may be missing or locked.
 */
export function systemKeychain(platform: NodeJS.Platform = process.platform): Keychain | KeychainUnavailable {
  if (loaded) return loaded
  const require = createRequire(import.meta.url)
  try {
    if (platform === 'linux') {
      const { AsyncEntry } = require('@napi-rs/keyring') as KeyringModule
      loaded = new NativeKeychain((service, account) => new AsyncEntry(service, account, { linux: { store: 'secret-service' } }), platform)
    } else {
      loaded = new KeytarKeychain(require('@napi-rs/keyring/keytar') as KeytarModule, platform)
    }
  } catch (err) {
    loaded = new KeychainUnavailable(`the keychain binding cannot load on ${platform}: ${describeError(err)}`)
  }
  return loaded
}
