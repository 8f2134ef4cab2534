/**
 * Stdout sink: JSON lines on the gateway's standard output (its logs go to stderr), for container
 * platforms that collect stdout. A batch counts as delivered when the stream accepted and flushed
 * the write (its callback ran).
 */
import type { Writable } from 'node:stream'
import type { AuditEvent } from '../../recording/events.js'
import { toJsonLine } from '../formats/jsonl.js'
import type { Sink } from './sink.js'
import { SinkError } from './sink.js'

export class StdoutSink implements Sink {
  readonly maxBatch = 500

  constructor(
    readonly name: string,
    private readonly out: Writable = process.stdout,
  ) {}

  deliver(events: readonly AuditEvent[]): Promise<void> {
    const text = events.map((e) => `${toJsonLine(e)}\n`).join('')
    return new Promise((resolve, reject) => {
      this.out.write(text, (err) => (err ? reject(new SinkError(`cannot write to stdout: ${err.message}`, { cause: err })) : resolve()))
    })
  }

  async close(): Promise<void> {}
}
