/**
 * `agw whoami`: who the gateway says you are (it verifies the token; `GET /v1/whoami`), and where
 * the CLI got the token from.
 */
import type { GatewayClient } from '../gateway-client.js'
import { ClientCredentialsProvider } from './client-credentials.js'
import { StoredLoginProvider } from './stored-login.js'

export interface WhoamiResult {
  kind: 'human' | 'agent'
  subject: string
  email?: string
  name?: string
  groups: string[]
  issuer: string
  clientId?: string
  claims?: Record<string, string>
  /** Access token expiry, ISO 8601. */
  expiresAt?: string
  gateway: string
  /** Where the token came from: AGW_TOKEN, client credentials, or the login of a profile. */
  tokenSource: string
  /** Where it is kept between commands. */
  tokenStore: string
  profile?: string
}

export async function whoami(client: GatewayClient): Promise<WhoamiResult> {
  const principal = await client.whoami()
  const tokens = client.tokens
  let tokenStore = 'not stored by agw (AGW_TOKEN from the environment)'
  if (tokens instanceof StoredLoginProvider) tokenStore = tokens.store
  else if (tokens instanceof ClientCredentialsProvider) tokenStore = 'memory of this process only (client credentials, fetched as needed)'
  const result: WhoamiResult = {
    kind: principal.kind,
    subject: principal.subject,
    groups: principal.groups,
    issuer: principal.issuer,
    gateway: client.url.origin,
    tokenSource: tokens.source,
    tokenStore,
  }
  if (principal.email !== undefined) result.email = principal.email
  if (principal.name !== undefined) result.name = principal.name
  if (principal.clientId !== undefined) result.clientId = principal.clientId
  if (principal.claims !== undefined) result.claims = principal.claims
  if (principal.expiresAt !== undefined) result.expiresAt = new Date(principal.expiresAt * 1000).toISOString()
  if (tokens instanceof StoredLoginProvider) result.profile = tokens.profile
  return result
}

function relative(iso: string, now = Date.now()): string {
  const sec = Math.round((Date.parse(iso) - now) / 1000)
  const abs = Math.abs(sec)
  const text = abs < 90 ? `${abs} s` : abs < 5400 ? `${Math.round(abs / 60)} min` : `${Math.round(abs / 3600)} h`
  return sec >= 0 ? `in ${text}` : `${text} ago`
}

/** The lines `agw whoami` prints. */
export function formatWhoami(w: WhoamiResult): string[] {
  const rows: [string, string][] = [
    ['subject', w.subject],
    ['email', w.email ?? '-'],
    ['name', w.name ?? '-'],
    ['kind', w.kind],
    ['groups', w.groups.length > 0 ? w.groups.join(', ') : '(none)'],
    ['issuer', w.issuer],
    ['client', w.clientId ?? '-'],
    ['expires', w.expiresAt ? `${w.expiresAt} (${relative(w.expiresAt)})` : '-'],
    ['gateway', w.gateway],
    ['token', w.tokenSource],
    ['stored', w.tokenStore],
  ]
  for (const [k, v] of Object.entries(w.claims ?? {})) rows.push([k, v])
  const width = Math.max(...rows.map(([k]) => k.length))
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`)
}
