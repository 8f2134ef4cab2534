/**
 * An agent identity that is not a person: AGW_CLIENT_ID / AGW_CLIENT_SECRET, the OAuth client
 * credentials grant against the gateway's identity provider (named by `GET /v1/info`). The token
 * lives in this process's memory only and is fetched again shortly before it expires; concurrent
 * callers share one request.
 */
import * as oidc from 'openid-client'
import { AgwError } from '../../errors.js'
import type { TokenProvider } from '../tokens.js'
import { describeOidcError, expiryOf, isFresh, isNetworkFailure, issuedAtOf, issuerConfiguration, resourceIndicator, type GatewayInfo } from './oidc.js'

export interface ClientCredentialsOptions {
  clientId: string
  clientSecret: string
  /** The gateway's /v1/info (fetched once). */
  info: () => Promise<GatewayInfo>
}

interface Held {
  accessToken: string
  expiresAt: number
  issuedAt?: number
}

export class ClientCredentialsProvider implements TokenProvider {
  readonly source: string
  readonly #opts: ClientCredentialsOptions
  #held: Held | undefined
  #pending: Promise<Held> | undefined
  #config: Promise<{ config: oidc.Configuration; info: GatewayInfo }> | undefined

  constructor(opts: ClientCredentialsOptions) {
    this.#opts = opts
    this.source = `client credentials (AGW_CLIENT_ID ${opts.clientId})`
  }

  async getToken(): Promise<string> {
    if (this.#held && isFresh(this.#held)) return this.#held.accessToken
    this.#pending ??= this.fetchToken().finally(() => {
      this.#pending = undefined
    })
    this.#held = await this.#pending
    return this.#held.accessToken
  }

  private configuration(): Promise<{ config: oidc.Configuration; info: GatewayInfo }> {
    this.#config ??= (async () => {
      const info = await this.#opts.info()
      const config = await issuerConfiguration(info.issuer, { clientId: this.#opts.clientId, clientSecret: this.#opts.clientSecret })
      return { config, info }
    })()
    this.#config.catch(() => {
      this.#config = undefined // try discovery again next time
    })
    return this.#config
  }

  private async fetchToken(): Promise<Held> {
    const { config, info } = await this.configuration()
    let response: Awaited<ReturnType<typeof oidc.clientCredentialsGrant>>
    try {
      response = await oidc.clientCredentialsGrant(config, { resource: resourceIndicator(info) })
    } catch (err) {
      if (isNetworkFailure(err)) {
        throw new AgwError('unreachable', `cannot reach the identity provider ${info.issuer} for a client-credentials token: ${describeOidcError(err)}`, { cause: err })
      }
      throw new AgwError(
        'unauthenticated',
        `the identity provider ${info.issuer} refused the client credentials of ${this.#opts.clientId}: ${describeOidcError(err)}; check AGW_CLIENT_ID and AGW_CLIENT_SECRET`,
        { cause: err },
      )
    }
    const held: Held = { accessToken: response.access_token, expiresAt: expiryOf(response.access_token, response.expires_in) }
    const iat = issuedAtOf(response.access_token)
    if (iat !== undefined) held.issuedAt = iat
    return held
  }
}
