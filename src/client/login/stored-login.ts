/**
 * The token of a stored login (`agw login`), refreshed silently before it expires.
 *
 * A refresh runs under the profile's lock and re-reads the stored tokens first: another agw
 * process may have rotated them a moment ago, and presenting the old refresh token again would
 * look like theft to the provider. The rotated refresh token (when the provider rotates) replaces
 * the old one before the lock is released. A refused refresh is one line: "your login expired;
 * run `agw login`"; a provider that cannot be reached is `unreachable`, not a logout.
 */
import * as oidc from 'openid-client'
import { AgwError } from '../../errors.js'
import { DEFAULT_PROFILE, type LoginRecord, type ProfileStore } from '../profiles.js'
import type { TokenProvider } from '../tokens.js'
import { withLock } from './lock.js'
import { describeOidcError, expiryOf, isFresh, isNetworkFailure, issuedAtOf, issuerConfiguration } from './oidc.js'
import type { StoredTokens, TokenVault } from './token-store.js'

export function loginCommand(profile: string): string {
  return profile === DEFAULT_PROFILE ? '`agw login`' : `\`agw login --profile ${profile}\``
}

export function loginExpired(profile: string): AgwError {
  return new AgwError('unauthenticated', `your login expired; run ${loginCommand(profile)}`)
}

/** What a refresh returns (the token endpoint's answer). */
export interface RefreshedTokens {
  access_token: string
  refresh_token?: string
  expires_in?: number
}

/**
 * Exchanges a refresh token at the provider. Rejects with AgwError('unreachable') when the
 * provider cannot be reached, and with anything else when it refused.
 */
export type Refresher = (record: LoginRecord, refreshToken: string) => Promise<RefreshedTokens>

/** The refresh token grant with openid-client (the production Refresher). */
export const refreshAtProvider: Refresher = async (record, refreshToken) => {
  const config = await issuerConfiguration(record.issuer, { clientId: record.clientId }).catch((err: unknown) => {
    throw new AgwError('unreachable', `cannot refresh your login: ${(err as Error).message}`, { cause: err })
  })
  try {
    return await oidc.refreshTokenGrant(config, refreshToken, { resource: record.resource })
  } catch (err) {
    if (isNetworkFailure(err)) {
      throw new AgwError('unreachable', `cannot reach the identity provider ${record.issuer} to refresh your login: ${describeOidcError(err)}`, { cause: err })
    }
    throw err
  }
}

export interface StoredLoginOptions {
  profiles: ProfileStore
  vault: TokenVault
  profile: string
  record: LoginRecord
  /** Default: refreshAtProvider. */
  refresh?: Refresher
}

export class StoredLoginProvider implements TokenProvider {
  readonly source: string
  readonly profile: string
  readonly #profiles: ProfileStore
  readonly #vault: TokenVault
  readonly #refresh: Refresher
  #record: LoginRecord
  #current: StoredTokens | undefined

  constructor(opts: StoredLoginOptions) {
    this.profile = opts.profile
    this.#profiles = opts.profiles
    this.#vault = opts.vault
    this.#record = opts.record
    this.#refresh = opts.refresh ?? refreshAtProvider
    this.source = `login (profile ${opts.profile})`
  }

  /** Where the tokens are kept, in words (for `agw whoami`). */
  get store(): string {
    return this.#vault.describe(this.#record.store)
  }

  get record(): LoginRecord {
    return this.#record
  }

  async getToken(): Promise<string> {
    if (this.#current && isFresh(this.#current)) return this.#current.accessToken
    const stored = await this.#vault.load(this.profile, this.#record.store)
    if (!stored) throw new AgwError('unauthenticated', `no stored tokens for profile ${this.profile}; run ${loginCommand(this.profile)}`)
    if (isFresh(stored)) {
      this.#current = stored
      return stored.accessToken
    }
    this.#current = await withLock(this.#profiles.dir, this.profile, () => this.refreshLocked())
    return this.#current.accessToken
  }

  private async refreshLocked(): Promise<StoredTokens> {
    const record = this.#profiles.get(this.profile)?.login
    if (!record) throw new AgwError('unauthenticated', `you are logged out of profile ${this.profile}; run ${loginCommand(this.profile)}`)
    this.#record = record
    const latest = await this.#vault.load(this.profile, record.store)
    if (latest && isFresh(latest)) return latest // another agw process refreshed meanwhile
    if (!latest?.refreshToken) throw loginExpired(this.profile)

    let response: RefreshedTokens
    try {
      response = await this.#refresh(record, latest.refreshToken)
    } catch (err) {
      if (err instanceof AgwError && err.code === 'unreachable') throw err
      throw loginExpired(this.profile)
    }

    const tokens: StoredTokens = {
      accessToken: response.access_token,
      expiresAt: expiryOf(response.access_token, response.expires_in),
    }
    const issuedAt = issuedAtOf(response.access_token)
    if (issuedAt !== undefined) tokens.issuedAt = issuedAt
    // Rotation: the provider's new refresh token replaces the old one, which is now spent.
    const refreshToken = response.refresh_token ?? latest.refreshToken
    tokens.refreshToken = refreshToken
    const store = await this.#vault.save(this.profile, tokens)
    const updated = this.#profiles.update(this.profile, (p) =>
      p.login ? { ...p, login: { ...p.login, expiresAt: tokens.expiresAt, store, refreshable: true, refreshedAt: new Date().toISOString() } } : p,
    )
    if (updated?.login) this.#record = updated.login
    return tokens
  }
}
