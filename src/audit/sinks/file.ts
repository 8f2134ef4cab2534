/**
 * File sink: JSON lines (docs/events.md), appended, with size-based rotation (PATH -> PATH.1 ->
 * PATH.2 ..., the oldest beyond `keep` removed). A batch counts as delivered once it is written and
 * fdatasync'ed. A write that fails half way is cut back to the last whole line before the retry, so
 * the file never holds a broken line. Files are created with mode 0600.
 */
import { mkdir, open, rename, rm, stat, type FileHandle } from 'node:fs/promises'
import { dirname } from 'node:path'
import { describeError } from '../../errors.js'
import type { AuditEvent } from '../../recording/events.js'
import { toJsonLine } from '../formats/jsonl.js'
import type { Sink } from './sink.js'
import { SinkError } from './sink.js'

export interface FileSinkOptions {
  name: string
  path: string
  /** Rotate when the file would grow past this many bytes (default 100 MiB). */
  maxBytes?: number
  /** Rotated files kept (default 10). 0 keeps none: the file starts over. */
  keep?: number
}

export const DEFAULT_FILE_MAX_BYTES = 100 * 1024 * 1024
export const DEFAULT_FILE_KEEP = 10

export class FileSink implements Sink {
  readonly name: string
  readonly maxBatch = 500
  private readonly path: string
  private readonly maxBytes: number
  private readonly keep: number
  private fh: FileHandle | undefined
  private size = 0

  constructor(opts: FileSinkOptions) {
    this.name = opts.name
    this.path = opts.path
    this.maxBytes = opts.maxBytes ?? DEFAULT_FILE_MAX_BYTES
    this.keep = opts.keep ?? DEFAULT_FILE_KEEP
  }

  async deliver(events: readonly AuditEvent[]): Promise<void> {
    const buf = Buffer.from(events.map((e) => `${toJsonLine(e)}\n`).join(''), 'utf8')
    try {
      let target = await this.open()
      if (this.size > 0 && this.size + buf.length > this.maxBytes) target = await this.rotate()
      const before = this.size
      try {
        let off = 0
        while (off < buf.length) {
          const { bytesWritten } = await target.write(buf, off, buf.length - off, null)
          off += bytesWritten
        }
        await target.datasync()
        this.size += buf.length
      } catch (err) {
        // Cut back to the last whole line so the retry does not follow a broken one.
        await target.truncate(before).catch(() => undefined)
        throw err
      }
    } catch (err) {
      await this.closeFile()
      throw new SinkError(`cannot write ${this.path}: ${describeError(err)}`, { cause: err })
    }
  }

  private async open(): Promise<FileHandle> {
    if (this.fh) return this.fh
    await mkdir(dirname(this.path), { recursive: true })
    const fh = await open(this.path, 'a', 0o600)
    this.size = (await fh.stat()).size
    this.fh = fh
    return fh
  }

  private async rotate(): Promise<FileHandle> {
    await this.closeFile()
    if (this.keep === 0) {
      await rm(this.path, { force: true })
    } else {
      await rm(`${this.path}.${this.keep}`, { force: true })
      for (let i = this.keep - 1; i >= 1; i--) {
        const from = `${this.path}.${i}`
        if (await exists(from)) await rename(from, `${this.path}.${i + 1}`)
      }
      await rename(this.path, `${this.path}.1`)
    }
    return this.open()
  }

  private async closeFile(): Promise<void> {
    const fh = this.fh
    this.fh = undefined
    this.size = 0
    await fh?.close().catch(() => undefined)
  }

  async close(): Promise<void> {
    await this.closeFile()
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch {
    return false
  }
}
