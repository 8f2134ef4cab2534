/**
 * `agw login`: the OAuth 2.0 device authorization grant (RFC 8628) with openid-client.
 *
 *   GET /v1/info on the gateway       -> issuer, device client id, audience
 *   discovery                         -> device authorization, token, revocation endpoints
 *   device authorization request      -> verification URL + user code (scope with offline_access,
 *                                        resource = the gateway), shown with a QR code on a TTY
 *   poll the token endpoint           -> openid-client handles authorization_pending, slow_down
 *                                        and Retry-After; we watch the answers to say what happens
 *   GET /v1/whoami with the new token -> the gateway accepts it (nothing is stored otherwise)
 *   store the tokens                  -> keychain, else encrypted file; the profile remembers the
 *                                        gateway, so later commands need no AGW_GATEWAY
 */
import * as oidc from 'openid-client'
import { AgwError } from '../../errors.js'
import type { Principal } from '../../identity/principal.js'
import { checkGatewayUrl, GatewayClient } from '../gateway-client.js'
import { ProfileStore, type LoginRecord, type TokenStoreKind } from '../profiles.js'
import { StaticTokenProvider } from '../tokens.js'
import {
  describeOidcError,
  expiryOf,
  fetchGatewayInfo,
  isNetworkFailure,
  issuedAtOf,
  issuerConfiguration,
  oauthErrorCode,
  resourceIndicator,
} from './oidc.js'
import { LoginScreen, type Output } from './screen.js'
import { storeModeFrom, TokenVault, type StoredTokens } from './token-store.js'

export const LOGIN_SCOPE = 'openid offline_access email profile groups'
const DEFAULT_DEVICE_CLIENT = 'agw-cli'

export interface LoginOptions {
  /** --gateway / AGW_GATEWAY; default: the profile's remembered gateway. */
  gateway?: string | undefined
  profile: string
  /** Show a QR code (on a TTY only). */
  qr: boolean
  out: Output
  /** Aborts the poll (Ctrl-C). */
  signal: AbortSignal
  env?: NodeJS.ProcessEnv
}

export interface LoginResult {
  profile: string
  gateway: string
  principal: Principal
  store: TokenStoreKind
  storeDescription: string
  expiresAt: number
  refreshable: boolean
}

/** What the token endpoint said, seen through openid-client's fetch (the poll itself is the library's). */
export function pollAnswer(status: number, body: unknown): 'authorization_pending' | 'slow_down' | undefined {
  if (status !== 400 || typeof body !== 'object' || body === null) return undefined
  const error = (body as { error?: unknown }).error
  return error === 'authorization_pending' || error === 'slow_down' ? error : undefined
}

/** The line for a device poll that ended without tokens. */
export function explainPollFailure(err: unknown, signal: AbortSignal, expired: AbortSignal): AgwError {
  if (signal.aborted) return new AgwError('unauthenticated', 'login cancelled; nothing was stored')
  const code = oauthErrorCode(err)
  if (code === 'expired_token' || (expired.aborted && code === undefined)) {
    return new AgwError('unauthenticated', 'the code expired before the sign-in was approved; run `agw login` again and approve it within the time shown')
  }
  if (code === 'access_denied') {
    return new AgwError('unauthenticated', 'the sign-in was denied in the browser; nothing was stored (run `agw login` again if that was a mistake)')
  }
  if (isNetworkFailure(err)) return new AgwError('unreachable', `the identity provider stopped answering while agw waited for the sign-in: ${describeOidcError(err)}`)
  return new AgwError('unauthenticated', `the identity provider refused the sign-in: ${describeOidcError(err)}`)
}

export async function login(opts: LoginOptions): Promise<LoginResult> {
  const env = opts.env ?? process.env
  const profiles = ProfileStore.fromEnvironment(env)
  const remembered = profiles.get(opts.profile)?.gateway
  const raw = opts.gateway ?? remembered
  if (!raw) throw new AgwError('bad_input', 'which gateway? run `agw login --gateway URL` (for example https://agw.example.com); agw remembers it for later commands')
  const gateway = checkGatewayUrl(raw)
  const vault = new TokenVault({ dir: profiles.dir, mode: storeModeFrom(env) })

  const info = await fetchGatewayInfo(gateway)
  const clientId = info.deviceClientId ?? DEFAULT_DEVICE_CLIENT
  const resource = resourceIndicator(info)
  const screen = new LoginScreen(opts.out, { qr: opts.qr })
  const seen: { tokenEndpoint?: string } = {} // the token endpoint is known after discovery
  const config = await issuerConfiguration(info.issuer, {
    clientId,
    observe: (url, response) => {
      if (seen.tokenEndpoint === undefined || !url.startsWith(seen.tokenEndpoint)) return
      void response
        .json()
        .then((body: unknown) => {
          const answer = pollAnswer(response.status, body)
          if (answer === 'authorization_pending') screen.pending()
          else if (answer === 'slow_down') screen.slowDown()
        })
        .catch(() => undefined)
    },
  })
  const metadata = config.serverMetadata()
  if (metadata.token_endpoint !== undefined) seen.tokenEndpoint = metadata.token_endpoint
  if (!metadata.device_authorization_endpoint) {
    throw new AgwError('bad_input', `the identity provider ${info.issuer} does not offer the device authorization grant (no device_authorization_endpoint); ask its administrator to enable it for client ${clientId}`)
  }

  let authorization: oidc.DeviceAuthorizationResponse
  try {
    authorization = await oidc.initiateDeviceAuthorization(config, { scope: LOGIN_SCOPE, resource })
  } catch (err) {
    if (isNetworkFailure(err)) throw new AgwError('unreachable', `cannot start the sign-in at ${info.issuer}: ${describeOidcError(err)}`)
    throw new AgwError('bad_input', `the identity provider ${info.issuer} refused to start a device sign-in for client ${clientId}: ${describeOidcError(err)}`)
  }
  const display = { verificationUri: authorization.verification_uri, userCode: authorization.user_code, expiresIn: authorization.expires_in }
  screen.showCode(authorization.verification_uri_complete ? { ...display, verificationUriComplete: authorization.verification_uri_complete } : display)
  screen.pending()

  const expired = AbortSignal.timeout(Math.max(1, authorization.expires_in) * 1000)
  const pollSignal = AbortSignal.any([opts.signal, expired])
  let response: Awaited<ReturnType<typeof oidc.pollDeviceAuthorizationGrant>>
  try {
    // openid-client checks the signal between waits of up to 5 s; the race answers Ctrl-C at once.
    response = await Promise.race([
      oidc.pollDeviceAuthorizationGrant(config, authorization, undefined, { signal: pollSignal }),
      new Promise<never>((_, reject) => {
        if (pollSignal.aborted) reject(pollSignal.reason)
        pollSignal.addEventListener('abort', () => reject(pollSignal.reason), { once: true })
      }),
    ])
  } catch (err) {
    throw explainPollFailure(err, opts.signal, expired)
  } finally {
    screen.stop()
  }

  const tokens: StoredTokens = { accessToken: response.access_token, expiresAt: expiryOf(response.access_token, response.expires_in) }
  const issuedAt = issuedAtOf(response.access_token)
  if (issuedAt !== undefined) tokens.issuedAt = issuedAt
  if (response.refresh_token) tokens.refreshToken = response.refresh_token

  // The gateway must accept the token before anything is stored.
  let principal: Principal
  try {
    principal = await new GatewayClient(gateway.href, new StaticTokenProvider(tokens.accessToken, 'login')).whoami()
  } catch (err) {
    if (err instanceof AgwError) throw new AgwError(err.code, `signed in at ${info.issuer}, but the gateway refused the token: ${err.message}`)
    throw err
  }

  const store = await vault.save(opts.profile, tokens)
  const record: LoginRecord = {
    issuer: info.issuer,
    clientId,
    resource,
    subject: principal.subject,
    groups: principal.groups,
    kind: principal.kind,
    expiresAt: tokens.expiresAt,
    refreshable: tokens.refreshToken !== undefined,
    store,
    loggedInAt: new Date().toISOString(),
  }
  if (principal.email !== undefined) record.email = principal.email
  if (principal.name !== undefined) record.name = principal.name
  profiles.update(opts.profile, () => ({ gateway: gateway.href.replace(/\/$/, ''), login: record }))
  return {
    profile: opts.profile,
    gateway: gateway.href.replace(/\/$/, ''),
    principal,
    store,
    storeDescription: vault.describe(store),
    expiresAt: tokens.expiresAt,
    refreshable: record.refreshable,
  }
}
