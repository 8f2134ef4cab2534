/**
 * Which server response belongs to which client message. Every message the proxy forwards that
 * the server answers (Parse, Bind, Describe, Execute, Close, Sync, Query, FunctionCall) is queued
 * here; each server message is attributed to the head of the queue, and the head completes at its
 * last response. The rules are the server's (PostgreSQL documentation, "Message Flow: Extended
 * Query"; postgres.c: `ignore_till_sync`):
 *
 *   Parse -> ParseComplete | Error          Bind -> BindComplete | Error
 *   Close -> CloseComplete | Error          Describe -> [ParameterDescription] RowDescription|NoData | Error
 *   Execute -> (DataRow | Copy...)* then CommandComplete | EmptyQueryResponse | PortalSuspended | Error
 *   Sync, Query, FunctionCall -> ... ReadyForQuery (an Error inside does not end them)
 *
 * An Error in an extended-protocol message makes the server skip every message until the next
 * Sync (Query and FunctionCall included): those are completed here as `skipped`. NoticeResponse,
 * ParameterStatus and NotificationResponse may come at any time and belong to no message.
 *
 * A response that cannot belong to the head means agw lost track: that throws, and the proxy ends
 * the connection (fail closed) rather than attribute results or errors to the wrong statement.
 */
import { AgwError } from '../../errors.js'
import { BackendType as B } from './codec/index.js'

export type EntryKind = 'parse' | 'bind' | 'describe' | 'execute' | 'close' | 'sync' | 'query' | 'function'
export type EntryStatus = 'ok' | 'failed' | 'skipped'

export interface Entry<T> {
  kind: EntryKind
  data: T
  /** An Error arrived inside a Query / Sync / FunctionCall (it still ends at ReadyForQuery). */
  failed: boolean
}

const EXTENDED = new Set<EntryKind>(['parse', 'bind', 'describe', 'execute', 'close'])
const ENDS_AT_READY = new Set<EntryKind>(['sync', 'query', 'function'])

export class ResponseTracker<T> {
  private readonly queue: Entry<T>[] = []
  /** The server is skipping messages until a Sync that has not been queued yet. */
  private skipping = false

  constructor(private readonly onDone: (entry: Entry<T>, status: EntryStatus) => void) {}

  get pending(): number {
    return this.queue.length
  }

  /** The message at the head of the queue (what the server is answering now). */
  get head(): Entry<T> | undefined {
    return this.queue[0]
  }

  /** Whether extended messages since the last Sync are waiting (an open batch). */
  get openBatch(): boolean {
    const last = this.queue[this.queue.length - 1]
    return this.skipping || (last !== undefined && !ENDS_AT_READY.has(last.kind))
  }

  /** A forwarded message the server will answer. Returns its entry (already completed as skipped when the server is skipping). */
  add(kind: EntryKind, data: T): Entry<T> {
    const e: Entry<T> = { kind, data, failed: false }
    if (this.skipping && kind !== 'sync') {
      this.onDone(e, 'skipped')
      return e
    }
    if (kind === 'sync') this.skipping = false
    this.queue.push(e)
    return e
  }

  /**
   * Attributes one server message (by type byte). Returns the entry it belongs to, or undefined
   * for asynchronous messages. Completed entries are reported through onDone first.
   */
  backend(type: number): Entry<T> | undefined {
    if (type === B.NoticeResponse || type === B.ParameterStatus || type === B.NotificationResponse) return undefined
    const head = this.queue[0]
    if (type === B.ErrorResponse) {
      if (!head) return undefined // FATAL at idle (timeouts, shutdown): the connection ends
      if (!EXTENDED.has(head.kind)) {
        head.failed = true
        return head
      }
      this.queue.shift()
      this.onDone(head, 'failed')
      while (this.queue.length > 0 && (this.queue[0] as Entry<T>).kind !== 'sync') this.onDone(this.queue.shift() as Entry<T>, 'skipped')
      if (this.queue.length === 0) this.skipping = true
      return head
    }
    if (!head) throw lost(type, 'no message is waiting for an answer')
    const k = head.kind
    switch (type) {
      case B.ReadyForQuery:
        if (!ENDS_AT_READY.has(k)) throw lost(type, `the ${k} message has not been answered`)
        return this.complete(head, head.failed ? 'failed' : 'ok')
      case B.ParseComplete:
        return this.expect(head, 'parse', type)
      case B.BindComplete:
        return this.expect(head, 'bind', type)
      case B.CloseComplete:
        return this.expect(head, 'close', type)
      case B.NoData:
        return this.expect(head, 'describe', type)
      case B.ParameterDescription:
        if (k !== 'describe') throw lost(type, `expected an answer to ${k}`)
        return head
      case B.RowDescription:
        if (k === 'describe') return this.complete(head, 'ok')
        if (k === 'query') return head
        throw lost(type, `expected an answer to ${k}`)
      case B.CommandComplete:
      case B.EmptyQueryResponse:
        if (k === 'execute') return this.complete(head, 'ok')
        if (k === 'query') return head
        throw lost(type, `expected an answer to ${k}`)
      case B.PortalSuspended:
        return this.expect(head, 'execute', type)
      case B.DataRow:
      case B.CopyOutResponse:
      case B.CopyInResponse:
      case B.CopyBothResponse:
      case B.CopyData:
      case B.CopyDone:
        if (k === 'execute' || k === 'query') return head
        throw lost(type, `expected an answer to ${k}`)
      case B.FunctionCallResponse:
        if (k === 'function') return head
        throw lost(type, `expected an answer to ${k}`)
      default:
        return undefined
    }
  }

  private expect(head: Entry<T>, kind: EntryKind, type: number): Entry<T> {
    if (head.kind !== kind) throw lost(type, `expected an answer to ${head.kind}`)
    return this.complete(head, 'ok')
  }

  private complete(head: Entry<T>, status: EntryStatus): Entry<T> {
    this.queue.shift()
    this.onDone(head, status)
    return head
  }

  /** The connection ended: everything still waiting was not run. */
  drain(): void {
    while (this.queue.length > 0) this.onDone(this.queue.shift() as Entry<T>, 'skipped')
  }
}

function lost(type: number, why: string): AgwError {
  return new AgwError('protocol', `agw lost track of the server's answers (message '${String.fromCharCode(type)}': ${why})`)
}
