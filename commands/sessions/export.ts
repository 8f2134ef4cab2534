import { Args, Command, Flags } from '@oclif/core'
import { writeFileSync } from 'node:fs'
import { resolveClient } from '../../src/client/profile-client.js'
import { exportSession } from '../../src/client/replay.js'

export default class SessionsExport extends Command {
  static override summary = 'Export a session: its terminal as asciicast v2 (for asciinema), or every event as JSON lines.'
  static override examples = [
    '<%= config.bin %> sessions export 0192f3a0-... --format asciicast > session.cast && asciinema play session.cast',
    '<%= config.bin %> sessions export 0192f3a0-... --format jsonl --output session.jsonl',
  ]

  static override args = { id: Args.string({ description: 'session id (from `agw sessions list`)', required: true }) }

  static override flags = {
    format: Flags.string({ summary: 'asciicast (terminal, asciicast v2) or jsonl (every event)', options: ['asciicast', 'jsonl'], required: true }),
    output: Flags.string({ char: 'o', summary: 'write to this file (mode 0600) instead of stdout' }),
    gateway: Flags.string({ summary: 'gateway URL', env: 'AGW_GATEWAY' }),
    profile: Flags.string({ summary: 'login profile (default: "default")', env: 'AGW_PROFILE' }),
  }

  async run(): Promise<void> {
    const { args, flags } = await this.parse(SessionsExport)
    const text = await exportSession(resolveClient(flags), args.id, flags.format as 'asciicast' | 'jsonl')
    if (flags.output) writeFileSync(flags.output, text, { mode: 0o600 })
    else process.stdout.write(text)
  }
}
