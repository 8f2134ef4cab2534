import { Command, Flags } from '@oclif/core'
import { formatWhoami, whoami, type WhoamiResult } from '../src/client/login/whoami.js'
import { resolveClient } from '../src/client/profile-client.js'

export default class Whoami extends Command {
  static override summary = 'Show who the gateway says you are: subject, email, groups, issuer, expiry, and where the token is kept.'
  static override enableJsonFlag = true

  static override flags = {
    gateway: Flags.string({ summary: 'gateway URL (default: the one remembered for the profile)', env: 'AGW_GATEWAY' }),
    profile: Flags.string({ summary: 'login profile (default: "default")', env: 'AGW_PROFILE' }),
  }

  async run(): Promise<WhoamiResult> {
    const { flags } = await this.parse(Whoami)
    const result = await whoami(resolveClient(flags))
    for (const line of formatWhoami(result)) this.log(line)
    return result
  }
}
