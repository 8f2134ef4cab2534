/**
 * The store's writer thread: appends event batches (encrypt, chain, index, insert) off the gateway's
 * event loop, so the data path never waits on SQLite or on crypto. It owns the append side of the
 * store: the chain head, checkpoints and retention. The gateway's thread keeps its own connection for
 * reads and for sessions and reviews (WAL lets both work at once).
 */
import { parentPort, workerData } from 'node:worker_threads'
import type { AuditEvent } from '../recording/events.js'
import { SqliteStore } from './sqlite.js'

export interface WriterThreadData {
  path: string
  masterKey: Uint8Array
  checkpointEvents?: number
  checkpointIntervalMs?: number
  retentionDays?: number
  retentionSinks?: string[]
}

export type WriterRequest = { t: 'append'; id: number; events: AuditEvent[] } | { t: 'close' }

export type WriterReply =
  | { t: 'ready' }
  | { t: 'appended'; id: number; seqs: number[] }
  | { t: 'failed'; id: number; message: string }
  | { t: 'log'; level: 'info' | 'error'; msg: string; fields: Record<string, unknown> }
  | { t: 'closed' }
  | { t: 'fatal'; message: string }

const port = parentPort
if (!port) throw new Error('writer-thread runs as a worker thread')
const data = workerData as WriterThreadData
const send = (m: WriterReply) => port.postMessage(m)

let store: SqliteStore
try {
  const opts: ConstructorParameters<typeof SqliteStore>[1] = {
    masterKey: Buffer.from(data.masterKey),
    onCheckpoint: (c) => send({ t: 'log', level: 'info', msg: 'audit checkpoint', fields: { seq: c.seq, hash: c.hash.toString('hex'), kind: c.kind, key: c.keyId } }),
    onPrune: (r) => {
      if (r.events > 0) send({ t: 'log', level: 'info', msg: 'retention: pruned old sessions', fields: { throughSeq: r.throughSeq, events: r.events, sessions: r.sessions } })
    },
  }
  if (data.checkpointEvents !== undefined) opts.checkpointEvents = data.checkpointEvents
  if (data.checkpointIntervalMs !== undefined) opts.checkpointIntervalMs = data.checkpointIntervalMs
  if (data.retentionDays !== undefined) opts.retentionDays = data.retentionDays
  if (data.retentionSinks !== undefined) opts.retentionSinks = data.retentionSinks
  store = new SqliteStore(data.path, opts)
  send({ t: 'ready' })
} catch (err) {
  send({ t: 'fatal', message: (err as Error).message })
  throw err
}

port.on('message', (req: WriterRequest) => {
  if (req.t === 'append') {
    store.appendEvents(req.events).then(
      () => send({ t: 'appended', id: req.id, seqs: req.events.map((e) => e.seq as number) }),
      (err: unknown) => send({ t: 'failed', id: req.id, message: (err as Error).message }),
    )
  } else if (req.t === 'close') {
    store.close().then(
      () => {
        send({ t: 'closed' })
        port.close()
      },
      (err: unknown) => {
        send({ t: 'log', level: 'error', msg: 'closing the store failed', fields: { err: (err as Error).message } })
        send({ t: 'closed' })
        port.close()
      },
    )
  }
})
