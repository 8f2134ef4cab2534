/**
 * The gateway's store with its event appends on a writer thread (writer-thread.ts). Everything
 * else (reads, sessions, reviews) runs on the caller's connection, unchanged: the returned object
 * is the SqliteStore itself, with `appendEvents` and `close` routed through the thread. A thread
 * that dies is replaced on the next append; the EventLog retries the batch, so nothing is lost.
 */
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { Logger } from '../log.js'
import type { AuditEvent } from '../recording/events.js'
import type { SqliteStore } from './sqlite.js'
import type { WriterReply, WriterRequest, WriterThreadData } from './writer-thread.js'

interface Pending {
  events: AuditEvent[]
  resolve: () => void
  reject: (err: Error) => void
}

/**
 * The writer keeps little state (keys, a token cache): a small young generation keeps its memory
 * down under a steady stream of batches. A thread that runs out is replaced (see above).
 */
const WRITER_LIMITS = { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 256 }

/** Starts the writer thread (from the compiled .js, or through tsx when running from sources). */
function startWorker(data: WriterThreadData): Worker {
  const here = import.meta.url
  if (here.endsWith('.ts')) {
    const target = new URL('./writer-thread.ts', here).href
    const code = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(target)}) })`
    return new Worker(code, { eval: true, workerData: data, resourceLimits: WRITER_LIMITS })
  }
  return new Worker(fileURLToPath(new URL('./writer-thread.js', here)), { workerData: data, resourceLimits: WRITER_LIMITS })
}

class WriterThread {
  private worker: Worker | undefined
  private ready: Promise<void> | undefined
  private readonly pending = new Map<number, Pending>()
  private nextId = 1
  private onClosed: (() => void) | undefined

  constructor(
    private readonly data: WriterThreadData,
    private readonly log: Logger,
  ) {}

  private start(): Promise<void> {
    const worker = startWorker(this.data)
    this.worker = worker
    this.ready = new Promise<void>((resolve, reject) => {
      worker.on('message', (m: WriterReply) => {
        if (m.t === 'ready') resolve()
        else if (m.t === 'fatal') reject(new Error(m.message))
        else this.onMessage(m)
      })
      worker.on('error', (err) => {
        this.log.error({ err }, 'the store writer thread failed')
        reject(err)
        this.lost(worker, err)
      })
      worker.on('exit', (code) => {
        const err = new Error(`the store writer thread exited (${code})`)
        reject(err)
        this.lost(worker, err)
      })
    })
    return this.ready
  }

  private lost(worker: Worker, err: Error): void {
    if (this.worker !== worker) return
    this.worker = undefined
    this.ready = undefined
    for (const p of this.pending.values()) p.reject(err)
    this.pending.clear()
    this.onClosed?.()
  }

  private onMessage(m: WriterReply): void {
    switch (m.t) {
      case 'appended': {
        const p = this.pending.get(m.id)
        if (!p) return
        this.pending.delete(m.id)
        m.seqs.forEach((seq, i) => {
          const e = p.events[i]
          if (e) e.seq = seq
        })
        p.resolve()
        return
      }
      case 'failed': {
        const p = this.pending.get(m.id)
        if (!p) return
        this.pending.delete(m.id)
        p.reject(new Error(m.message))
        return
      }
      case 'log':
        if (m.level === 'error') this.log.error(m.fields, m.msg)
        else this.log.info(m.fields, m.msg)
        return
      case 'closed':
        this.onClosed?.()
        return
      default:
        return
    }
  }

  async append(events: AuditEvent[]): Promise<void> {
    if (events.length === 0) return
    await (this.ready ?? this.start())
    const worker = this.worker
    if (!worker) throw new Error('the store writer thread is not running')
    const id = this.nextId++
    await new Promise<void>((resolve, reject) => {
      this.pending.set(id, { events, resolve, reject })
      worker.postMessage({ t: 'append', id, events } satisfies WriterRequest)
    })
  }

  /** Lets the thread finish its work and write its closing checkpoint. */
  async close(): Promise<void> {
    const worker = this.worker
    if (!worker) return
    await this.ready?.catch(() => undefined)
    await new Promise<void>((resolve) => {
      this.onClosed = resolve
      worker.postMessage({ t: 'close' } satisfies WriterRequest)
    })
    this.worker = undefined
    await worker.terminate()
  }
}

/**
 * `store` should be opened passive (no checkpoint timer, no closing checkpoint): the writer thread
 * owns checkpoints and retention.
 */
export function withWriterThread(store: SqliteStore, data: WriterThreadData, log: Logger): SqliteStore {
  const thread = new WriterThread(data, log)
  const appendEvents = (events: AuditEvent[]) => thread.append(events)
  const close = async () => {
    await thread.close()
    await store.close()
  }
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'appendEvents') return appendEvents
      if (prop === 'close') return close
      const v = Reflect.get(target, prop, receiver) as unknown
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    },
  })
}
