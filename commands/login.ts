import { Command, Flags } from '@oclif/core'
import { login } from '../src/client/login/device.js'
import { profileName } from '../src/client/profiles.js'

export default class Login extends Command {
  static override summary = 'Log in to a gateway with your identity provider (device flow); tokens go to the OS keychain.'
  static override description = `Reads the identity provider from the gateway (GET /v1/info), prints a URL and a code to approve in any browser (a QR code too, on a terminal), waits for the approval, and stores the tokens in the OS keychain (an encrypted file where there is none). Later commands refresh them silently. The gateway URL is remembered for the profile, so AGW_GATEWAY is not needed afterwards.

For CI and agents that are not people, skip login: set AGW_TOKEN, or AGW_CLIENT_ID and AGW_CLIENT_SECRET.`

  static override examples = [
    '<%= config.bin %> login --gateway https://agw.example.com',
    '<%= config.bin %> login --profile staging --gateway https://agw.staging.example.com',
  ]

  static override flags = {
    gateway: Flags.string({ summary: 'gateway URL (default: the one remembered for the profile)', env: 'AGW_GATEWAY' }),
    profile: Flags.string({ summary: 'profile to log in (default: "default")', env: 'AGW_PROFILE' }),
    qr: Flags.boolean({ summary: 'show a QR code of the sign-in URL (on a terminal)', default: true, allowNo: true }),
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(Login)
    const cancel = new AbortController()
    const onSigint = () => cancel.abort(new Error('cancelled'))
    process.once('SIGINT', onSigint)
    try {
      const result = await login({ gateway: flags.gateway, profile: profileName(flags.profile), qr: flags.qr, out: process.stdout, signal: cancel.signal })
      const p = result.principal
      const who = p.email && p.email !== p.subject ? `${p.subject} (${p.email})` : p.subject
      this.log(`Logged in to ${result.gateway} as ${who}, groups: ${p.groups.length > 0 ? p.groups.join(', ') : '(none)'}.`)
      this.log(`Tokens are in the ${result.storeDescription}${result.refreshable ? '; agw refreshes them as needed' : ''}. Profile: ${result.profile}.`)
    } catch (err) {
      if (!cancel.signal.aborted) throw err
      process.stderr.write('agw: login cancelled; nothing was stored\n')
      this.exit(130) // as a shell reports Ctrl-C
    } finally {
      process.off('SIGINT', onSigint)
    }
  }
}
