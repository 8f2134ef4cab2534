/** Who is behind a request, as established by the gateway from a verified token. */
export interface Principal {
  /** `human` for a person who logged in, `agent` for a non-human identity (client credentials, CI). */
  kind: 'human' | 'agent'
  subject: string
  email?: string
  name?: string
  groups: string[]
  issuer: string
  clientId?: string
  /** Extra claims an issuer maps (for CI-style tokens: repository, ref ...). */
  claims?: Record<string, string>
  /** Token expiry, seconds since the epoch. */
  expiresAt?: number
}

/** True when the principal is in at least one of `groups`. */
export function inAnyGroup(principal: Principal, groups: readonly string[]): boolean {
  return groups.some((g) => principal.groups.includes(g))
}
