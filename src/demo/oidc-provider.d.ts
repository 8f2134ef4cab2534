/**
 * The part of oidc-provider 9's API that src/demo/issuer.ts uses. The package ships no types
 * (and @types/oidc-provider lags behind major versions), so this declares only what we call.
 * See https://github.com/panva/node-oidc-provider/blob/main/docs/README.md.
 */
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http'

  export interface InteractionPrompt {
    name: string
    reasons: string[]
    details: {
      missingOIDCScope?: string[]
      missingOIDCClaims?: string[]
      missingResourceScopes?: Record<string, string[]>
      [key: string]: unknown
    }
  }

  export interface Interaction {
    uid: string
    prompt: InteractionPrompt
    params: Record<string, unknown>
    session?: { accountId?: string }
    grantId?: string
    returnTo: string
  }

  export interface InteractionResults {
    login?: { accountId: string; remember?: boolean }
    consent?: { grantId?: string }
    error?: string
    error_description?: string
  }

  export class Grant {
    constructor(properties: { accountId: string; clientId: string })
    static find(id: string): Promise<Grant | undefined>
    addOIDCScope(scope: string): void
    addOIDCClaims(claims: string[]): void
    addResourceScope(resource: string, scope: string): void
    save(): Promise<string>
  }

  /** Provider configuration: see the documentation for the full shape. */
  export type Configuration = Record<string, unknown>

  export default class Provider {
    constructor(issuer: string, configuration?: Configuration)
    readonly issuer: string
    /** Koa's "trust X-Forwarded-* headers" switch. */
    proxy: boolean
    readonly Grant: typeof Grant
    callback(): (req: IncomingMessage, res: ServerResponse) => Promise<void>
    on(event: string, listener: (...args: unknown[]) => void): this
    interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<Interaction>
    interactionFinished(
      req: IncomingMessage,
      res: ServerResponse,
      result: InteractionResults,
      options?: { mergeWithLastSubmission?: boolean },
    ): Promise<void>
  }
}
