/**
 * The CLI's side of OIDC: what the gateway says about its identity provider (`GET /v1/info`),
 * openid-client configured for that provider, and OAuth errors turned into lines a person can act on.
 */
import * as oidc from 'openid-client'
import { AgwError, describeError } from '../../errors.js'
import { insecureUrlReason, isLoopbackHost } from '../../identity/discovery.js'

/** `GET /v1/info`: unauthenticated, what a client needs to log in. */
export interface GatewayInfo {
  version?: string
  issuer: string
  issuers?: string[]
  deviceClientId?: string
  audience: string
  /** An explicit RFC 8707 resource indicator, when the gateway names one. */
  resource?: string
}

export async function fetchGatewayInfo(gateway: URL): Promise<GatewayInfo> {
  const url = new URL('/v1/info', gateway)
  let res: Response
  try {
    res = await fetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(15_000), redirect: 'error' })
  } catch (err) {
    throw new AgwError('unreachable', `cannot reach the gateway at ${gateway.origin}: ${describeError((err as Error).cause ?? err)}`)
  }
  const text = await res.text()
  if (!res.ok) throw new AgwError('unreachable', `the gateway at ${gateway.origin} answered ${res.status} to /v1/info; is it an agw gateway?`)
  let info: Partial<GatewayInfo>
  try {
    info = JSON.parse(text) as Partial<GatewayInfo>
  } catch {
    throw new AgwError('unreachable', `the gateway at ${gateway.origin} did not answer /v1/info with JSON; is it an agw gateway?`)
  }
  if (typeof info.issuer !== 'string' || typeof info.audience !== 'string') {
    throw new AgwError('unreachable', `the gateway at ${gateway.origin} names no identity provider in /v1/info (issuer, audience)`)
  }
  return info as GatewayInfo
}

const RESOURCE_URN_PREFIX = 'urn:agw:audience:'

/**
 * The RFC 8707 `resource` to ask for: the gateway's own indicator when it names one; the audience
 * itself when that is an absolute URI; otherwise `urn:agw:audience:<audience>` (a resource
 * indicator must be an absolute URI; an issuer that maps it back to the audience, like the
 * embedded one, then puts `aud: <audience>` in the token).
 */
export function resourceIndicator(info: Pick<GatewayInfo, 'audience' | 'resource'>): string {
  if (info.resource) return info.resource
  const aud = info.audience
  return URL.canParse(aud) && /^[a-z][a-z0-9+.-]*:/i.test(aud) ? aud : `${RESOURCE_URN_PREFIX}${encodeURIComponent(aud)}`
}

/** Checks an issuer URL from the gateway: https, or plain http on a loopback host only. */
export function checkIssuerUrl(issuer: string): URL {
  let url: URL
  try {
    url = new URL(issuer)
  } catch {
    throw new AgwError('bad_input', `the gateway names issuer "${issuer}", which is not a URL`)
  }
  const insecure = insecureUrlReason(url)
  if (insecure) throw new AgwError('bad_input', `refusing issuer ${issuer}: ${insecure}`)
  return url
}

/**
 * The one place where agw relaxes openid-client's https-only rule: plain http is allowed for an
 * issuer on a loopback host (the embedded demo issuer, tests), and for nothing else. Returns the
 * `execute` hooks for discovery (empty for https).
 */
export function allowPlainHttpForLoopbackIssuer(issuer: URL): Array<(config: oidc.Configuration) => void> {
  if (issuer.protocol === 'https:') return []
  if (issuer.protocol === 'http:' && isLoopbackHost(issuer.hostname)) return [oidc.allowInsecureRequests]
  throw new AgwError('bad_input', `refusing plain http to the identity provider ${issuer.origin}: tokens would cross the network in clear`)
}

export interface IssuerClient {
  clientId: string
  /** Confidential clients (AGW_CLIENT_SECRET); public clients (device login) have none. */
  clientSecret?: string
  /** Sees every response of the issuer (the device poll reports authorization_pending / slow_down). */
  observe?: (url: string, response: Response) => void
}

/** OIDC discovery with openid-client; failures are `unreachable` with the issuer named. */
export async function issuerConfiguration(issuer: string, client: IssuerClient): Promise<oidc.Configuration> {
  const url = checkIssuerUrl(issuer)
  const auth = client.clientSecret !== undefined ? oidc.ClientSecretPost(client.clientSecret) : oidc.None()
  const options: oidc.DiscoveryRequestOptions = { execute: allowPlainHttpForLoopbackIssuer(url), timeout: 15 }
  if (client.observe) {
    const observe = client.observe
    options[oidc.customFetch] = async (input, init) => {
      const res = await fetch(input, init as RequestInit)
      try {
        observe(String(input), res.clone())
      } catch {
        // an observer never breaks the request
      }
      return res
    }
  }
  try {
    return await oidc.discovery(url, client.clientId, undefined, auth, options)
  } catch (err) {
    throw new AgwError('unreachable', `cannot use the identity provider ${issuer}: ${describeOidcError(err)}`, { cause: err })
  }
}

/** The OAuth error code of a failed token or device request (`invalid_grant`, `access_denied` ...). */
export function oauthErrorCode(err: unknown): string | undefined {
  if (err instanceof oidc.ResponseBodyError) return err.error
  return undefined
}

/** One line for an openid-client failure; never includes a token (only error codes and descriptions). */
export function describeOidcError(err: unknown): string {
  if (err instanceof oidc.ResponseBodyError) {
    return `${err.error}${err.error_description ? ` (${err.error_description})` : ''}, HTTP ${err.status}`
  }
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? `: ${describeError(err.cause)}` : ''
    return `${describeError(err)}${cause}`
  }
  return String(err)
}

/** True when a failure means the network or the provider is down, not that we were refused. */
export function isNetworkFailure(err: unknown): boolean {
  if (err instanceof oidc.ResponseBodyError) return err.status >= 500
  if (err instanceof AgwError) return err.code === 'unreachable'
  if (err instanceof TypeError) return true // fetch failed
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return true
  const code = (err as { code?: string } | undefined)?.code
  return code === 'OAUTH_RESPONSE_IS_NOT_CONFORM' || code === 'OAUTH_RESPONSE_IS_NOT_JSON'
}

/** Seconds since the epoch at which an access token expires: its JWT `exp`, else now + expires_in. */
export function expiryOf(accessToken: string, expiresIn: number | undefined, now = Date.now()): number {
  const parts = accessToken.split('.')
  if (parts.length === 3) {
    try {
      const payload = JSON.parse(Buffer.from(parts[1] as string, 'base64url').toString('utf8')) as { exp?: unknown }
      if (typeof payload.exp === 'number' && Number.isFinite(payload.exp)) return payload.exp
    } catch {
      // not a JWT we can read: use expires_in
    }
  }
  return Math.floor(now / 1000) + (expiresIn ?? 300)
}

/**
 * Refresh ahead of expiry: a quarter of the token's lifetime before it ends, at least 1 s and at
 * most 60 s (a 15-minute token is renewed in its last minute, a 2-second one in its last second).
 */
export function refreshMarginSec(expiresAt: number, issuedAt: number | undefined): number {
  const lifetime = issuedAt !== undefined && issuedAt < expiresAt ? expiresAt - issuedAt : 3600
  return Math.min(60, Math.max(1, Math.floor(lifetime / 4)))
}

/** True while a token can still be used without refreshing it first. */
export function isFresh(t: { expiresAt: number; issuedAt?: number }, nowMs = Date.now()): boolean {
  return t.expiresAt - nowMs / 1000 > refreshMarginSec(t.expiresAt, t.issuedAt)
}

/** The JWT `iat` of an access token, when it is a JWT that has one (for the refresh margin). */
export function issuedAtOf(accessToken: string): number | undefined {
  const parts = accessToken.split('.')
  if (parts.length !== 3) return undefined
  try {
    const payload = JSON.parse(Buffer.from(parts[1] as string, 'base64url').toString('utf8')) as { iat?: unknown }
    return typeof payload.iat === 'number' && Number.isFinite(payload.iat) ? payload.iat : undefined
  } catch {
    return undefined
  }
}
