import { Command, Flags } from '@oclif/core'
import { resolveClient } from '../src/client/profile-client.js'
import type { ConnectionInfo } from '../src/gateway/gateway.js'

export default class Connections extends Command {
  static override summary = 'List the connections you may use, with their type and what policy applies.'
  static override enableJsonFlag = true

  static override flags = {
    gateway: Flags.string({ summary: 'gateway URL', env: 'AGW_GATEWAY' }),
    profile: Flags.string({ summary: 'login profile (default: "default")', env: 'AGW_PROFILE' }),
  }

  async run(): Promise<{ connections: ConnectionInfo[] }> {
    const { flags } = await this.parse(Connections)
    const client = resolveClient(flags)
    const connections = await client.connections()
    if (connections.length === 0) this.log('no connections are open to you on this gateway')
    else {
      const rows = connections.map((c) => [
        c.name,
        c.type,
        c.database ?? '',
        [c.rules ? `${c.rules} rule${c.rules === 1 ? '' : 's'}` : 'no rules', c.reviews ? 'reviews' : '', c.masking ? 'masking' : ''].filter(Boolean).join(', '),
      ])
      const head = ['NAME', 'TYPE', 'DATABASE', 'POLICY']
      const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)))
      for (const r of [head, ...rows]) this.log(r.map((v, i) => v.padEnd(widths[i] as number)).join('  ').trimEnd())
    }
    return { connections }
  }
}
