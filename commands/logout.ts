import { Command, Flags } from '@oclif/core'
import { logout } from '../src/client/login/logout.js'
import { profileName } from '../src/client/profiles.js'

export default class Logout extends Command {
  static override summary = 'Forget the tokens of a profile, and revoke them at the identity provider.'
  static override description = `Revokes the refresh token at the identity provider when it has a revocation endpoint, then deletes the tokens from the keychain or the encrypted file. The gateway URL stays remembered: \`agw login\` logs in again.`

  static override flags = {
    profile: Flags.string({ summary: 'profile to log out (default: "default")', env: 'AGW_PROFILE' }),
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(Logout)
    const result = await logout({ profile: profileName(flags.profile) })
    if (!result.wasLoggedIn) {
      this.log(`profile ${result.profile} was not logged in; nothing to do`)
      return
    }
    const r = result.revocation
    if (result.keychainError !== undefined) {
      process.stderr.write(`agw: the OS keychain could not delete the tokens (${result.keychainError}); remove the "agw" entry for this profile with your keychain tool\n`)
    }
    if (typeof r === 'object') process.stderr.write(`agw: the identity provider could not revoke the refresh token (${r.failed}); it expires on its own\n`)
    const revoked = r === 'revoked' ? ', refresh token revoked at the identity provider' : r === 'no-revocation-endpoint' ? ' (the identity provider has no revocation endpoint)' : ''
    this.log(`Logged out of profile ${result.profile}: tokens deleted${revoked}.`)
  }
}
