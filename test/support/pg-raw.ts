/**
 * A raw PostgreSQL protocol client for tests that must send exactly the messages they mean (extended
 * protocol without Sync, Flush, pipelining, long names): startup (trust or SCRAM), then messages in
 * and out, decoded with agw's own codec. Used through the gateway (agw connect's local port) and
 * straight to the server, so a test can compare the two.
 */
import { connect as netConnect, type Socket } from 'node:net'
import { ScramClient } from '../../src/protocols/postgres/auth.js'
import {
  decodeBackend,
  encodeFrontend,
  encodeSASLInitialResponse,
  encodeSASLResponse,
  encodeStartup,
  MessageFramer,
  type BackendMessage,
  type FrontendMessage,
} from '../../src/protocols/postgres/codec/index.js'

export class RawPg {
  private readonly framer = new MessageFramer()
  readonly got: BackendMessage[] = []
  readonly parameters = new Map<string, string>()
  pid = 0
  secret: Buffer = Buffer.alloc(0)
  closed = false
  private constructor(private readonly socket: Socket) {}

  static async open(port: number, user: string, password?: string, database = 'test'): Promise<RawPg> {
    const socket = netConnect(port, '127.0.0.1')
    const raw = new RawPg(socket)
    const scram = password ? new ScramClient(password) : undefined
    let ready = false
    socket.on('close', () => (raw.closed = true))
    socket.on('data', (chunk: Buffer) => {
      raw.framer.push(chunk, (f) => {
        const m = decodeBackend(f)
        if (m.type === 'AuthenticationSASL') socket.write(encodeSASLInitialResponse('SCRAM-SHA-256', Buffer.from(scram!.clientFirstMessage())))
        else if (m.type === 'AuthenticationSASLContinue') socket.write(encodeSASLResponse(Buffer.from(scram!.handleServerFirst(m.data.toString()))))
        else if (m.type === 'AuthenticationSASLFinal') scram!.verifyServerFinal(m.data.toString())
        else if (m.type === 'BackendKeyData') {
          raw.pid = m.pid
          raw.secret = m.secret
        } else if (m.type === 'ParameterStatus') raw.parameters.set(m.name, m.value)
        else if (!m.type.startsWith('Authentication')) {
          if (!ready && m.type === 'ReadyForQuery') ready = true
          else raw.got.push(m)
        }
      })
    })
    await new Promise<void>((resolve, reject) => {
      socket.on('error', reject)
      socket.on('connect', () => socket.write(encodeStartup({ user, database })))
      const poll = setInterval(() => {
        if (ready || raw.closed) {
          clearInterval(poll)
          if (ready) {
            raw.got.length = 0
            resolve()
          } else reject(new Error(`the connection closed during startup: ${JSON.stringify(raw.got)}`))
        }
      }, 5)
    })
    socket.removeAllListeners('error')
    socket.on('error', () => {})
    return raw
  }

  send(...msgs: FrontendMessage[]): void {
    this.socket.write(Buffer.concat(msgs.map((m) => encodeFrontend(m))))
  }

  /** Waits for `n` ReadyForQuery messages (or the end of the connection) and returns (and forgets) everything received. */
  async until(n: number, timeout = 20_000): Promise<BackendMessage[]> {
    await waitFor(() => this.closed || this.got.filter((m) => m.type === 'ReadyForQuery').length >= n, timeout, `${n} ReadyForQuery`)
    return this.got.splice(0)
  }

  /** Waits until a message of `type` has arrived `n` times (for batches with no Sync, answered after a Flush). */
  async untilType(type: BackendMessage['type'], n = 1, timeout = 20_000): Promise<BackendMessage[]> {
    await waitFor(() => this.closed || this.got.filter((m) => m.type === type).length >= n, timeout, `${n} ${type}`)
    return this.got.splice(0)
  }

  /** Writes bytes as they are (a message agw's encoder cannot make, e.g. SQL in a client encoding that is not UTF-8). */
  sendRaw(bytes: Buffer): void {
    this.socket.write(bytes)
  }

  close(): void {
    this.socket.end(Buffer.from([0x58, 0, 0, 0, 4]))
  }

  destroy(): void {
    this.socket.destroy()
  }
}

/** Resolves when `ok()` holds (checked every 2 ms), rejects after `timeout` ms. */
function waitFor(ok: () => boolean, timeout: number, what: string): Promise<void> {
  const until = Date.now() + timeout
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (ok()) resolve()
      else if (Date.now() > until) reject(new Error(`timed out after ${timeout} ms waiting for ${what}`))
      else setTimeout(check, 2)
    }
    check()
  })
}

/** Parse + Bind + Execute of one statement on the unnamed statement and portal (no Sync). */
export function pbe(sql: string, name = '', portal = ''): FrontendMessage[] {
  return [
    { type: 'Parse', name, sql, paramTypes: [] },
    { type: 'Bind', portal, statement: name, paramFormats: [], params: [], resultFormats: [] },
    { type: 'Execute', portal, maxRows: 0 },
  ]
}

/** A Query message whose SQL is BYTES exactly (no UTF-8 encoding). */
export function rawQuery(bytes: Buffer): Buffer {
  const head = Buffer.alloc(5)
  head.write('Q', 0)
  head.writeInt32BE(bytes.length + 5, 1)
  return Buffer.concat([head, bytes, Buffer.from([0])])
}

export const errorsOf = (ms: BackendMessage[]): Record<string, string>[] => ms.filter((m) => m.type === 'ErrorResponse').map((m) => (m as { fields: Record<string, string> }).fields)
export const rowsOf = (ms: BackendMessage[]): (string | null)[][] =>
  ms.filter((m) => m.type === 'DataRow').map((m) => (m as { values: (Buffer | null)[] }).values.map((v) => (v === null ? null : v.toString())))
