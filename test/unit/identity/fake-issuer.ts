/**
 * A hand-written stand-in for an OIDC issuer, for the verifier's unit tests: a tiny HTTP server on
 * 127.0.0.1:<free port> that serves a discovery document and a JWKS, and mints tokens with jose.
 * It is deliberately not a real provider (that is test/support/oidc.ts, used by the integration
 * tests): here each test needs to sign exactly the malformed or hostile token it is about.
 */
import { createHmac } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose'
import type { CryptoKey, JWK, JWTPayload } from 'jose'

export interface SigningKey {
  kid: string
  alg: string
  privateKey: CryptoKey
  publicKey: CryptoKey
  publicJwk: JWK
}

export async function makeKey(kid: string, alg = 'RS256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' }
  return { kid, alg, privateKey, publicKey, publicJwk }
}

export interface FakeIssuer {
  url: string
  key: SigningKey
  /** The keys the JWKS endpoint serves; tests may replace it (key rotation). */
  jwks: JWK[]
  hits: { discovery: number; jwks: number }
  /** When set, discovery answers with this HTTP status instead of the document. */
  discoveryStatus?: number
  /** When set, the JWKS endpoint answers with this HTTP status instead of the keys. */
  jwksStatus?: number
  /** When set, the discovery document names this issuer instead of its own URL. */
  advertisedIssuer?: string
  /** Signs claims (defaults: iss, aud 'agw', sub 'alice', iat now, exp in 5 min); undefined removes a claim. */
  sign(claims?: Record<string, unknown>, opts?: { key?: SigningKey; header?: Record<string, unknown> }): Promise<string>
  close(): Promise<void>
}

export const now = (): number => Math.floor(Date.now() / 1000)

export async function startFakeIssuer(): Promise<FakeIssuer> {
  const key = await makeKey('key-1')
  const server = createServer((req, res) => {
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(body))
    }
    if (req.url === '/.well-known/openid-configuration') {
      fake.hits.discovery++
      if (fake.discoveryStatus !== undefined) return send(fake.discoveryStatus, { error: 'down' })
      return send(200, { issuer: fake.advertisedIssuer ?? fake.url, jwks_uri: `${fake.url}/jwks` })
    }
    if (req.url === '/jwks') {
      fake.hits.jwks++
      if (fake.jwksStatus !== undefined) return send(fake.jwksStatus, { error: 'down' })
      return send(200, { keys: fake.jwks })
    }
    send(404, {})
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo

  const fake: FakeIssuer = {
    url: `http://127.0.0.1:${port}`,
    key,
    jwks: [key.publicJwk],
    hits: { discovery: 0, jwks: 0 },
    async sign(claims = {}, opts = {}) {
      const signer = opts.key ?? key
      const payload: Record<string, unknown> = { iss: fake.url, aud: 'agw', sub: 'alice', iat: now(), exp: now() + 300, ...claims }
      for (const [k, v] of Object.entries(payload)) if (v === undefined) delete payload[k]
      return new SignJWT(payload as JWTPayload)
        .setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: 'at+jwt', ...opts.header })
        .sign(signer.privateKey)
    },
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  return fake
}

const b64 = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')

/** A compact JWS assembled by hand, for algorithms jose refuses to produce against these keys. */
export function handMadeJws(header: Record<string, unknown>, payload: Record<string, unknown>, hmacSecret?: Uint8Array | string): string {
  const signingInput = `${b64(header)}.${b64(payload)}`
  const signature = hmacSecret === undefined ? '' : createHmac('sha256', hmacSecret).update(signingInput).digest('base64url')
  return `${signingInput}.${signature}`
}

export async function publicKeyPem(key: SigningKey): Promise<string> {
  return exportSPKI(key.publicKey)
}
