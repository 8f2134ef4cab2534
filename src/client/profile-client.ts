/**
 * One function the commands call to reach the gateway: which profile, which gateway URL, which
 * token. The gateway is --gateway / AGW_GATEWAY, else the one `agw login --gateway URL` remembered
 * for the profile (--profile / AGW_PROFILE, default "default").
 */
import { AgwError } from '../errors.js'
import { checkGatewayUrl, GatewayClient } from './gateway-client.js'
import { ProfileStore, profileName } from './profiles.js'
import { chooseTokenProvider } from './tokens.js'

export interface ClientFlags {
  gateway?: string | undefined
  profile?: string | undefined
}

/** The gateway URL for a profile: the flag/env value, else the profile's remembered one. */
export function resolveGateway(flags: ClientFlags, profiles: ProfileStore, profile: string, env: NodeJS.ProcessEnv = process.env): URL {
  const raw = flags.gateway ?? env.AGW_GATEWAY ?? profiles.get(profile)?.gateway
  if (!raw) {
    throw new AgwError(
      'bad_input',
      `no gateway: run \`agw login --gateway URL${profile === 'default' ? '' : ` --profile ${profile}`}\` once, or set AGW_GATEWAY (for example https://agw.example.com), or pass --gateway`,
    )
  }
  return checkGatewayUrl(raw)
}

/** The GatewayClient for a command, with its token provider chosen (AGW_TOKEN, client credentials, stored login). */
export function resolveClient(flags: ClientFlags, env: NodeJS.ProcessEnv = process.env): GatewayClient {
  const profile = profileName(flags.profile, env)
  const profiles = ProfileStore.fromEnvironment(env)
  const gateway = resolveGateway(flags, profiles, profile, env)
  return new GatewayClient(gateway.href, chooseTokenProvider({ env, gateway, profile, profiles }))
}
