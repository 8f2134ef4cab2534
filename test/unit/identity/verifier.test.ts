/**
 * TokenVerifier against a hand-written issuer (./fake-issuer.ts: discovery + JWKS from a tiny
 * local HTTP server, tokens minted with jose). The real-provider path is
 * test/integration/identity.test.ts.
 *
 * The attack table follows RFC 8725 (JWT BCP) section 2 and RFC 9068 section 4: every hostile
 * token is refused with code 'unauthenticated' and a reason that names what was wrong.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { AgwError } from '../../../src/errors.js'
import { TokenVerifier } from '../../../src/identity/verifier.js'
import type { IssuerConfig } from '../../../src/identity/verifier.js'
import { handMadeJws, makeKey, now, publicKeyPem, startFakeIssuer } from './fake-issuer.js'
import type { FakeIssuer } from './fake-issuer.js'

let idp: FakeIssuer
let other: FakeIssuer // a second issuer the gateway does not trust

beforeAll(async () => {
  idp = await startFakeIssuer()
  other = await startFakeIssuer()
})
afterAll(async () => {
  await idp.close()
  await other.close()
})
afterEach(() => {
  idp.jwks = [idp.key.publicJwk]
  delete idp.discoveryStatus
  delete idp.jwksStatus
  delete idp.advertisedIssuer
})

function config(overrides: Partial<IssuerConfig> = {}): IssuerConfig {
  return { issuer: idp.url, audience: 'agw', groupsClaim: 'groups', ...overrides }
}

async function rejection(promise: Promise<unknown>): Promise<AgwError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err, 'expected the promise to reject').toBeInstanceOf(AgwError)
  return err as AgwError
}

describe('TokenVerifier: accepted tokens', () => {
  it('returns the principal of a person', async () => {
    const exp = now() + 300
    const token = await idp.sign({
      sub: 'alice',
      email: 'alice@example.com',
      name: 'Alice',
      groups: ['sre', 'agents'],
      client_id: 'agw-cli',
      exp,
    })
    expect(await new TokenVerifier([config()]).verify(token)).toEqual({
      kind: 'human',
      subject: 'alice',
      email: 'alice@example.com',
      name: 'Alice',
      groups: ['sre', 'agents'],
      issuer: idp.url,
      clientId: 'agw-cli',
      expiresAt: exp,
    })
  })

  it('marks a client-credentials token (sub = client_id, as oidc-provider issues it) as an agent', async () => {
    const token = await idp.sign({ sub: 'ci-agent', client_id: 'ci-agent', groups: ['agents'] })
    const principal = await new TokenVerifier([config()]).verify(token)
    expect(principal).toMatchObject({ kind: 'agent', subject: 'ci-agent', clientId: 'ci-agent', groups: ['agents'] })
  })

  it('accepts a token without a groups claim, with no groups (not a crash)', async () => {
    const principal = await new TokenVerifier([config()]).verify(await idp.sign({ groups: undefined }))
    expect(principal.groups).toEqual([])
  })

  it('reads a single-string groups claim as one group, and a dotted groups path', async () => {
    const v = new TokenVerifier([config({ groupsClaim: 'realm_access.roles' })])
    expect((await v.verify(await idp.sign({ realm_access: { roles: 'sre' } }))).groups).toEqual(['sre'])
    expect((await v.verify(await idp.sign({ realm_access: { roles: ['sre', 'dba', 7] } }))).groups).toEqual(['sre', 'dba'])
  })

  it('maps extra claims and custom subject / email claims (CI tokens)', async () => {
    const v = new TokenVerifier([
      config({ subjectClaim: 'job_workflow_ref', emailClaim: 'actor_email', claims: { repository: 'repository', ref: 'ref' }, kind: 'agent' }),
    ])
    const token = await idp.sign({
      sub: 'repo:acme/app:ref:refs/heads/main',
      job_workflow_ref: 'acme/app/.github/workflows/deploy.yml@refs/heads/main',
      repository: 'acme/app',
      ref: 'refs/heads/main',
    })
    expect(await v.verify(token)).toMatchObject({
      kind: 'agent',
      subject: 'acme/app/.github/workflows/deploy.yml@refs/heads/main',
      claims: { repository: 'acme/app', ref: 'refs/heads/main' },
    })
  })

  it('ignores whitespace around the token (a header value read with a trailing newline)', async () => {
    await expect(new TokenVerifier([config()]).verify(`  ${await idp.sign()}\n`)).resolves.toMatchObject({ subject: 'alice' })
  })

  it('accepts an expired token within the clock skew (60 s by default)', async () => {
    const token = await idp.sign({ iat: now() - 400, exp: now() - 30 })
    await expect(new TokenVerifier([config()]).verify(token)).resolves.toMatchObject({ subject: 'alice' })
  })

  it('accepts typ JWT and an absent typ when requireTyp is unset', async () => {
    const v = new TokenVerifier([config()])
    await expect(v.verify(await idp.sign({}, { header: { typ: 'JWT' } }))).resolves.toBeDefined()
    await expect(v.verify(await idp.sign({}, { header: { typ: undefined } }))).resolves.toBeDefined()
    await expect(v.verify(await idp.sign({}, { header: { typ: 'application/at+jwt' } }))).resolves.toBeDefined()
  })

  it('verifies with any key of the JWKS (EC and RSA side by side) and one of several audiences', async () => {
    const ec = await makeKey('ec-1', 'ES256')
    idp.jwks = [idp.key.publicJwk, ec.publicJwk]
    const v = new TokenVerifier([config({ audience: ['agw', 'https://gw.example'] })])
    await expect(v.verify(await idp.sign({ aud: 'https://gw.example' }, { key: ec }))).resolves.toMatchObject({ subject: 'alice' })
  })
})

describe('TokenVerifier: attack table (each refused as unauthenticated)', () => {
  const cases: { name: string; reason: RegExp; token: () => Promise<string>; config?: Partial<IssuerConfig> }[] = [
    {
      name: 'expired',
      reason: /^token expired at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ; run `agw login` or obtain a new AGW_TOKEN$/,
      token: () => idp.sign({ iat: now() - 600, exp: now() - 120 }),
    },
    {
      name: 'not yet valid (nbf beyond the skew)',
      reason: /not valid before .*clock/,
      token: () => idp.sign({ nbf: now() + 300 }),
    },
    {
      name: 'issued in the future (iat beyond the skew)',
      reason: /issued in the future/,
      token: () => idp.sign({ iat: now() + 600, exp: now() + 900 }),
    },
    {
      name: 'wrong issuer',
      reason: /^issuer https:\/\/idp\.evil\.example is not trusted by this gateway/,
      token: () => idp.sign({ iss: 'https://idp.evil.example' }),
    },
    {
      name: 'wrong audience',
      reason: /audience "billing-api" is not accepted: this gateway expects "agw"/,
      token: () => idp.sign({ aud: 'billing-api' }),
    },
    {
      name: 'alg none',
      reason: /alg "none"/,
      token: async () => handMadeJws({ alg: 'none', typ: 'JWT' }, { iss: idp.url, aud: 'agw', sub: 'alice', exp: now() + 300 }),
    },
    {
      name: 'HS256 signed with the issuer RSA public key (PEM) as the HMAC secret',
      reason: /shared-secret algorithm HS256/,
      token: async () =>
        handMadeJws({ alg: 'HS256', kid: idp.key.kid }, { iss: idp.url, aud: 'agw', sub: 'alice', exp: now() + 300 }, await publicKeyPem(idp.key)),
    },
    {
      name: 'HS256 signed with the issuer public JWK bytes as the HMAC secret',
      reason: /shared-secret algorithm HS256/,
      token: async () =>
        handMadeJws({ alg: 'HS256', kid: idp.key.kid }, { iss: idp.url, aud: 'agw', sub: 'alice', exp: now() + 300 }, JSON.stringify(idp.key.publicJwk)),
    },
    {
      name: 'algorithm outside the allow-list',
      reason: /algorithm ES256 is not allowed for issuer .* \(allowed: RS256\)/,
      token: async () => idp.sign({}, { key: await makeKey('ec-2', 'ES256') }),
      config: { algorithms: ['RS256'] },
    },
    {
      name: 'unknown kid',
      reason: /no signing key of issuer .* matches the token \(kid "rotated-away"/,
      token: async () => idp.sign({}, { key: await makeKey('rotated-away') }),
    },
    {
      name: 'payload tampered after signing',
      reason: /signature does not verify .*altered after signing/,
      token: async () => {
        const [h, , s] = (await idp.sign({ groups: ['readers'] })).split('.')
        const forged = Buffer.from(JSON.stringify({ iss: idp.url, aud: 'agw', sub: 'alice', groups: ['admins'], exp: now() + 300 })).toString('base64url')
        return `${h}.${forged}.${s}`
      },
    },
    {
      name: 'untrusted issuer reusing a trusted kid',
      reason: /is not trusted by this gateway/,
      token: async () => other.sign({ iss: other.url }, { key: { ...other.key, kid: idp.key.kid } }),
    },
    {
      name: 'trusted iss, signed by a foreign key that reuses the trusted kid',
      reason: /signature does not verify/,
      token: async () => idp.sign({}, { key: { ...other.key, kid: idp.key.kid } }),
    },
    {
      name: 'ID token presented as an access token (aud = the client id)',
      reason: /audience "agw-cli" is not accepted.*ID token/,
      token: () => idp.sign({ aud: 'agw-cli', nonce: 'n-0S6_WzA2Mj', at_hash: 'x' }, { header: { typ: undefined } }),
    },
    {
      name: 'ID token where requireTyp at+jwt is configured (no typ header)',
      reason: /typ header\) is absent, issuer .* must send "at\+jwt"/,
      token: () => idp.sign({}, { header: { typ: undefined } }),
      config: { requireTyp: 'at+jwt' },
    },
    {
      name: 'another JWT type (logout token) presented as an access token',
      reason: /typ header\) "logout\+jwt" is not an access token/,
      token: () => idp.sign({}, { header: { typ: 'logout+jwt' } }),
    },
    {
      name: 'Keycloak-style ID token (typ claim "ID")',
      reason: /"ID" token \(typ claim\), not an access token/,
      token: () => idp.sign({ typ: 'ID' }),
    },
    {
      name: 'Cognito-style ID token (token_use "id")',
      reason: /"id" token \(token_use claim\)/,
      token: () => idp.sign({ token_use: 'id' }),
    },
    {
      name: 'no exp claim',
      reason: /no valid "exp" claim/,
      token: () => idp.sign({ exp: undefined }),
    },
    {
      name: 'no iss claim',
      reason: /no "iss" claim/,
      token: () => idp.sign({ iss: undefined }),
    },
    {
      name: 'no subject at all',
      reason: /names nobody/,
      token: () => idp.sign({ sub: undefined }),
    },
    {
      name: 'not a JWT (opaque token)',
      reason: /not a JWT/,
      token: async () => 'mF_9B5f-41JqM-opaque-token',
    },
    {
      name: 'an encrypted token (JWE)',
      reason: /encrypted tokens \(JWE\)/,
      token: async () => 'a.b.c.d.e',
    },
    {
      name: 'garbage in the header',
      reason: /malformed/,
      token: async () => 'eyJub3QganNvbg.e30.sig',
    },
    {
      name: 'the Authorization header value instead of the token',
      reason: /without the "Bearer " prefix/,
      token: async () => `Bearer ${await idp.sign()}`,
    },
    {
      name: 'an empty token',
      reason: /no bearer token/,
      token: async () => '',
    },
  ]

  it.each(cases)('$name', async ({ token, reason, config: overrides }) => {
    const err = await rejection(new TokenVerifier([config(overrides)]).verify(await token()))
    expect(err.code).toBe('unauthenticated')
    expect(err.message).toMatch(reason)
  })

  it('hints at a trailing-slash mismatch of the issuer identifier', async () => {
    const err = await rejection(new TokenVerifier([config()]).verify(await idp.sign({ iss: `${idp.url}/` })))
    expect(err.message).toMatch(/trailing slash/)
  })
})

describe('TokenVerifier: discovery and JWKS', () => {
  it('discovers and fetches the JWKS once, then serves from cache', async () => {
    const fresh = await startFakeIssuer()
    try {
      const v = new TokenVerifier([{ issuer: fresh.url, audience: 'agw', groupsClaim: 'groups' }])
      await Promise.all([v.verify(await fresh.sign()), v.verify(await fresh.sign())])
      await v.verify(await fresh.sign())
      expect(fresh.hits).toEqual({ discovery: 1, jwks: 1 })
    } finally {
      await fresh.close()
    }
  })

  it('refetches the JWKS for a rotated-in kid, at most once per cooldown', async () => {
    const v = new TokenVerifier([config()], { jwksCooldownSec: 3600 })
    await v.verify(await idp.sign())
    const rotated = await makeKey('key-2')
    idp.jwks = [idp.key.publicJwk, rotated.publicJwk]
    const before = idp.hits.jwks
    // Within the cooldown the new kid is not fetched: an attacker can't make us hammer the IdP.
    const err = await rejection(v.verify(await idp.sign({}, { key: rotated })))
    expect(err.message).toMatch(/no signing key/)
    expect(idp.hits.jwks).toBe(before)

    const eager = new TokenVerifier([config()], { jwksCooldownSec: 0 })
    await eager.verify(await idp.sign())
    await expect(eager.verify(await idp.sign({}, { key: rotated }))).resolves.toMatchObject({ subject: 'alice' })
  })

  it('reports a discovery outage as unreachable and retries on the next call', async () => {
    const v = new TokenVerifier([config()])
    idp.discoveryStatus = 503
    const err = await rejection(v.verify(await idp.sign()))
    expect(err.code).toBe('unreachable')
    expect(err.message).toMatch(/cannot load OIDC discovery .*HTTP 503/)
    delete idp.discoveryStatus
    await expect(v.verify(await idp.sign())).resolves.toMatchObject({ subject: 'alice' })
  })

  it('reports a JWKS outage as unreachable and rediscovers on the next call', async () => {
    const v = new TokenVerifier([config()])
    idp.jwksStatus = 500
    const discoveries = idp.hits.discovery
    const err = await rejection(v.verify(await idp.sign()))
    expect(err.code).toBe('unreachable')
    expect(err.message).toMatch(/cannot load the signing keys of issuer .*\/jwks/)
    delete idp.jwksStatus
    await expect(v.verify(await idp.sign())).resolves.toMatchObject({ subject: 'alice' })
    expect(idp.hits.discovery).toBe(discoveries + 2)
  })

  it('refuses a discovery document that names another issuer (mix-up)', async () => {
    idp.advertisedIssuer = 'https://idp.evil.example'
    const err = await rejection(new TokenVerifier([config()]).verify(await idp.sign()))
    expect(err.code).toBe('unreachable')
    expect(err.message).toMatch(/names issuer "https:\/\/idp\.evil\.example"/)
  })

  it('reports an issuer that does not answer as unreachable', async () => {
    const gone = await startFakeIssuer()
    const token = await gone.sign()
    await gone.close()
    const err = await rejection(new TokenVerifier([{ issuer: gone.url, audience: 'agw', groupsClaim: 'groups' }]).verify(token))
    expect(err.code).toBe('unreachable')
  })
})

describe('TokenVerifier: configuration', () => {
  const refused = (issuers: IssuerConfig[], options?: { clockToleranceSec?: number }): AgwError => {
    try {
      new TokenVerifier(issuers, options)
    } catch (err) {
      expect(err).toBeInstanceOf(AgwError)
      return err as AgwError
    }
    throw new Error('expected the constructor to throw')
  }

  it.each(['http://idp.example.com', 'http://10.0.0.5:8080', 'ftp://idp.example.com', 'not a url'])('refuses issuer %s', (issuer) => {
    const err = refused([{ issuer, audience: 'agw', groupsClaim: 'groups' }])
    expect(err.code).toBe('bad_input')
  })

  it('names the fix for plain http on a non-loopback host', () => {
    expect(refused([{ issuer: 'http://idp.example.com', audience: 'agw', groupsClaim: 'groups' }]).message).toMatch(
      /loopback .*use https:\/\/idp\.example\.com/,
    )
  })

  it.each(['http://127.0.0.1:9000', 'http://localhost:9000', 'http://[::1]:9000', 'https://idp.example.com/realms/x'])('accepts issuer %s', (issuer) => {
    expect(() => new TokenVerifier([{ issuer, audience: 'agw', groupsClaim: 'groups' }])).not.toThrow()
  })

  it.each([{ algorithms: ['none'] }, { algorithms: ['HS256'] }, { algorithms: ['RS256', 'hs512'] }, { algorithms: [] }])(
    'refuses algorithms $algorithms',
    ({ algorithms }) => {
      expect(refused([config({ algorithms })]).code).toBe('bad_input')
    },
  )

  it('refuses a clock tolerance above 60 s, an empty issuer list and duplicates', () => {
    expect(refused([config()], { clockToleranceSec: 61 }).code).toBe('bad_input')
    expect(refused([]).code).toBe('bad_input')
    expect(refused([config(), config()]).message).toMatch(/listed twice/)
  })
})
