/** Builds a gateway from a config file: store, master key, token verifier, engines. */
import { loadConfig } from '../config/load.js'
import type { GatewayConfig } from '../config/schema.js'
import { TokenVerifier, type IssuerConfig } from '../identity/verifier.js'
import { createLogger, type Logger } from '../log.js'
import { EngineRegistry } from '../protocols/engine.js'
import { PostgresEngine } from '../protocols/postgres/engine.js'
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

export function defaultEngines(): EngineRegistry {
  return new EngineRegistry().register(new PostgresEngine())
}

export function createGateway(config: GatewayConfig, opts: { logger?: Logger } = {}): Gateway {
  const logger = opts.logger ?? createLogger(config.log.level)
  ensureMasterKey(config.encryption.keyFile)
  return new Gateway({
    config,
    logger,
    authenticator: new TokenVerifier(issuerConfigs(config)),
    engines: defaultEngines(),
  })
}

export async function startGatewayFromFile(path: string, opts: { logger?: Logger } = {}): Promise<Gateway> {
  const { config } = loadConfig(path)
  const gateway = createGateway(config, opts)
  await gateway.start()
  return gateway
}
