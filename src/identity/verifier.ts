/**
 * Identity on every call: the gateway verifies the bearer token of each tunnel and API request
 * and turns it into a Principal.
 *
 * Order of checks (each failure is AgwError('unauthenticated') with a reason a person can act on):
 *  1. shape: a compact JWS (three parts; encrypted tokens are refused); `alg: none` and HS* are
 *     refused outright, before any key is looked up (that closes the "HMAC keyed with the RSA
 *     public key" confusion);
 *  2. the unverified `iss` picks the trusted issuer, so a token is only ever checked against its
 *     own issuer's keys (an untrusted issuer can't borrow a trusted kid);
 *  3. `alg` against that issuer's allow-list;
 *  4. header `typ` (access token, not an ID token or some other JWT);
 *  5. signature with the issuer's JWKS (OIDC discovery -> jwks_uri, jose's createRemoteJWKSet:
 *     cached, refetched on an unknown kid at most once per cooldown);
 *  6. iss, aud, exp (required), nbf, iat (not in the future) with at most 60 s clock skew;
 *  7. payload token-type markers some issuers set (Keycloak `typ`, Cognito `token_use`).
 * Discovery or JWKS outages are AgwError('unreachable') and are retried on the next call.
 */
import {
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors as joseErrors,
  jwtVerify,
} from 'jose'
import type { JWTPayload, JWTVerifyGetKey, ProtectedHeaderParameters } from 'jose'
import { AgwError, describeError, isAgwError } from '../errors.js'
import { principalFromClaims } from './claims.js'
import type { ClaimMapping } from './claims.js'
import { discoverIssuer, insecureUrlReason } from './discovery.js'
import type { Principal } from './principal.js'

export interface IssuerConfig {
  /** https://..., or http:// only on a loopback host (127.0.0.1, ::1, localhost). */
  issuer: string
  audience: string | string[]
  /** Default 'groups'; a dotted path such as 'realm_access.roles' is allowed. */
  groupsClaim: string
  /** Default 'sub'. */
  subjectClaim?: string
  /** Default 'email'. */
  emailClaim?: string
  /** Extra principal.claims: principal key -> token claim name (CI tokens: repository, ref). */
  claims?: Record<string, string>
  /** Allow-list of JWS algorithms; default RS*, PS*, ES256, ES384, EdDSA. Never none or HS*. */
  algorithms?: string[]
  /**
   * When set, the header typ must equal it (case-insensitive, 'application/' optional), e.g.
   * 'at+jwt' (RFC 9068). When unset, typ may be absent, 'JWT' or 'at+jwt'; anything else (an ID
   * token, a logout token, a DPoP proof ...) is refused.
   */
  requireTyp?: string
  /** Force the principal kind for every token of this issuer (e.g. 'agent' for a CI issuer). */
  kind?: Principal['kind']
}

export interface TokenVerifierOptions {
  /** Clock skew allowed on exp, nbf and iat; default 60, at most 60. */
  clockToleranceSec?: number
  /** Minimum time between two JWKS refetches for an unknown kid; default 30. */
  jwksCooldownSec?: number
}

export const DEFAULT_ALGORITHMS: readonly string[] = [
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'EdDSA',
]
const MAX_CLOCK_TOLERANCE_SEC = 60
const ACCESS_TOKEN_TYPS = new Set(['application/jwt', 'application/at+jwt'])

interface TrustedIssuer {
  issuer: string
  audience: string[]
  algorithms: string[]
  requireTyp?: string
  mapping: ClaimMapping
  keys?: JWTVerifyGetKey
  loading?: Promise<JWTVerifyGetKey>
}

function badInput(message: string): AgwError {
  return new AgwError('bad_input', `identity.issuers: ${message}`)
}

function unauthenticated(message: string, cause?: unknown): AgwError {
  return new AgwError('unauthenticated', message, cause === undefined ? undefined : { cause })
}

/** RFC 8725 section 3.11: media types compare case-insensitively, 'application/' is optional. */
function normalizeTyp(typ: string): string {
  const lower = typ.toLowerCase()
  return lower.includes('/') ? lower : `application/${lower}`
}

function isoTime(epochSeconds: unknown): string {
  return typeof epochSeconds === 'number' && Number.isFinite(epochSeconds)
    ? new Date(epochSeconds * 1000).toISOString().replace(/\.000Z$/, 'Z')
    : String(epochSeconds)
}

function checkAlgorithms(issuer: string, algorithms: string[]): string[] {
  if (algorithms.length === 0) throw badInput(`${issuer}: algorithms must not be empty`)
  for (const alg of algorithms) {
    if (/^none$/i.test(alg) || /^HS/i.test(alg)) {
      throw badInput(`${issuer}: algorithm ${alg} is never accepted (unsigned or shared-secret); use ${DEFAULT_ALGORITHMS.join(', ')}`)
    }
    if (!DEFAULT_ALGORITHMS.includes(alg) && alg !== 'ES512' && alg !== 'Ed25519') {
      throw badInput(`${issuer}: unknown signing algorithm ${alg}`)
    }
  }
  return [...algorithms]
}

function normalizeIssuer(config: IssuerConfig): TrustedIssuer {
  let url: URL
  try {
    url = new URL(config.issuer)
  } catch {
    throw badInput(`issuer ${JSON.stringify(config.issuer)} is not a URL`)
  }
  const insecure = insecureUrlReason(url)
  if (insecure) throw badInput(`issuer ${config.issuer} is refused: ${insecure}`)
  if (url.search || url.hash) throw badInput(`issuer ${config.issuer} must not have a query or fragment`)

  const audience = (Array.isArray(config.audience) ? config.audience : [config.audience]).filter((a) => a !== '')
  if (audience.length === 0) throw badInput(`${config.issuer}: audience must not be empty`)

  const mapping: ClaimMapping = {
    issuer: config.issuer,
    groupsClaim: config.groupsClaim || 'groups',
    subjectClaim: config.subjectClaim ?? 'sub',
    emailClaim: config.emailClaim ?? 'email',
    claims: { ...config.claims },
  }
  if (config.kind !== undefined) mapping.kind = config.kind

  const trusted: TrustedIssuer = {
    issuer: config.issuer,
    audience,
    algorithms: checkAlgorithms(config.issuer, config.algorithms ?? [...DEFAULT_ALGORITHMS]),
    mapping,
  }
  if (config.requireTyp !== undefined && config.requireTyp !== '') trusted.requireTyp = config.requireTyp
  return trusted
}

export class TokenVerifier {
  readonly #issuers = new Map<string, TrustedIssuer>()
  readonly #clockTolerance: number
  readonly #cooldownMs: number

  constructor(issuers: IssuerConfig[], options: TokenVerifierOptions = {}) {
    if (issuers.length === 0) throw badInput('no issuer is configured; the gateway could not accept any token')
    for (const config of issuers) {
      const trusted = normalizeIssuer(config)
      if (this.#issuers.has(trusted.issuer)) throw badInput(`issuer ${trusted.issuer} is listed twice`)
      this.#issuers.set(trusted.issuer, trusted)
    }
    const tolerance = options.clockToleranceSec ?? MAX_CLOCK_TOLERANCE_SEC
    if (!Number.isFinite(tolerance) || tolerance < 0 || tolerance > MAX_CLOCK_TOLERANCE_SEC) {
      throw new AgwError('bad_input', `clock tolerance must be between 0 and ${MAX_CLOCK_TOLERANCE_SEC} seconds, got ${tolerance}`)
    }
    this.#clockTolerance = tolerance
    this.#cooldownMs = (options.jwksCooldownSec ?? 30) * 1000
  }

  /** Verifies a bearer token (without the "Bearer " prefix) and returns who it names. */
  async verify(token: string): Promise<Principal> {
    const { compact, header, claims } = decodeUnverified(token)
    checkNeverAllowed(header)
    const trusted = this.#pickIssuer(claims)
    checkHeader(header, trusted)

    const keys = await this.#keysFor(trusted)
    let payload: JWTPayload
    try {
      const verified = await jwtVerify(compact, keys, {
        issuer: trusted.issuer,
        audience: trusted.audience,
        algorithms: trusted.algorithms,
        clockTolerance: this.#clockTolerance,
        requiredClaims: ['exp'],
      })
      payload = verified.payload
    } catch (err) {
      if (isAgwError(err)) {
        if (err.code === 'unreachable') delete trusted.keys // rediscover on the next call
        throw err
      }
      throw explainJoseError(err, header, claims, trusted, this.#clockTolerance)
    }

    const now = Math.floor(Date.now() / 1000)
    if (typeof payload.iat === 'number' && payload.iat > now + this.#clockTolerance) {
      throw unauthenticated(
        `token claims to be issued in the future (iat ${isoTime(payload.iat)}, allowed clock skew ${this.#clockTolerance}s); check the clocks of the issuer and this gateway`,
      )
    }
    checkPayloadTokenType(payload)

    const principal = principalFromClaims(payload, trusted.mapping)
    if (typeof principal === 'string') throw unauthenticated(principal)
    return principal
  }

  #pickIssuer(claims: JWTPayload): TrustedIssuer {
    const { iss } = claims
    if (typeof iss !== 'string' || iss === '') throw unauthenticated('token has no "iss" claim; the gateway cannot tell who issued it')
    const trusted = this.#issuers.get(iss)
    if (trusted) return trusted
    const alt = iss.endsWith('/') ? iss.slice(0, -1) : `${iss}/`
    const hint = this.#issuers.has(alt) ? ` (the gateway trusts ${alt}: issuer identifiers must match exactly, trailing slash included)` : ''
    throw unauthenticated(`issuer ${iss} is not trusted by this gateway${hint}; add it under identity.issuers or log in with a trusted issuer`)
  }

  /** The issuer's JWKS getter; discovery runs once, again only after a failure. */
  #keysFor(trusted: TrustedIssuer): Promise<JWTVerifyGetKey> {
    if (trusted.keys) return Promise.resolve(trusted.keys)
    trusted.loading ??= discoverIssuer(trusted.issuer).then(
      ({ jwksUri }) => {
        const remote = createRemoteJWKSet(jwksUri, { cooldownDuration: this.#cooldownMs })
        const keys: JWTVerifyGetKey = async (protectedHeader, token) => {
          try {
            return await remote(protectedHeader, token)
          } catch (err) {
            throw mapJwksError(err, trusted.issuer, jwksUri)
          }
        }
        trusted.keys = keys
        delete trusted.loading
        return keys
      },
      (err: unknown) => {
        delete trusted.loading // not cached: the next call tries again
        throw err
      },
    )
    return trusted.loading
  }
}

function decodeUnverified(token: string): { compact: string; header: ProtectedHeaderParameters; claims: JWTPayload } {
  const compact = typeof token === 'string' ? token.trim() : ''
  if (compact === '') {
    throw unauthenticated('no bearer token was presented; run `agw login` or set AGW_TOKEN')
  }
  if (/^bearer\s/i.test(compact)) {
    throw unauthenticated('pass the token without the "Bearer " prefix (the Authorization header value is "Bearer <token>")')
  }
  const parts = compact.split('.')
  if (parts.length === 5) throw unauthenticated('encrypted tokens (JWE) are not supported; the gateway needs a signed JWT access token')
  if (parts.length !== 3) {
    throw unauthenticated('the bearer token is not a JWT (opaque access tokens are not supported); configure the issuer to issue JWT access tokens for the gateway audience')
  }
  try {
    return { compact, header: decodeProtectedHeader(compact), claims: decodeJwt(compact) }
  } catch (err) {
    throw unauthenticated(`the bearer token is malformed: ${describeError(err)}`, err)
  }
}

/** Algorithms refused whoever the issuer is: unsigned, and shared-secret (RFC 8725 sections 2.1, 3.1). */
function checkNeverAllowed(header: ProtectedHeaderParameters): void {
  const { alg } = header
  if (typeof alg !== 'string' || /^none$/i.test(alg)) {
    throw unauthenticated('unsigned token (alg "none") refused; tokens must be signed by the issuer')
  }
  if (/^HS/i.test(alg)) {
    throw unauthenticated(`token uses the shared-secret algorithm ${alg}, which the gateway never accepts; access tokens must be signed with the issuer's asymmetric key`)
  }
}

function checkHeader(header: ProtectedHeaderParameters, trusted: TrustedIssuer): void {
  const { typ } = header
  const alg = String(header.alg) // a string: checkNeverAllowed ran first
  if (!trusted.algorithms.includes(alg)) {
    throw unauthenticated(`token algorithm ${alg} is not allowed for issuer ${trusted.issuer} (allowed: ${trusted.algorithms.join(', ')})`)
  }
  if (trusted.requireTyp !== undefined) {
    if (typeof typ !== 'string' || normalizeTyp(typ) !== normalizeTyp(trusted.requireTyp)) {
      throw unauthenticated(`token type (typ header) is ${typ === undefined ? 'absent' : JSON.stringify(typ)}, issuer ${trusted.issuer} must send "${trusted.requireTyp}"; present an access token, not an ID token`)
    }
  } else if (typ !== undefined && (typeof typ !== 'string' || !ACCESS_TOKEN_TYPS.has(normalizeTyp(typ)))) {
    throw unauthenticated(`token type (typ header) ${JSON.stringify(typ)} is not an access token; present an access token for the gateway, not an ID token or another kind of JWT`)
  }
}

/** Token-type claims in the payload: Keycloak `typ` ("Bearer" / "ID" / "Refresh"), Cognito `token_use`. */
function checkPayloadTokenType(payload: JWTPayload): void {
  const { typ, token_use: tokenUse } = payload as Record<string, unknown>
  if (typeof typ === 'string' && typ.toLowerCase() !== 'bearer') {
    throw unauthenticated(`token is a "${typ}" token (typ claim), not an access token; present the access token from your login`)
  }
  if (typeof tokenUse === 'string' && tokenUse !== 'access') {
    throw unauthenticated(`token is a "${tokenUse}" token (token_use claim), not an access token; present the access token from your login`)
  }
}

function mapJwksError(err: unknown, issuer: string, jwksUri: URL): unknown {
  if (err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWKSMultipleMatchingKeys) return err
  if (err instanceof joseErrors.JOSEAlgNotAllowed || err instanceof joseErrors.JOSENotSupported) return err
  // Network failure, timeout, non-200, not JSON, not a JWK Set: the issuer is the problem.
  return new AgwError('unreachable', `cannot load the signing keys of issuer ${issuer} from ${jwksUri.href}: ${describeError(err)}`, { cause: err })
}

function audienceText(aud: unknown): string {
  if (Array.isArray(aud)) return aud.map((a) => JSON.stringify(a)).join(', ')
  return aud === undefined ? 'absent' : JSON.stringify(aud)
}

function explainJoseError(
  err: unknown,
  header: ProtectedHeaderParameters,
  claims: JWTPayload,
  trusted: TrustedIssuer,
  tolerance: number,
): AgwError {
  const refresh = 'run `agw login` or obtain a new AGW_TOKEN'
  if (err instanceof joseErrors.JWTExpired) {
    return unauthenticated(`token expired at ${isoTime(claims.exp)}; ${refresh}`, err)
  }
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case 'nbf':
        return unauthenticated(`token is not valid before ${isoTime(claims.nbf)} (allowed clock skew ${tolerance}s); check this machine's clock or wait`, err)
      case 'aud':
        return unauthenticated(
          `token audience ${audienceText(claims.aud)} is not accepted: this gateway expects ${trusted.audience.map((a) => JSON.stringify(a)).join(' or ')}. ` +
            'An ID token or a token for another service was presented; request an access token for the gateway',
          err,
        )
      case 'iss':
        return unauthenticated(`token issuer ${JSON.stringify(claims.iss)} does not match ${trusted.issuer}`, err)
      case 'exp':
        return unauthenticated(`token has no valid "exp" claim; the gateway only accepts tokens that expire (${err.reason})`, err)
      default:
        return unauthenticated(`token claim "${err.claim}" is invalid: ${err.message}`, err)
    }
  }
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) {
    return unauthenticated(`token signature does not verify with issuer ${trusted.issuer}'s key${header.kid ? ` "${header.kid}"` : ''}: it was altered after signing or signed by someone else`, err)
  }
  if (err instanceof joseErrors.JWKSNoMatchingKey) {
    return unauthenticated(
      `no signing key of issuer ${trusted.issuer} matches the token (kid ${header.kid === undefined ? 'absent' : JSON.stringify(header.kid)}, alg ${String(header.alg)}); ` +
        'the key was rotated away or the token was not signed by this issuer; ' + refresh,
      err,
    )
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed) {
    return unauthenticated(`token algorithm ${String(header.alg)} is not allowed for issuer ${trusted.issuer}`, err)
  }
  if (err instanceof joseErrors.JOSEError) {
    return unauthenticated(`token rejected: ${err.message}`, err)
  }
  return unauthenticated(`token could not be verified: ${describeError(err)}`, err)
}
