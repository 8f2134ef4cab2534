/**
 * The embedded issuer's own pages: a minimal login form and automatic consent behind
 * oidc-provider's interaction API, plus plain versions of the provider's device-flow and error
 * pages (the defaults load web fonts and print "you SHOULD change this" notices).
 *
 * Forms are ordinary HTML with stable ids (`agw.login`, `op.deviceInputForm`,
 * `op.deviceConfirmForm`) so the demo driver (issuer-browser.ts) and a person in a browser go
 * through the same steps.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type Provider from 'oidc-provider'
import type { Interaction } from 'oidc-provider'

export interface LoginUser {
  id: string
  password?: string
}

/** The part of a Koa context the page renderers touch. */
export interface PageContext {
  body: unknown
  type: string
  status?: number
}

export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

export function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)} - agw demo issuer</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:28em;margin:3em auto;padding:0 1em}
input,button{font-size:1em;padding:.4em;margin:.2em 0;width:100%;box-sizing:border-box}.error{color:#b00020}</style>
</head><body><h1>${escapeHtml(title)}</h1>
${body}
</body></html>`
}

/** oidc-provider `features.deviceFlow.*Source` and `renderError` replacements. */
export const providerPages = {
  async userCodeInputSource(ctx: PageContext, form: string, _out: unknown, err: unknown): Promise<void> {
    const msg = err ? '<p class="error">That code is not valid. Try again.</p>' : '<p>Enter the code shown on your device.</p>'
    ctx.type = 'html'
    ctx.body = page('Device sign-in', `${msg}\n${form}\n<button type="submit" form="op.deviceInputForm">Continue</button>`)
  },
  async userCodeConfirmSource(ctx: PageContext, form: string, client: { clientId: string }, _info: unknown, userCode: string): Promise<void> {
    ctx.type = 'html'
    ctx.body = page(
      'Confirm device',
      `<p><strong>${escapeHtml(client.clientId)}</strong> asks to sign in with the code <code>${escapeHtml(userCode)}</code>.</p>
${form}
<button type="submit" form="op.deviceConfirmForm">Continue</button>
<button type="submit" form="op.deviceConfirmForm" name="abort" value="yes">Abort</button>`,
    )
  },
  async successSource(ctx: PageContext): Promise<void> {
    ctx.type = 'html'
    ctx.body = page('Signed in', '<p id="agw.signed-in">Sign-in complete. You can close this page and return to your terminal.</p>')
  },
  async renderError(ctx: PageContext, out: Record<string, unknown>): Promise<void> {
    ctx.type = 'html'
    const rows = Object.entries(out).map(([k, v]) => `<p><strong>${escapeHtml(k)}</strong>: ${escapeHtml(v)}</p>`).join('\n')
    ctx.body = page('Sign-in error', `<div class="error" id="agw.error">${rows}</div>`)
  },
  async logoutSource(ctx: PageContext, form: string): Promise<void> {
    ctx.type = 'html'
    ctx.body = page('Sign out', `${form}\n<button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button>`)
  },
  async postLogoutSuccessSource(ctx: PageContext): Promise<void> {
    ctx.type = 'html'
    ctx.body = page('Signed out', '<p>You are signed out.</p>')
  },
}

function send(res: ServerResponse, status: number, html: string): void {
  res.statusCode = status
  res.setHeader('content-type', 'text/html; charset=utf-8')
  res.setHeader('cache-control', 'no-store')
  res.end(html)
}

function loginForm(uid: string, error?: string, userId = ''): string {
  return page(
    'Sign in',
    `${error ? `<p class="error">${escapeHtml(error)}</p>` : ''}
<form id="agw.login" method="post" action="/interaction/${encodeURIComponent(uid)}/login">
<label>User <input name="user" autocomplete="username" value="${escapeHtml(userId)}" autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button>
</form>
<p><a href="/interaction/${encodeURIComponent(uid)}/abort">Cancel</a></p>`,
  )
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > 64 * 1024) throw new Error('form too large')
    chunks.push(chunk)
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'))
}

/** Grants what the client asked for: the demo has no consent screen. */
async function autoConsent(provider: Provider, interaction: Interaction): Promise<string> {
  const { prompt: { details }, params, session } = interaction
  const accountId = session?.accountId
  if (accountId === undefined) throw new Error('consent without a logged-in account')
  const grant = interaction.grantId
    ? await provider.Grant.find(interaction.grantId)
    : new provider.Grant({ accountId, clientId: String(params['client_id']) })
  if (!grant) throw new Error('grant not found')
  if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(' '))
  if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims)
  for (const [indicator, scopes] of Object.entries(details.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '))
  }
  return grant.save()
}

/**
 * Serves /interaction/:uid (login form or automatic consent), POST /interaction/:uid/login and
 * /interaction/:uid/abort. Returns false when the path is not an interaction route.
 */
export async function handleInteraction(
  provider: Provider,
  users: ReadonlyMap<string, LoginUser>,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<boolean> {
  const url = new URL(req.url ?? '/', 'http://issuer.invalid')
  const match = /^\/interaction\/([^/]+)(?:\/(login|abort))?$/.exec(url.pathname)
  if (!match) return false
  const [, uid = '', action] = match

  let interaction: Interaction
  try {
    interaction = await provider.interactionDetails(req, res)
  } catch {
    send(res, 400, page('Sign-in expired', '<p class="error" id="agw.error">This sign-in request is no longer valid. Start again from your terminal.</p>'))
    return true
  }

  if (action === 'abort') {
    await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'End-User aborted interaction' }, { mergeWithLastSubmission: false })
    return true
  }

  if (action === 'login') {
    if (req.method !== 'POST') {
      send(res, 405, page('Sign in', '<p class="error">Use the sign-in form.</p>'))
      return true
    }
    const form = await readForm(req)
    const userId = form.get('user') ?? ''
    const user = users.get(userId)
    // Demo rule: a user with a password must give it; a user without one signs in by id alone.
    if (!user || (user.password !== undefined && form.get('password') !== user.password)) {
      send(res, 401, loginForm(uid, 'Unknown user or wrong password.', userId))
      return true
    }
    await provider.interactionFinished(req, res, { login: { accountId: user.id } }, { mergeWithLastSubmission: false })
    return true
  }

  if (interaction.prompt.name === 'login') {
    send(res, 200, loginForm(uid))
    return true
  }
  if (interaction.prompt.name === 'consent') {
    const grantId = await autoConsent(provider, interaction)
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true })
    return true
  }
  send(res, 400, page('Sign-in error', `<p class="error" id="agw.error">Unsupported prompt ${escapeHtml(interaction.prompt.name)}.</p>`))
  return true
}
