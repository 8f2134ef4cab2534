/**
 * Where the CLI gets its bearer token. `AGW_TOKEN` is used as is (a CI job's OIDC token, say).
 * Device login with the keychain and silent refresh plugs in here as another TokenProvider.
 */
import { AgwError } from '../errors.js'

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

/** The token for this process: AGW_TOKEN when set. */
export function tokenFromEnvironment(env: NodeJS.ProcessEnv = process.env): TokenProvider {
  const token = env.AGW_TOKEN?.trim()
  if (token) return new StaticTokenProvider(token, 'AGW_TOKEN')
  return {
    source: 'none',
    async getToken() {
      throw new AgwError('unauthenticated', 'not logged in: set AGW_TOKEN to a bearer token the gateway accepts')
    },
  }
}
