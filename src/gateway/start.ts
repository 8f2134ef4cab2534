/** Builds a gateway from a config file: store, master key, token verifier, engines. */
import { hkdfSync } from 'node:crypto'
import type { SinkSetOptions } from '../audit/sinks/index.js'
import { loadConfig } from '../config/load.js'
import { parseDuration, type GatewayConfig } from '../config/schema.js'
import { TokenVerifier, type IssuerConfig } from '../identity/verifier.js'
import { createLogger, type Logger } from '../log.js'
import { EngineRegistry } from '../protocols/engine.js'
import { PostgresEngine } from '../protocols/postgres/engine.js'
import type { PgPolicyOptions } from '../protocols/postgres/policy.js'
import { ReviewService } from '../reviews/service.js'
import { Gateway } from './gateway.js'
import { ensureMasterKey } from './keys.js'

export function issuerConfigs(config: GatewayConfig): IssuerConfig[] {
  return config.identity.issuers.map((i) => {
    const c: IssuerConfig = { issuer: i.issuer, audience: i.audience, groupsClaim: i.groupsClaim }
    if (i.subjectClaim) c.subjectClaim = i.subjectClaim
    if (i.emailClaim) c.emailClaim = i.emailClaim
    if (i.claims) c.claims = i.claims
    if (i.algorithms) c.algorithms = i.algorithms
    if (i.requireTyp) c.requireTyp = i.requireTyp
    return c
  })
}

/**
 * The engines of a gateway. With a config, PostgreSQL connections get guardrails and masking
 * (rules compiled now: a bad one stops the start); `maskingKey` keys the `hash` masking style.
 */
export function defaultEngines(config?: GatewayConfig, policy: PgPolicyOptions = {}): EngineRegistry {
  const pg = config ? new PostgresEngine({ policy: { ...policy, connections: config.connections } }) : new PostgresEngine()
  return new EngineRegistry().register(pg)
}

export function createGateway(config: GatewayConfig, opts: { logger?: Logger; sinks?: SinkSetOptions } = {}): Gateway {
  const logger = opts.logger ?? createLogger(config.log.level)
  const masterKey = ensureMasterKey(config.encryption.keyFile)
  // The `hash` masking style's key: derived, so masks are stable per gateway and reveal nothing of the master key.
  const maskingKey = Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), 'agw masking hash v1', 32))
  // Reviews: the engines hold statements through it; the gateway binds it to its store and sessions.
  const reviews = new ReviewService()
  return new Gateway({
    config,
    logger,
    authenticator: new TokenVerifier(issuerConfigs(config), { clockToleranceSec: Math.floor(parseDuration(config.identity.clockTolerance) / 1000) }),
    engines: defaultEngines(config, { gate: reviews, maskingKey }),
    reviews,
    ...(opts.sinks ? { sinks: opts.sinks } : {}),
  })
}

export async function startGatewayFromFile(path: string, opts: { logger?: Logger } = {}): Promise<Gateway> {
  const { config } = loadConfig(path)
  const gateway = createGateway(config, opts)
  await gateway.start()
  return gateway
}
