/**
 * A real OIDC issuer for tests (src/demo/issuer.ts, i.e. oidc-provider on 127.0.0.1:<free port>)
 * with a fixed cast:
 *   alice   groups [sre, agents]   human
 *   bob     groups [sre]           human
 *   mallory groups []              human
 *   ci-agent (client credentials)  groups [agents]   agent
 *   agw-cli (public device client, refresh tokens): what `agw login` uses
 * and audience 'agw'.
 *
 *   const idp = await startTestIssuer()
 *   const verifier = new TokenVerifier([idp.issuerConfig()])
 *   await verifier.verify(await idp.userToken('alice'))
 *   await idp.close()
 *
 * Started in a vitest globalSetup, pass `idp.issuer` through provide/inject and use
 * `connectTestIssuer(url)` in the test files: it gets the same tokens over HTTP.
 */
import { deviceLogin, endpointsOf, tokenRequest } from '../../src/demo/issuer-browser.js'
import type { TokenSet } from '../../src/demo/issuer-browser.js'
import { resourceIndicatorFor, startIssuer } from '../../src/demo/issuer.js'
import type { DemoClient, DemoUser, RunningIssuer } from '../../src/demo/issuer.js'
import type { IssuerConfig } from '../../src/identity/verifier.js'

export const AUDIENCE = 'agw'
export const DEVICE_CLIENT_ID = 'agw-cli'
export const AGENT_CLIENT = { id: 'ci-agent', secret: 'ci-agent-test-secret' } as const

export type TestUserId = 'alice' | 'bob' | 'mallory'

export const TEST_USERS: readonly DemoUser[] = [
  { id: 'alice', email: 'alice@example.com', name: 'Alice', groups: ['sre', 'agents'], password: 'alice-password' },
  { id: 'bob', email: 'bob@example.com', name: 'Bob', groups: ['sre'], password: 'bob-password' },
  { id: 'mallory', email: 'mallory@example.com', name: 'Mallory', groups: [], password: 'mallory-password' },
]

export const TEST_CLIENTS: readonly DemoClient[] = [
  { clientId: AGENT_CLIENT.id, clientSecret: AGENT_CLIENT.secret, groups: ['agents'], grants: ['client_credentials'] },
  { clientId: DEVICE_CLIENT_ID, grants: ['device_code', 'refresh_token'] },
]

export interface TestIssuerTokens {
  issuer: string
  /** The verifier config that trusts this issuer, as the gateway's identity.issuers entry. */
  issuerConfig(overrides?: Partial<IssuerConfig>): IssuerConfig
  /** An access token for alice, bob or mallory (device flow over HTTP). */
  userToken(user: TestUserId, opts?: { audience?: string }): Promise<string>
  userTokenSet(user: TestUserId, opts?: { audience?: string }): Promise<TokenSet>
  /** An access token for ci-agent (client credentials). */
  agentToken(opts?: { audience?: string }): Promise<string>
}

export interface TestIssuer extends TestIssuerTokens {
  /** The running issuer itself (more options: ttlSec, other clients' tokens). */
  running: RunningIssuer
  userToken(user: TestUserId, opts?: { audience?: string; ttlSec?: number }): Promise<string>
  userTokenSet(user: TestUserId, opts?: { audience?: string; ttlSec?: number }): Promise<TokenSet>
  close(): Promise<void>
}

function issuerConfigFor(issuer: string) {
  return (overrides: Partial<IssuerConfig> = {}): IssuerConfig => ({ issuer, audience: AUDIENCE, groupsClaim: 'groups', ...overrides })
}

export async function startTestIssuer(opts: { accessTokenTtlSec?: number } = {}): Promise<TestIssuer> {
  const running = await startIssuer({
    audience: AUDIENCE,
    users: [...TEST_USERS],
    clients: [...TEST_CLIENTS],
    ...(opts.accessTokenTtlSec !== undefined ? { accessTokenTtlSec: opts.accessTokenTtlSec } : {}),
  })
  return {
    running,
    issuer: running.issuer,
    issuerConfig: issuerConfigFor(running.issuer),
    userToken: (user, o) => running.userToken(user, o),
    userTokenSet: (user, o) => running.userTokenSet(user, o),
    agentToken: (o) => running.clientCredentialsToken(AGENT_CLIENT.id, AGENT_CLIENT.secret, o),
    close: () => running.close(),
  }
}

/** Tokens from a test issuer started elsewhere (a globalSetup), over HTTP only. */
export function connectTestIssuer(issuer: string): TestIssuerTokens {
  const userTokenSet = async (user: TestUserId, o: { audience?: string } = {}): Promise<TokenSet> => {
    const password = TEST_USERS.find((u) => u.id === user)?.password
    return deviceLogin({
      issuer,
      clientId: DEVICE_CLIENT_ID,
      scope: 'openid offline_access email profile groups',
      resource: resourceIndicatorFor(o.audience ?? AUDIENCE),
      userId: user,
      ...(password !== undefined ? { password } : {}),
    })
  }
  return {
    issuer,
    issuerConfig: issuerConfigFor(issuer),
    userTokenSet,
    userToken: async (user, o) => (await userTokenSet(user, o)).accessToken,
    async agentToken(o = {}) {
      const { token_endpoint: tokenEndpoint } = await endpointsOf(issuer)
      const set = await tokenRequest(tokenEndpoint, {
        grant_type: 'client_credentials',
        client_id: AGENT_CLIENT.id,
        client_secret: AGENT_CLIENT.secret,
        resource: resourceIndicatorFor(o.audience ?? AUDIENCE),
      })
      return set.accessToken
    },
  }
}
