/**
 * `agw logout`: revoke the refresh token at the identity provider (when it has a revocation
 * endpoint), then delete the tokens from every store. The gateway URL stays remembered, so
 * `agw login` alone logs in again. Local deletion happens even when revocation fails.
 */
import * as oidc from 'openid-client'
import { ProfileStore } from '../profiles.js'
import { withLock } from './lock.js'
import { describeOidcError, issuerConfiguration } from './oidc.js'
import { storeModeFrom, TokenVault, type StoredTokens } from './token-store.js'

export interface LogoutResult {
  profile: string
  /** False when the profile had no login. */
  wasLoggedIn: boolean
  /** What happened at the identity provider. */
  revocation: 'revoked' | 'no-revocation-endpoint' | 'no-refresh-token' | 'not-logged-in' | { failed: string }
  /** Set when the tokens were in the keychain and it could not delete them (they may still be there). */
  keychainError?: string
}

export async function logout(opts: { profile: string; env?: NodeJS.ProcessEnv }): Promise<LogoutResult> {
  const env = opts.env ?? process.env
  const profiles = ProfileStore.fromEnvironment(env)
  const vault = new TokenVault({ dir: profiles.dir, mode: storeModeFrom(env) })
  return withLock(profiles.dir, opts.profile, async () => {
    const record = profiles.get(opts.profile)?.login
    if (!record) {
      await vault.remove(opts.profile) // leftovers of an interrupted login, if any
      return { profile: opts.profile, wasLoggedIn: false, revocation: 'not-logged-in' as const }
    }
    let revocation: LogoutResult['revocation'] = 'no-refresh-token'
    let tokens: StoredTokens | undefined
    try {
      tokens = await vault.load(opts.profile, record.store)
    } catch (err) {
      revocation = { failed: `cannot read the stored tokens: ${(err as Error).message}` }
    }
    if (tokens?.refreshToken) {
      try {
        const config = await issuerConfiguration(record.issuer, { clientId: record.clientId })
        if (config.serverMetadata().revocation_endpoint) {
          await oidc.tokenRevocation(config, tokens.refreshToken, { token_type_hint: 'refresh_token' })
          revocation = 'revoked'
        } else {
          revocation = 'no-revocation-endpoint'
        }
      } catch (err) {
        revocation = { failed: describeOidcError(err) }
      }
    }
    const removed = await vault.remove(opts.profile)
    profiles.update(opts.profile, (p) => {
      const { login: _dropped, ...rest } = p
      return rest
    })
    const result: LogoutResult = { profile: opts.profile, wasLoggedIn: true, revocation }
    if (record.store === 'keychain' && removed.keychainError !== undefined) result.keychainError = removed.keychainError
    return result
  })
}
