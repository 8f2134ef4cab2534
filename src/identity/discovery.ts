/**
 * OIDC discovery for the gateway's token verifier: find an issuer's `jwks_uri` from
 * `<issuer>/.well-known/openid-configuration` (OpenID Connect Discovery 1.0, section 4).
 *
 * Plain http is allowed only for loopback hosts (the embedded demo issuer, tests); every other
 * issuer and every JWKS URL must be https, so keys can't be swapped on the wire.
 */
import { AgwError, describeError } from '../errors.js'

const DISCOVERY_TIMEOUT_MS = 5_000

/** True for hostnames that always resolve to this machine: 127.0.0.0/8, ::1, localhost. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1')
  if (host === 'localhost' || host.endsWith('.localhost') || host === '::1') return true
  return /^127(\.\d{1,3}){3}$/.test(host)
}

/** Null when `url` is https, or http on a loopback host; otherwise why it is refused. */
export function insecureUrlReason(url: URL): string | null {
  if (url.protocol === 'https:') return null
  if (url.protocol === 'http:') {
    return isLoopbackHost(url.hostname)
      ? null
      : `plain http is allowed only on a loopback host (127.0.0.1, ::1, localhost); use https://${url.host}${url.pathname === '/' ? '' : url.pathname}`
  }
  return `unsupported scheme ${url.protocol} (use https)`
}

export interface DiscoveredIssuer {
  issuer: string
  jwksUri: URL
}

function discoveryUrl(issuer: string): URL {
  // Discovery 1.0 section 4: append the well-known path to the issuer, path included.
  return new URL(`${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`)
}

/**
 * Fetch and check one issuer's discovery document. Every failure is an AgwError('unreachable'):
 * the caller can't be verified right now, but nothing is wrong with the token as such.
 */
export async function discoverIssuer(issuer: string, fetchImpl: typeof fetch = fetch): Promise<DiscoveredIssuer> {
  const url = discoveryUrl(issuer)
  const fail = (why: string, cause?: unknown): AgwError =>
    new AgwError('unreachable', `cannot load OIDC discovery for issuer ${issuer} from ${url.href}: ${why}`, { cause })

  let response: Response
  try {
    response = await fetchImpl(url, {
      headers: { accept: 'application/json' },
      redirect: 'manual',
      signal: AbortSignal.timeout(DISCOVERY_TIMEOUT_MS),
    })
  } catch (err) {
    throw fail(describeError(err), err)
  }
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => undefined)
    throw fail(`HTTP ${response.status}`)
  }

  let doc: unknown
  try {
    doc = await response.json()
  } catch (err) {
    throw fail('the response is not JSON', err)
  }
  if (typeof doc !== 'object' || doc === null) throw fail('the response is not a JSON object')
  const { issuer: advertised, jwks_uri: jwksUri } = doc as Record<string, unknown>

  // Discovery 1.0 section 4.3: the advertised issuer must be exactly the one we asked for.
  if (advertised !== issuer) {
    throw fail(`the document names issuer ${JSON.stringify(advertised)}; the gateway is configured for ${JSON.stringify(issuer)}`)
  }
  if (typeof jwksUri !== 'string') throw fail('the document has no jwks_uri')
  let jwks: URL
  try {
    jwks = new URL(jwksUri)
  } catch (err) {
    throw fail(`jwks_uri ${JSON.stringify(jwksUri)} is not a URL`, err)
  }
  const insecure = insecureUrlReason(jwks)
  if (insecure) throw fail(`jwks_uri ${jwks.href} is refused: ${insecure}`)
  return { issuer, jwksUri: jwks }
}
