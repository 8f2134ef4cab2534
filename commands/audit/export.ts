import { Command, Flags } from '@oclif/core'
import { EXPORT_FORMATS, exportFromConfig, parseSince } from '../../src/audit/formats/export.js'

export default class AuditExport extends Command {
  static override summary = 'Write the audit events since a time to stdout, for a SIEM: OCSF, JSON lines or CEF.'
  static override description = `Reads the store named in the gateway config (on the gateway host; the gateway may be running), decrypted with the master key from encryption.keyFile, and writes one event per line in store order. The formats are those of the audit sinks (docs/audit-sinks.md); the config's secret references are not needed.

--since takes a time (2024-05-01, 2024-05-01T12:00:00Z) or a duration back from now (30m, 24h, 7d).`

  static override examples = [
    '<%= config.bin %> audit export --format ocsf --since 24h > agw-ocsf.jsonl',
    '<%= config.bin %> audit export --config /etc/agw/agw.yaml --format cef --since 2024-05-01',
  ]

  static override flags = {
    format: Flags.string({ summary: 'output format', options: [...EXPORT_FORMATS], default: 'jsonl' }),
    since: Flags.string({ summary: 'first event time: ISO 8601 time or a duration back from now (24h)', required: true }),
    config: Flags.string({ char: 'f', summary: 'gateway config file (YAML)', default: 'agw.yaml', env: 'AGW_CONFIG' }),
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(AuditExport)
    const since = parseSince(flags.since)
    // A reader that goes away early (`| head`) ends the export quietly.
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(0)
    })
    const count = await exportFromConfig(flags.config, { format: flags.format as (typeof EXPORT_FORMATS)[number], since }, process.stdout)
    this.logToStderr(`exported ${count.toLocaleString('en')} event${count === 1 ? '' : 's'} since ${since}`)
  }
}
