/** The CLI's OIDC helpers: resource indicator, the loopback-only http rule, refresh timing, device poll outcomes. */
import * as oidc from 'openid-client'
import { describe, expect, it } from 'vitest'
import { explainPollFailure, pollAnswer } from '../../../src/client/login/device.js'
import {
  allowPlainHttpForLoopbackIssuer,
  checkIssuerUrl,
  expiryOf,
  isFresh,
  refreshMarginSec,
  resourceIndicator,
} from '../../../src/client/login/oidc.js'
import { resourceIndicatorFor } from '../../../src/demo/issuer.js'

function oauthError(error: string, status = 400): oidc.ResponseBodyError {
  return new oidc.ResponseBodyError('server responded with an error', { cause: { error }, response: new Response(null, { status }) })
}

const never = new AbortController().signal

describe('resourceIndicator', () => {
  it('asks for the same resource the embedded issuer maps back to the gateway audience', () => {
    for (const audience of ['agw', 'https://agw.example.com', 'urn:example:agw', 'my gateway/1']) {
      expect(resourceIndicator({ audience })).toBe(resourceIndicatorFor(audience))
    }
    expect(resourceIndicator({ audience: 'agw' })).toBe('urn:agw:audience:agw')
  })

  it('uses the resource the gateway names, when it names one', () => {
    expect(resourceIndicator({ audience: 'agw', resource: 'https://agw.example.com/' })).toBe('https://agw.example.com/')
  })
})

describe('plain http to the identity provider', () => {
  it('is allowed for a loopback issuer only, through allowInsecureRequests', () => {
    expect(allowPlainHttpForLoopbackIssuer(new URL('https://idp.example.com'))).toEqual([])
    for (const host of ['127.0.0.1:9000', 'localhost:9000', '[::1]:9000']) {
      expect(allowPlainHttpForLoopbackIssuer(new URL(`http://${host}`))).toEqual([oidc.allowInsecureRequests])
    }
    expect(() => allowPlainHttpForLoopbackIssuer(new URL('http://idp.example.com'))).toThrow(/refusing plain http to the identity provider http:\/\/idp\.example\.com/)
    expect(() => checkIssuerUrl('http://10.0.0.5:8080')).toThrow(/refusing issuer http:\/\/10\.0\.0\.5:8080: plain http is allowed only on a loopback host/)
    expect(() => checkIssuerUrl('not a url')).toThrow(/not a URL/)
  })
})

describe('refresh timing', () => {
  it('renews a quarter of the lifetime before expiry, between 1 and 60 seconds', () => {
    expect(refreshMarginSec(1000 + 900, 1000)).toBe(60)
    expect(refreshMarginSec(1000 + 120, 1000)).toBe(30)
    expect(refreshMarginSec(1000 + 2, 1000)).toBe(1)
    expect(refreshMarginSec(5000, undefined)).toBe(60)
  })

  it('isFresh', () => {
    const t = { expiresAt: 1900, issuedAt: 1000 }
    expect(isFresh(t, 1839_000)).toBe(true)
    expect(isFresh(t, 1841_000)).toBe(false)
    expect(isFresh(t, 1901_000)).toBe(false)
  })

  it('reads the expiry from the JWT, else from expires_in', () => {
    const jwt = `e30.${Buffer.from(JSON.stringify({ exp: 1234 })).toString('base64url')}.sig`
    expect(expiryOf(jwt, 900, 1_000_000)).toBe(1234)
    expect(expiryOf('opaque-token', 900, 1_000_000)).toBe(1900)
    expect(expiryOf('opaque-token', undefined, 1_000_000)).toBe(1300)
  })
})

describe('the device poll', () => {
  it('recognises authorization_pending and slow_down in the token endpoint answers', () => {
    expect(pollAnswer(400, { error: 'authorization_pending' })).toBe('authorization_pending')
    expect(pollAnswer(400, { error: 'slow_down' })).toBe('slow_down')
    expect(pollAnswer(400, { error: 'access_denied' })).toBeUndefined()
    expect(pollAnswer(200, { access_token: 'x' })).toBeUndefined()
    expect(pollAnswer(400, 'not json')).toBeUndefined()
  })

  it('gives a line for each way it can end without tokens', () => {
    expect(explainPollFailure(oauthError('expired_token'), never, never).message).toBe(
      'the code expired before the sign-in was approved; run `agw login` again and approve it within the time shown',
    )
    expect(explainPollFailure(oauthError('access_denied'), never, never).message).toMatch(/^the sign-in was denied in the browser; nothing was stored/)
    const cancelled = new AbortController()
    cancelled.abort()
    expect(explainPollFailure(new DOMException('aborted', 'AbortError'), cancelled.signal, never)).toMatchObject({ code: 'unauthenticated', message: 'login cancelled; nothing was stored' })
    // The code's own lifetime ran out on our side before the provider said expired_token.
    expect(explainPollFailure(new DOMException('timeout', 'TimeoutError'), never, AbortSignal.abort()).message).toMatch(/^the code expired/)
    expect(explainPollFailure(oauthError('invalid_grant'), never, never).message).toBe('the identity provider refused the sign-in: invalid_grant, HTTP 400')
    expect(explainPollFailure(oauthError('server_error', 503), never, never).code).toBe('unreachable')
  })
})
