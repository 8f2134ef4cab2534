/**
 * From a verified JWT claims set to a Principal. Pure: no I/O, no clock, table-tested.
 */
import type { JWTPayload } from 'jose'
import type { Principal } from './principal.js'

export interface ClaimMapping {
  issuer: string
  groupsClaim: string
  subjectClaim: string
  emailClaim: string
  claims: Record<string, string>
  /** Forces the kind for every token of this issuer (e.g. a CI issuer that only mints workload tokens). */
  kind?: Principal['kind']
}

/**
 * Reads a claim by name. A literal key wins (namespaced claims such as
 * `https://example.com/groups` contain dots); otherwise the name is a dotted path into nested
 * objects (`realm_access.roles`, `resource_access.agw.roles`).
 */
export function readClaim(payload: Record<string, unknown>, name: string): unknown {
  if (Object.hasOwn(payload, name)) return payload[name]
  let node: unknown = payload
  for (const part of name.split('.')) {
    if (typeof node !== 'object' || node === null || Array.isArray(node) || !Object.hasOwn(node, part)) return undefined
    node = (node as Record<string, unknown>)[part]
  }
  return node
}

/** Groups from any claim shape: missing -> [], a string -> one group, an array -> its strings. */
export function toGroups(value: unknown): string[] {
  if (typeof value === 'string') return value === '' ? [] : [value]
  if (Array.isArray(value)) return [...new Set(value.filter((g): g is string => typeof g === 'string' && g !== ''))]
  return []
}

function asString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined
}

/** The OAuth client the token was issued to: RFC 9068 `client_id`, else OIDC `azp`. */
export function clientIdOf(payload: Record<string, unknown>): string | undefined {
  return asString(payload['client_id']) ?? asString(payload['azp'])
}

/**
 * Was this token issued to a client acting for itself (client-credentials grant, a workload)
 * rather than to a person? There is no standard claim for it, so we recognise what issuers do:
 *
 * - oidc-provider (the embedded issuer, and many self-hosted ones), Okta, Ory Hydra: a
 *   client-credentials JWT access token has `sub` equal to `client_id` (oidc-provider's
 *   `models/formats/jwt.js` writes `sub: accountId || clientId`; user tokens carry the account id).
 * - RFC 9068 allows `sub` to be absent when there is no resource owner.
 * - Auth0 marks it with `gty: "client-credentials"` (and `sub: "<client_id>@clients"`).
 * - Microsoft Entra ID marks app-only tokens with `idtyp: "app"`.
 *
 * Everything else is `human`. An issuer config may force the kind (`kind: agent` for a CI
 * issuer such as GitHub Actions, whose tokens have a `sub` like `repo:org/app:ref:...`).
 */
export function principalKind(payload: Record<string, unknown>, subject: string | undefined, clientId: string | undefined): Principal['kind'] {
  if (subject === undefined) return 'agent'
  if (clientId !== undefined && (subject === clientId || subject === `${clientId}@clients`)) return 'agent'
  if (payload['gty'] === 'client-credentials' || payload['gty'] === 'client_credentials') return 'agent'
  if (payload['idtyp'] === 'app') return 'agent'
  return 'human'
}

/** Builds the Principal; returns a reason string when the token names nobody. */
export function principalFromClaims(payload: JWTPayload, mapping: ClaimMapping): Principal | string {
  const claims = payload as Record<string, unknown>
  const clientId = clientIdOf(claims)
  const sub = asString(readClaim(claims, mapping.subjectClaim))
  const subject = sub ?? clientId
  if (subject === undefined) {
    return `the token has no "${mapping.subjectClaim}" claim and no client_id/azp, so it names nobody`
  }

  const principal: Principal = {
    kind: mapping.kind ?? principalKind(claims, sub, clientId),
    subject,
    groups: toGroups(readClaim(claims, mapping.groupsClaim)),
    issuer: mapping.issuer,
  }
  const email = asString(readClaim(claims, mapping.emailClaim))
  if (email !== undefined) principal.email = email
  const name = asString(claims['name']) ?? asString(claims['preferred_username'])
  if (name !== undefined) principal.name = name
  if (clientId !== undefined) principal.clientId = clientId
  if (typeof payload.exp === 'number') principal.expiresAt = payload.exp

  const extra: Record<string, string> = {}
  for (const [key, claimName] of Object.entries(mapping.claims)) {
    const value = readClaim(claims, claimName)
    if (typeof value === 'string') extra[key] = value
    else if (typeof value === 'number' || typeof value === 'boolean') extra[key] = String(value)
  }
  if (Object.keys(extra).length > 0) principal.claims = extra
  return principal
}
