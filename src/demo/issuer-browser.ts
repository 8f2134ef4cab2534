/**
 * Drives the embedded issuer over HTTP the way a person and a CLI would: a token request, and the
 * device authorization grant (RFC 8628) end to end: device authorization, the verification page
 * (user code, confirm), the login form, automatic consent, then the token endpoint.
 *
 * It is a scripted browser for `agw demo` and for tests, not a general HTTP client: a cookie jar
 * with path matching, manual redirects, and form fields read from the provider's own HTML.
 */
import { AgwError } from '../errors.js'

export interface TokenSet {
  accessToken: string
  tokenType: string
  expiresIn?: number
  idToken?: string
  refreshToken?: string
  scope?: string
}

interface Endpoints {
  token_endpoint: string
  device_authorization_endpoint: string
}

interface Page {
  status: number
  url: string
  body: string
}

const MAX_REDIRECTS = 10

export async function endpointsOf(issuer: string): Promise<Endpoints> {
  const res = await fetch(`${issuer}/.well-known/openid-configuration`)
  if (!res.ok) throw new AgwError('unreachable', `demo issuer ${issuer}: discovery answered HTTP ${res.status}`)
  return (await res.json()) as Endpoints
}

function oauthError(what: string, status: number, body: Record<string, unknown>): AgwError {
  const detail = [body['error'], body['error_description']].filter((x) => typeof x === 'string').join(': ')
  const code = status === 400 || status === 401 ? 'unauthenticated' : 'internal'
  return new AgwError(code, `demo issuer: ${what} failed with HTTP ${status}${detail ? ` (${detail})` : ''}`)
}

/** POSTs a form to the token endpoint and returns the token set. */
export async function tokenRequest(tokenEndpoint: string, params: Record<string, string>): Promise<TokenSet> {
  const res = await fetch(tokenEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams(params),
  })
  const body = (await res.json().catch(() => ({}))) as Record<string, unknown>
  if (!res.ok || typeof body['access_token'] !== 'string') throw oauthError(`token request (${params['grant_type']})`, res.status, body)
  const set: TokenSet = { accessToken: body['access_token'], tokenType: String(body['token_type'] ?? 'Bearer') }
  if (typeof body['expires_in'] === 'number') set.expiresIn = body['expires_in']
  if (typeof body['id_token'] === 'string') set.idToken = body['id_token']
  if (typeof body['refresh_token'] === 'string') set.refreshToken = body['refresh_token']
  if (typeof body['scope'] === 'string') set.scope = body['scope']
  return set
}

/** Reads a form's action and fields (inputs with a name and value) by form id. */
export function readForm(html: string, formId: string, base: string): { action: string; fields: Record<string, string> } | undefined {
  const start = html.search(new RegExp(`<form[^>]*\\bid="${formId.replace(/\./g, '\\.')}"`))
  if (start === -1) return undefined
  const end = html.indexOf('</form>', start)
  const form = html.slice(start, end === -1 ? undefined : end)
  const action = /\baction="([^"]*)"/.exec(form)?.[1] ?? ''
  const fields: Record<string, string> = {}
  for (const [input] of form.matchAll(/<input\b[^>]*>/g)) {
    const name = /\bname="([^"]*)"/.exec(input)?.[1]
    if (name !== undefined) fields[name] = decodeEntities(/\bvalue="([^"]*)"/.exec(input)?.[1] ?? '')
  }
  return { action: new URL(decodeEntities(action), base).href, fields }
}

function decodeEntities(value: string): string {
  return value
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)))
    .replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&')
}

/** A cookie jar (RFC 6265 path matching; one host) and a redirect-following form submitter. */
export class ScriptedBrowser {
  readonly #cookies = new Map<string, { name: string; value: string; path: string }>()

  async get(url: string): Promise<Page> {
    return this.#go(url, { method: 'GET' })
  }

  async submit(page: Page, formId: string, values: Record<string, string> = {}): Promise<Page> {
    const form = readForm(page.body, formId, page.url)
    if (!form) throw new AgwError('protocol', `demo issuer: expected form ${formId} on ${page.url} (HTTP ${page.status}): ${summary(page.body)}`)
    return this.#go(form.action, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...form.fields, ...values }).toString(),
    })
  }

  async #go(url: string, init: { method: string; headers?: Record<string, string>; body?: string }): Promise<Page> {
    let current = url
    let request = init
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const headers: Record<string, string> = { accept: 'text/html', ...request.headers }
      const cookie = this.#cookieHeader(new URL(current).pathname)
      if (cookie) headers['cookie'] = cookie
      const res = await fetch(current, { ...request, headers, redirect: 'manual' })
      this.#store(res.headers.getSetCookie())
      const location = res.headers.get('location')
      if (res.status >= 300 && res.status < 400 && location) {
        await res.body?.cancel()
        current = new URL(location, current).href
        request = { method: 'GET' } // 302/303 after a form post continue with GET
        continue
      }
      return { status: res.status, url: current, body: await res.text() }
    }
    throw new AgwError('protocol', `demo issuer: more than ${MAX_REDIRECTS} redirects from ${url}`)
  }

  #store(setCookies: string[]): void {
    for (const line of setCookies) {
      const [pair = '', ...attrs] = line.split(';').map((s) => s.trim())
      const eq = pair.indexOf('=')
      if (eq <= 0) continue
      const name = pair.slice(0, eq)
      const value = pair.slice(eq + 1)
      let path = '/'
      let expired = value === ''
      for (const attr of attrs) {
        const [k = '', v = ''] = attr.split('=')
        const key = k.toLowerCase()
        if (key === 'path' && v.startsWith('/')) path = v
        if (key === 'max-age' && Number(v) <= 0) expired = true
        if (key === 'expires' && Date.parse(v) <= Date.now()) expired = true
      }
      const id = `${name}\u0000${path}`
      if (expired) this.#cookies.delete(id)
      else this.#cookies.set(id, { name, value, path })
    }
  }

  #cookieHeader(requestPath: string): string {
    const matches = [...this.#cookies.values()].filter(
      (c) => requestPath === c.path || (requestPath.startsWith(c.path) && (c.path.endsWith('/') || requestPath[c.path.length] === '/')),
    )
    matches.sort((a, b) => b.path.length - a.path.length) // longer paths first (RFC 6265 5.4)
    return matches.map((c) => `${c.name}=${c.value}`).join('; ')
  }
}

function summary(html: string): string {
  const error = /id="agw\.error"[^>]*>([\s\S]*?)<\/(?:div|p)>/.exec(html)?.[1] ?? html
  return error.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 300)
}

export interface DeviceLoginOptions {
  issuer: string
  clientId: string
  scope: string
  resource: string
  userId: string
  password?: string
  /** Called with the device code before the user signs in (the issuer uses it to pick a TTL). */
  onDeviceCode?: (deviceCode: string) => void
}

/** The device authorization grant from start to finish, with the user's part scripted. */
export async function deviceLogin(opts: DeviceLoginOptions): Promise<TokenSet> {
  const endpoints = await endpointsOf(opts.issuer)
  const authRes = await fetch(endpoints.device_authorization_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({ client_id: opts.clientId, scope: opts.scope, resource: opts.resource }),
  })
  const auth = (await authRes.json().catch(() => ({}))) as Record<string, unknown>
  if (!authRes.ok) throw oauthError('device authorization', authRes.status, auth)
  const deviceCode = String(auth['device_code'])
  const userCode = String(auth['user_code'])
  opts.onDeviceCode?.(deviceCode)

  // The user's side: open the verification page, type the code, confirm, sign in.
  const browser = new ScriptedBrowser()
  const input = await browser.get(String(auth['verification_uri']))
  const confirm = await browser.submit(input, 'op.deviceInputForm', { user_code: userCode })
  const login = await browser.submit(confirm, 'op.deviceConfirmForm')
  const loginFields: Record<string, string> = { user: opts.userId }
  if (opts.password !== undefined) loginFields['password'] = opts.password
  const done = await browser.submit(login, 'agw.login', loginFields)
  if (done.status !== 200 || !done.body.includes('id="agw.signed-in"')) {
    throw new AgwError('unauthenticated', `demo issuer: device sign-in for ${opts.userId} did not complete (HTTP ${done.status}): ${summary(done.body)}`)
  }

  // The device's side: poll the token endpoint (RFC 8628 section 3.4).
  const intervalMs = (typeof auth['interval'] === 'number' ? auth['interval'] : 5) * 1000
  const deadline = Date.now() + 30_000
  for (;;) {
    try {
      return await tokenRequest(endpoints.token_endpoint, {
        grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
        device_code: deviceCode,
        client_id: opts.clientId,
      })
    } catch (err) {
      const pending = err instanceof AgwError && /authorization_pending|slow_down/.test(err.message)
      if (!pending || Date.now() > deadline) throw err
      await new Promise((resolve) => setTimeout(resolve, Math.min(intervalMs, 500)))
    }
  }
}
