/**
 * The gateway's audit sinks: one runner per configured sink, all reading from the store (the
 * outbox) after their own cursor. The gateway starts them after the store is open and stops them
 * before it closes the store; the event log only wakes them (`subscribe`), so a slow or dead sink
 * never slows the data path. docs/audit-sinks.md and ADR 0020 explain the guarantees.
 */
import type { SinkConfig } from '../../config/schema.js'
import { AgwError } from '../../errors.js'
import type { Logger } from '../../log.js'
import { silentLogger } from '../../log.js'
import type { AuditEvent } from '../../recording/events.js'
import { FileSink } from './file.js'
import { SinkRunner, type RetryPolicy, type SinkStatus } from './runner.js'
import type { Sink, SinkStore } from './sink.js'
import { StdoutSink } from './stdout.js'
import { SyslogSink } from './syslog.js'
import { redactUrl, WebhookSink } from './webhook.js'

export type { Sink, SinkStore } from './sink.js'
export { SinkError } from './sink.js'
export type { SinkStatus, RetryPolicy } from './runner.js'

export interface SinkSetOptions {
  retry?: Partial<RetryPolicy>
  /** Webhook request and syslog connect/write timeout (default 10 s). */
  timeoutMs?: number
  /** How long stop() keeps delivering to healthy sinks before it gives up (default 2 s). */
  drainMs?: number
  /** Backstop re-check of an idle runner (default 1 s). */
  idleCheckMs?: number
  /** Delay between an emitted event and the runners' look at the store (default 10 ms). */
  wakeDelayMs?: number
  random?: () => number
}

/**
 * The cursor name of a sink: its `name` when the config gives one, else derived from where it
 * delivers (so a changed destination starts with a fresh cursor). Never contains a secret.
 */
export function sinkName(c: SinkConfig): string {
  if (c.name) return c.name
  switch (c.type) {
    case 'file':
      return `file:${c.path}`
    case 'stdout':
      return 'stdout'
    case 'syslog':
      return `syslog:${c.address}`
    case 'webhook':
      return `webhook:${c.format}:${redactUrl(c.url)}`
  }
}

export function createSink(c: SinkConfig, name: string, opts: SinkSetOptions = {}): Sink {
  switch (c.type) {
    case 'file': {
      const o: ConstructorParameters<typeof FileSink>[0] = { name, path: c.path }
      if (c.maxBytes !== undefined) o.maxBytes = c.maxBytes
      if (c.keep !== undefined) o.keep = c.keep
      return new FileSink(o)
    }
    case 'stdout':
      return new StdoutSink(name)
    case 'syslog': {
      const o: ConstructorParameters<typeof SyslogSink>[0] = { name, address: c.address }
      if (c.tls) {
        const tls: NonNullable<typeof o.tls> = {}
        if (c.tls.ca) tls.ca = c.tls.ca
        if (c.tls.cert) tls.cert = c.tls.cert
        if (c.tls.key) tls.key = c.tls.key
        if (c.tls.servername) tls.servername = c.tls.servername
        o.tls = tls
      }
      if (c.maxMessageBytes !== undefined) o.maxMessageBytes = c.maxMessageBytes
      if (opts.timeoutMs !== undefined) o.timeoutMs = opts.timeoutMs
      return new SyslogSink(o)
    }
    case 'webhook': {
      const o: ConstructorParameters<typeof WebhookSink>[0] = { name, url: c.url, format: c.format }
      if (c.token !== undefined) o.token = c.token
      if (opts.timeoutMs !== undefined) o.timeoutMs = opts.timeoutMs
      return new WebhookSink(o)
    }
  }
}

/** Builds the sinks of a config; a config error names the sink (`audit.sinks[2]`) and exits 65. */
export function createSinks(configs: readonly SinkConfig[], opts: SinkSetOptions = {}): Sink[] {
  const seen = new Map<string, number>()
  return configs.map((c, i) => {
    const name = sinkName(c)
    const prev = seen.get(name)
    if (prev !== undefined) {
      throw new AgwError('bad_input', `audit.sinks[${i}] delivers to the same place as audit.sinks[${prev}] ("${name}"); remove one, or give each a distinct \`name\``)
    }
    seen.set(name, i)
    try {
      return createSink(c, name, opts)
    } catch (err) {
      if (err instanceof AgwError) throw new AgwError(err.code, `audit.sinks[${i}]: ${err.message}`)
      throw err
    }
  })
}

/** What SinkSet needs from the event log: a way to hear that events were emitted. */
export interface EventSource {
  subscribe(listener: (e: AuditEvent) => void): () => void
}

export class SinkSet {
  private readonly runners: SinkRunner[]
  private unsubscribe: (() => void) | undefined
  private wakeTimer: NodeJS.Timeout | undefined
  private readonly opts: SinkSetOptions

  constructor(
    sinks: readonly Sink[],
    store: SinkStore,
    private readonly log: Logger = silentLogger,
    opts: SinkSetOptions = {},
  ) {
    this.opts = opts
    this.runners = sinks.map((sink) => {
      const ro: ConstructorParameters<typeof SinkRunner>[2] = { log }
      if (opts.retry) ro.retry = opts.retry
      if (opts.idleCheckMs !== undefined) ro.idleCheckMs = opts.idleCheckMs
      if (opts.random) ro.random = opts.random
      return new SinkRunner(sink, store, ro)
    })
  }

  static fromConfig(configs: readonly SinkConfig[], store: SinkStore, log?: Logger, opts: SinkSetOptions = {}): SinkSet {
    return new SinkSet(createSinks(configs, opts), store, log, opts)
  }

  get size(): number {
    return this.runners.length
  }

  /** Reads every sink's cursor and starts delivering; `events` wakes the runners when something is emitted. */
  async start(events?: EventSource): Promise<void> {
    if (this.runners.length === 0) return
    for (const r of this.runners) await r.start()
    if (events) this.unsubscribe = events.subscribe(() => this.notify())
    this.log.info({ sinks: this.runners.map((r) => r.sink.name) }, 'audit sinks started')
  }

  /**
   * Something was emitted. The event log writes it to the store on its next tick; the runners look
   * shortly after (`wakeDelayMs`), coalescing a burst into one read. Cheap and synchronous: this
   * runs inside `EventLog.emit`.
   */
  notify(): void {
    if (this.wakeTimer) return
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = undefined
      for (const r of this.runners) r.wake()
    }, this.opts.wakeDelayMs ?? 10)
    this.wakeTimer.unref()
  }

  /** Stops every runner: healthy sinks get `drainMs` to deliver what is left; the rest waits in the store. */
  async stop(): Promise<void> {
    this.unsubscribe?.()
    this.unsubscribe = undefined
    if (this.wakeTimer) clearTimeout(this.wakeTimer)
    this.wakeTimer = undefined
    for (const r of this.runners) r.wake()
    await Promise.all(this.runners.map((r) => r.stop(this.opts.drainMs ?? 2000)))
  }

  status(): SinkStatus[] {
    return this.runners.map((r) => r.status())
  }
}
