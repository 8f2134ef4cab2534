/** OIDC discovery (src/identity/discovery.ts), against a stubbed fetch: Discovery 1.0 sections 4 and 4.3. */
import { describe, expect, it } from 'vitest'
import { AgwError } from '../../../src/errors.js'
import { discoverIssuer, insecureUrlReason, isLoopbackHost } from '../../../src/identity/discovery.js'

function stubFetch(status: number, body: unknown, seen: string[] = []): typeof fetch {
  return (async (input: string | URL | Request) => {
    seen.push(String(input))
    return new Response(typeof body === 'string' ? body : JSON.stringify(body), { status })
  }) as typeof fetch
}

async function failure(promise: Promise<unknown>): Promise<AgwError> {
  const err = await promise.then(() => undefined, (e: unknown) => e)
  expect(err).toBeInstanceOf(AgwError)
  return err as AgwError
}

describe('isLoopbackHost / insecureUrlReason', () => {
  it.each(['127.0.0.1', '127.1.2.3', 'localhost', 'LOCALHOST', 'agw.localhost', '[::1]', '::1'])('%s is loopback', (host) => {
    expect(isLoopbackHost(host)).toBe(true)
  })
  it.each(['10.0.0.1', '0.0.0.0', '127.0.0.1.nip.io', 'localhost.example.com', '[::]', '[::ffff:7f00:1]'])('%s is not', (host) => {
    expect(isLoopbackHost(host)).toBe(false)
  })
  it('allows https anywhere and http on loopback only', () => {
    expect(insecureUrlReason(new URL('https://idp.example.com'))).toBeNull()
    expect(insecureUrlReason(new URL('http://127.0.0.1:8080'))).toBeNull()
    expect(insecureUrlReason(new URL('http://idp.example.com/realms/a'))).toMatch(/use https:\/\/idp\.example\.com\/realms\/a/)
    expect(insecureUrlReason(new URL('file:///etc/passwd'))).toMatch(/unsupported scheme/)
  })
})

describe('discoverIssuer', () => {
  it('appends the well-known path after the issuer path and returns jwks_uri', async () => {
    const seen: string[] = []
    const issuer = 'https://idp.example.com/realms/acme'
    const found = await discoverIssuer(issuer, stubFetch(200, { issuer, jwks_uri: `${issuer}/certs` }, seen))
    expect(seen).toEqual(['https://idp.example.com/realms/acme/.well-known/openid-configuration'])
    expect(found.jwksUri.href).toBe('https://idp.example.com/realms/acme/certs')
  })

  it.each([
    ['HTTP 500', 500, {}, /HTTP 500/],
    ['a redirect (not followed)', 302, {}, /HTTP 302/],
    ['not JSON', 200, '<html>', /not JSON/],
    ['another issuer (mix-up)', 200, { issuer: 'https://evil.example', jwks_uri: 'https://evil.example/jwks' }, /names issuer "https:\/\/evil\.example"/],
    ['no jwks_uri', 200, { issuer: 'https://idp.example.com' }, /no jwks_uri/],
    ['a plain-http jwks_uri off loopback', 200, { issuer: 'https://idp.example.com', jwks_uri: 'http://idp.example.com/jwks' }, /jwks_uri .* is refused/],
  ])('is unreachable on %s', async (_name, status, body, reason) => {
    const err = await failure(discoverIssuer('https://idp.example.com', stubFetch(status, body)))
    expect(err.code).toBe('unreachable')
    expect(err.message).toMatch(reason)
  })

  it('is unreachable when the connection fails', async () => {
    const refused = (async () => {
      throw new TypeError('fetch failed')
    }) as typeof fetch
    const err = await failure(discoverIssuer('https://idp.example.com', refused))
    expect(err.code).toBe('unreachable')
    expect(err.message).toMatch(/fetch failed/)
  })
})
