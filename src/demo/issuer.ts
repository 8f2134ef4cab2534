/**
 * An embedded OpenID Provider for `agw demo` and for tests: the real `oidc-provider` package on a
 * loopback port, with in-memory users and clients. It issues what a production IdP would give
 * agw: RS256-signed JWT access tokens (RFC 9068, `typ: at+jwt`) for the gateway's audience with
 * `email` and `groups` claims, through real grants over HTTP: client credentials for agent
 * identities, the device authorization grant (with refresh tokens) for people.
 *
 * Plain http on loopback, and how oidc-provider is made to accept it:
 * - the issuer is `http://127.0.0.1:PORT`; oidc-provider accepts an http issuer as is;
 * - cookies: oidc-provider marks them `Secure` only when the request is https (`ctx.secure`), so
 *   leaving `cookies.long/short.secure` unset is what keeps sign-in working over http;
 * - `provider.proxy` stays false, so an `X-Forwarded-Proto: https` header can't make the provider
 *   believe it is behind TLS (it would then set Secure cookies the browser drops on http);
 * - the host must be a loopback address: this issuer is never meant to face a network.
 * Quiet: no dev adapter, keys or default pages (each of which prints a notice), Koa's error
 * logging replaced by a listener, and the import-time "unsupported runtime" notice on Node 20
 * filtered out.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, generateKeyPair } from 'jose'
import type ProviderClass from 'oidc-provider'
import { AgwError } from '../errors.js'
import { isLoopbackHost } from '../identity/discovery.js'
import { deviceLogin, endpointsOf, tokenRequest } from './issuer-browser.js'
import type { TokenSet } from './issuer-browser.js'
import { handleInteraction, providerPages } from './issuer-pages.js'
import { createMemoryStore } from './issuer-store.js'

export type { TokenSet } from './issuer-browser.js'

export interface DemoUser {
  id: string
  email: string
  name?: string
  groups: string[]
  /** When absent the user signs in by id alone (demo only). */
  password?: string
}

export interface DemoClient {
  clientId: string
  /**
   * Confidential client (client_secret_post, openid-client's default) when set; public otherwise.
   * Device-flow clients must be public.
   */
  clientSecret?: string
  /** Groups of the agent identity this client stands for (client-credentials tokens). */
  groups?: string[]
  grants: ('client_credentials' | 'device_code' | 'refresh_token')[]
}

export interface StartIssuerOptions {
  /** Loopback only; default 127.0.0.1. */
  host?: string
  /** 0 (default) = a free port. */
  port?: number
  /** The gateway's audience, e.g. 'agw': the `aud` of every access token by default. */
  audience: string
  users: DemoUser[]
  clients: DemoClient[]
  /** Access token lifetime; default 900 s. */
  accessTokenTtlSec?: number
}

export interface TokenOptions {
  /** Mint for another audience than the gateway's (tests: a token for some other service). */
  audience?: string
}

export interface RunningIssuer {
  /** e.g. http://127.0.0.1:PORT */
  issuer: string
  /** The audience access tokens carry by default. */
  audience: string
  /** A JWT access token for an agent identity, from the real token endpoint. */
  clientCredentialsToken(clientId: string, clientSecret: string, opts?: TokenOptions & { scope?: string }): Promise<string>
  /** A JWT access token for a user, through the device authorization grant over HTTP. */
  userToken(userId: string, opts?: TokenOptions & { ttlSec?: number }): Promise<string>
  /** The whole token set of a device login (access, ID and refresh token). */
  userTokenSet(userId: string, opts?: TokenOptions & { ttlSec?: number }): Promise<TokenSet>
  close(): Promise<void>
}

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code'
const RESOURCE_PREFIX = 'urn:agw:audience:'
/** The one scope the gateway resource server defines (informational; agw authorizes by groups). */
const RESOURCE_SCOPE = 'agw:access'
const USER_SCOPE = 'openid offline_access email profile groups'

/**
 * RFC 8707 resource indicators must be absolute URIs; a plain audience such as 'agw' is carried
 * as `urn:agw:audience:agw` and turned back into the `aud` value by getResourceServerInfo.
 */
export function resourceIndicatorFor(audience: string): string {
  return URL.canParse(audience) && /^[a-z][a-z0-9+.-]*:/i.test(audience) ? audience : `${RESOURCE_PREFIX}${encodeURIComponent(audience)}`
}

function audienceOf(indicator: string): string {
  return indicator.startsWith(RESOURCE_PREFIX) ? decodeURIComponent(indicator.slice(RESOURCE_PREFIX.length)) : indicator
}

let providerModule: Promise<typeof ProviderClass> | undefined

/** Imports oidc-provider once, dropping the notice it prints at import time on Node 20. */
function loadProvider(): Promise<typeof ProviderClass> {
  providerModule ??= (async () => {
    const warn = console.warn
    console.warn = (...args: unknown[]) => {
      if (typeof args[0] === 'string' && args[0].startsWith('oidc-provider WARNING: Unsupported runtime')) return
      warn(...args)
    }
    try {
      return (await import('oidc-provider')).default
    } finally {
      console.warn = warn
    }
  })()
  return providerModule
}

/** Narrow views of the provider objects our callbacks read. */
interface TokenLike {
  kind?: string
  accountId?: string
  clientId?: string
  resourceServer?: { accessTokenTTL?: number }
}
interface CtxLike {
  oidc?: { entities?: { DeviceCode?: { jti?: string } } }
}

function validate(opts: StartIssuerOptions): void {
  const host = opts.host ?? '127.0.0.1'
  if (!isLoopbackHost(host)) {
    throw new AgwError('bad_input', `the demo issuer serves plain http and listens on loopback only; host ${host} is refused`)
  }
  if (opts.audience === '') throw new AgwError('bad_input', 'demo issuer: audience must not be empty')
  const ids = new Set<string>()
  for (const c of opts.clients) {
    if (ids.has(c.clientId)) throw new AgwError('bad_input', `demo issuer: client ${c.clientId} is listed twice`)
    ids.add(c.clientId)
    if (c.grants.includes('device_code') && c.clientSecret) {
      throw new AgwError('bad_input', `demo issuer: device client ${c.clientId} must be public (no clientSecret), as agw login uses it`)
    }
    if (c.grants.includes('client_credentials') && !c.clientSecret) {
      throw new AgwError('bad_input', `demo issuer: client ${c.clientId} uses client_credentials and needs a clientSecret`)
    }
  }
}

function clientMetadata(c: DemoClient): Record<string, unknown> {
  const grantTypes = c.grants.map((g) => (g === 'device_code' ? DEVICE_GRANT : g))
  return {
    client_id: c.clientId,
    ...(c.clientSecret ? { client_secret: c.clientSecret } : {}),
    token_endpoint_auth_method: c.clientSecret ? 'client_secret_post' : 'none',
    grant_types: grantTypes,
    response_types: [],
    redirect_uris: [],
  }
}

export async function startIssuer(opts: StartIssuerOptions): Promise<RunningIssuer> {
  validate(opts)
  const Provider = await loadProvider()
  const users = new Map(opts.users.map((u) => [u.id, u]))
  const clients = new Map(opts.clients.map((c) => [c.clientId, c]))
  const defaultTtl = opts.accessTokenTtlSec ?? 900
  const ttlByDeviceCode = new Map<string, number>() // userToken({ ttlSec }) requests, by device code

  // A fresh signing key per start: tokens of one run never verify against another.
  const { privateKey } = await generateKeyPair('RS256', { extractable: true })
  const signingKey = { ...(await exportJWK(privateKey)), kid: randomUUID(), alg: 'RS256', use: 'sig' }

  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address() as AddressInfo
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address
  const issuer = `http://${urlHost}:${address.port}`

  const accessTokenTtl = (ctx: CtxLike, token: TokenLike): number => {
    const jti = ctx?.oidc?.entities?.DeviceCode?.jti
    return (jti !== undefined ? ttlByDeviceCode.get(jti) : undefined) ?? token.resourceServer?.accessTokenTTL ?? defaultTtl
  }

  const provider = new Provider(issuer, {
    adapter: createMemoryStore(),
    jwks: { keys: [signingKey] },
    clients: opts.clients.map(clientMetadata),
    // Cookies are signed with a random per-run key; `secure` is left to oidc-provider (see above).
    cookies: {
      keys: [randomBytes(32).toString('base64url')],
      long: { httpOnly: true, sameSite: 'lax', signed: true },
      short: { httpOnly: true, sameSite: 'lax', signed: true },
    },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
    scopes: ['openid', 'offline_access', 'email', 'profile', 'groups', RESOURCE_SCOPE],
    async findAccount(_ctx: unknown, sub: string) {
      const user = users.get(sub)
      if (!user) return undefined
      return {
        accountId: user.id,
        async claims() {
          return { sub: user.id, email: user.email, email_verified: true, name: user.name ?? user.id, groups: user.groups }
        },
      }
    },
    // email and groups in every access token: users from their account, agents from their client.
    async extraTokenClaims(_ctx: unknown, token: TokenLike) {
      if (token.accountId !== undefined) {
        const user = users.get(token.accountId)
        return user ? { email: user.email, name: user.name ?? user.id, groups: user.groups } : undefined
      }
      const client = token.clientId !== undefined ? clients.get(token.clientId) : undefined
      return client ? { groups: client.groups ?? [] } : undefined
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: false },
      revocation: {
        enabled: true,
        // The default policy, stated so oidc-provider does not print a notice: a client may
        // revoke only its own tokens.
        async allowedPolicy(_ctx: unknown, client: { clientId: string }, token: { clientId?: string }) {
          return token.clientId === client.clientId
        },
      },
      deviceFlow: {
        enabled: true,
        userCodeInputSource: providerPages.userCodeInputSource,
        userCodeConfirmSource: providerPages.userCodeConfirmSource,
        successSource: providerPages.successSource,
      },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: providerPages.logoutSource,
        postLogoutSuccessSource: providerPages.postLogoutSuccessSource,
      },
      resourceIndicators: {
        enabled: true,
        // No `resource` parameter means the gateway (agw login need not send one) ...
        async defaultResource(_ctx: unknown, _client: unknown, oneOf?: string[]) {
          const gateway = resourceIndicatorFor(opts.audience)
          if (oneOf) return oneOf.includes(gateway) ? gateway : oneOf[0]
          return gateway
        },
        // ... and the device / refresh grants keep the resource granted at the start.
        async useGrantedResource() {
          return true
        },
        // Any resource gets a JWT access token whose aud is that resource (tests mint tokens
        // for other audiences to see the gateway refuse them).
        async getResourceServerInfo(_ctx: unknown, indicator: string) {
          return {
            audience: audienceOf(indicator),
            scope: RESOURCE_SCOPE,
            accessTokenFormat: 'jwt',
            accessTokenTTL: defaultTtl,
            jwt: { sign: { alg: 'RS256' } },
          }
        },
      },
    },
    clientBasedCORS: () => false,
    renderError: providerPages.renderError,
    ttl: {
      AccessToken: accessTokenTtl,
      ClientCredentials: accessTokenTtl,
      AuthorizationCode: 60,
      DeviceCode: 600,
      IdToken: 3600,
      RefreshToken: 14 * 24 * 3600,
      Interaction: 600,
      Session: 3600,
      Grant: 14 * 24 * 3600,
      BackchannelAuthenticationRequest: 600,
      PreAuthorizedCode: 600,
    },
  })
  provider.proxy = false
  // Koa logs request errors to stderr unless someone listens; keep the last one for messages.
  let lastError: unknown
  provider.on('error', (err) => {
    lastError = err
  })
  provider.on('server_error', (_ctx, err) => {
    lastError = err
  })

  const handleProvider = provider.callback()
  server.on('request', (req, res) => {
    handleInteraction(provider, users, req, res)
      .then((handled) => (handled ? undefined : handleProvider(req, res)))
      .catch((err: unknown) => {
        lastError = err
        if (!res.headersSent) res.statusCode = 500
        res.end()
      })
  })

  const withLastError = async <T>(work: Promise<T>): Promise<T> => {
    try {
      return await work
    } catch (err) {
      if (err instanceof AgwError && err.code === 'internal' && lastError instanceof Error) {
        throw new AgwError('internal', `${err.message}: ${lastError.message}`, { cause: lastError })
      }
      throw err
    }
  }

  const deviceClient = opts.clients.find((c) => c.grants.includes('device_code'))

  const userTokenSet = async (userId: string, o: TokenOptions & { ttlSec?: number } = {}): Promise<TokenSet> => {
    const user = users.get(userId)
    if (!user) throw new AgwError('bad_input', `demo issuer: no user ${userId}`)
    if (!deviceClient) throw new AgwError('bad_input', 'demo issuer: no client with the device_code grant is configured')
    let deviceCode: string | undefined
    try {
      return await withLastError(
        deviceLogin({
          issuer,
          clientId: deviceClient.clientId,
          scope: USER_SCOPE,
          resource: resourceIndicatorFor(o.audience ?? opts.audience),
          userId,
          ...(user.password !== undefined ? { password: user.password } : {}),
          onDeviceCode: (code) => {
            deviceCode = code
            if (o.ttlSec !== undefined) ttlByDeviceCode.set(code, o.ttlSec)
          },
        }),
      )
    } finally {
      if (deviceCode !== undefined) ttlByDeviceCode.delete(deviceCode)
    }
  }

  return {
    issuer,
    audience: opts.audience,
    async clientCredentialsToken(clientId, clientSecret, o = {}) {
      const { token_endpoint: tokenEndpoint } = await endpointsOf(issuer)
      const params: Record<string, string> = {
        grant_type: 'client_credentials',
        client_id: clientId,
        client_secret: clientSecret,
        resource: resourceIndicatorFor(o.audience ?? opts.audience),
      }
      if (o.scope !== undefined) params['scope'] = o.scope
      return (await withLastError(tokenRequest(tokenEndpoint, params))).accessToken
    },
    async userToken(userId, o = {}) {
      return (await userTokenSet(userId, o)).accessToken
    },
    userTokenSet,
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
