/**
 * Where the CLI gets its bearer token, first match wins:
 *   1. AGW_TOKEN: a bearer token from elsewhere (a CI job's OIDC token), used as is;
 *   2. AGW_CLIENT_ID + AGW_CLIENT_SECRET: an agent identity, client-credentials grant against the
 *      gateway's identity provider, held in memory and fetched again before it expires;
 *   3. the stored login of the profile (`agw login`), refreshed silently before it expires.
 */
import { AgwError } from '../errors.js'
import { ClientCredentialsProvider } from './login/client-credentials.js'
import { fetchGatewayInfo } from './login/oidc.js'
import { loginCommand, StoredLoginProvider } from './login/stored-login.js'
import { storeModeFrom, TokenVault } from './login/token-store.js'
import type { ProfileStore } from './profiles.js'

export interface TokenProvider {
  /** A token valid for at least a little while, or an AgwError('unauthenticated') saying what to do. */
  getToken(): Promise<string>
  /** Where the token comes from, for `whoami` and messages. */
  readonly source: string
}

export class StaticTokenProvider implements TokenProvider {
  constructor(
    private readonly token: string,
    readonly source: string,
  ) {}

  async getToken(): Promise<string> {
    return this.token
  }
}

/** A provider that has no token: every call says what to do. */
export class MissingTokenProvider implements TokenProvider {
  readonly source = 'none'

  constructor(private readonly message: string) {}

  async getToken(): Promise<string> {
    throw new AgwError('unauthenticated', this.message)
  }
}

/** The token for this process from AGW_TOKEN alone (kept for scripts and tests). */
export function tokenFromEnvironment(env: NodeJS.ProcessEnv = process.env): TokenProvider {
  const token = env.AGW_TOKEN?.trim()
  if (token) return new StaticTokenProvider(token, 'AGW_TOKEN')
  return new MissingTokenProvider('not logged in: set AGW_TOKEN to a bearer token the gateway accepts')
}

export interface ChooseTokenOptions {
  env: NodeJS.ProcessEnv
  /** The gateway the token is for (checked against the profile's before a stored token is sent). */
  gateway: URL
  profile: string
  profiles: ProfileStore
}

/** Picks the token provider for one command (see the order at the top of this file). */
export function chooseTokenProvider(opts: ChooseTokenOptions): TokenProvider {
  const { env, gateway, profile, profiles } = opts
  const token = env.AGW_TOKEN?.trim()
  if (token) return new StaticTokenProvider(token, 'AGW_TOKEN')

  const clientId = env.AGW_CLIENT_ID?.trim()
  const clientSecret = env.AGW_CLIENT_SECRET
  if (clientId) {
    if (!clientSecret) throw new AgwError('bad_input', 'AGW_CLIENT_ID is set but AGW_CLIENT_SECRET is not: set both for an agent identity')
    return new ClientCredentialsProvider({ clientId, clientSecret, info: () => fetchGatewayInfo(gateway) })
  }
  if (clientSecret) throw new AgwError('bad_input', 'AGW_CLIENT_SECRET is set but AGW_CLIENT_ID is not: set both for an agent identity')

  const stored = profiles.get(profile)
  if (!stored?.login) {
    return new MissingTokenProvider(
      `not logged in${profile === 'default' ? '' : ` (profile ${profile})`}: run ${loginCommand(profile).replace(/`$/, ` --gateway ${gateway.origin}\``)}, or set AGW_TOKEN or AGW_CLIENT_ID/AGW_CLIENT_SECRET`,
    )
  }
  // A stored token goes only to the gateway it was obtained for.
  const loggedInTo = stored.gateway === undefined ? undefined : new URL(stored.gateway).origin
  if (loggedInTo !== gateway.origin) {
    return new MissingTokenProvider(
      `profile ${profile} is logged in to ${loggedInTo ?? 'no gateway'}, not ${gateway.origin}; run \`agw login --gateway ${gateway.origin} --profile NAME\` with another profile name, or drop --gateway / AGW_GATEWAY`,
    )
  }
  return new StoredLoginProvider({ profiles, vault: new TokenVault({ dir: profiles.dir, mode: storeModeFrom(env) }), profile, record: stored.login })
}
