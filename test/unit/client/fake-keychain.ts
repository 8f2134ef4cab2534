/** An in-memory stand-in for the OS keychain, with the failures real ones have. */
import { KeychainUnavailable, type Keychain } from '../../../src/client/login/keychain.js'

export class FakeKeychain implements Keychain {
  readonly name = 'Fake Keychain'
  readonly entries = new Map<string, string>()
  /** Refuse writes longer than this (Windows Credential Manager stops at 2.5 KB). */
  maxLength = Infinity
  /** Every call fails, as a locked or vanished Secret Service does. */
  down = false

  private key(service: string, account: string): string {
    return `${service}\u0000${account}`
  }

  private check(): void {
    if (this.down) throw new KeychainUnavailable('read: Secret Service: unlock prompt was dismissed')
  }

  async getPassword(service: string, account: string): Promise<string | null> {
    this.check()
    return this.entries.get(this.key(service, account)) ?? null
  }

  async setPassword(service: string, account: string, password: string): Promise<void> {
    this.check()
    if (password.length > this.maxLength) throw new KeychainUnavailable('write: Attribute password is longer than platform limit')
    this.entries.set(this.key(service, account), password)
  }

  async deletePassword(service: string, account: string): Promise<boolean> {
    this.check()
    return this.entries.delete(this.key(service, account))
  }

  /** Every stored value, concatenated (to look for a token). */
  dump(): string {
    return [...this.entries.values()].join('\n')
  }
}
