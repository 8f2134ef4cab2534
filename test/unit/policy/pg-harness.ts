/**
 * A PgProxy with the policy interceptor between a fake client channel and a fake target socket:
 * the tests play both the client and the server, message by message, with no I/O.
 */
import { EventEmitter } from 'node:events'
import { parseConfig } from '../../../src/config/load.js'
import type { Principal } from '../../../src/identity/principal.js'
import { silentLogger } from '../../../src/log.js'
import type { ReviewGate } from '../../../src/policy/index.js'
import type { ClientChannel, EngineContext } from '../../../src/protocols/engine.js'
import {
  decodeBackend,
  decodeFrontend,
  encodeBackend,
  encodeFrontend,
  MessageFramer,
  type BackendMessage,
  type FrontendMessage,
} from '../../../src/protocols/postgres/codec/index.js'
import { pgPolicy } from '../../../src/protocols/postgres/policy.js'
import { PgProxy } from '../../../src/protocols/postgres/proxy.js'
import type { TargetSession } from '../../../src/protocols/postgres/target.js'

class FakeSocket extends EventEmitter {
  readonly written: Buffer[] = []
  destroyed = false
  writable = true
  writableEnded = false
  write(b: Buffer): boolean {
    this.written.push(Buffer.from(b))
    return true
  }
  cork(): void {}
  uncork(): void {}
  private paused = false
  pause(): this {
    this.paused = true
    return this
  }
  resume(): this {
    this.paused = false
    return this
  }
  isPaused(): boolean {
    return this.paused
  }
  end(): this {
    this.writableEnded = true
    return this
  }
  destroySoon(): void {
    this.destroyed = true
  }
  destroy(): this {
    this.destroyed = true
    return this
  }
}

class FakeChannel extends EventEmitter {
  readonly written: Buffer[] = []
  closed = false
  write(b: Buffer): boolean {
    this.written.push(Buffer.from(b))
    return true
  }
  control(): void {}
  pause(): void {}
  resume(): void {}
  close(): void {
    this.closed = true
  }
}

export interface Harness {
  /** The client sends these messages (one chunk). */
  send(...msgs: FrontendMessage[]): void
  /** The server sends these messages (one chunk). */
  reply(...msgs: BackendMessage[]): void
  /** What the server has received so far (decoded), and takes it. */
  serverGot(): FrontendMessage[]
  /** What the client has received so far (decoded), and takes it. */
  clientGot(): BackendMessage[]
  events: { type: string; data: Record<string, unknown> }[]
  /** The client goes away. */
  closeClient(): void
  cancel(): void
  settle(): Promise<void>
}

export const PRINCIPAL: Principal = { kind: 'agent', subject: 'ci-agent', groups: ['agents'], issuer: 'https://idp.example.com' }

export function connectionYaml(body: string): string {
  return `identity: { issuers: [{ issuer: https://idp.example.com, audience: agw }] }
connections:
  - name: pg
    type: postgres
    target: { host: 127.0.0.1, port: 5432, database: test, user: postgres }
    allow: [agents]
${body}`
}

export function harness(body: string, gate?: ReviewGate): Harness {
  const config = parseConfig(connectionYaml(body), 'test.yaml', '/tmp')
  const connection = config.connections[0]!
  const socket = new FakeSocket()
  const channel = new FakeChannel()
  const events: { type: string; data: Record<string, unknown> }[] = []
  const ctx: EngineContext = {
    connectionId: 'conn-1',
    sessionId: 'session-1',
    connection,
    principal: PRINCIPAL,
    channel: channel as unknown as ClientChannel,
    log: silentLogger,
    record: (type, data) => events.push({ type, data }),
    shutdown: new AbortController().signal,
  }
  const factory = pgPolicy(config.connections, { gate, maskingKey: Buffer.alloc(32, 1) })
  const interceptor = factory(ctx)!
  const target = { socket, framer: new MessageFramer(), parameters: [['standard_conforming_strings', 'on']] } as unknown as TargetSession
  const proxy = new PgProxy(ctx, target, new MessageFramer(), interceptor)
  void proxy.run([])
  let serverSeen = 0
  let clientSeen = 0
  const decodeAll = <T>(bufs: Buffer[], from: number, decode: (f: { type: number; body: Buffer }) => T): T[] => {
    const framer = new MessageFramer()
    const out: T[] = []
    for (const b of bufs.slice(from)) framer.push(b, (f) => out.push(decode(f)))
    return out
  }
  return {
    send: (...msgs) => channel.emit('data', Buffer.concat(msgs.map((m) => encodeFrontend(m)))),
    reply: (...msgs) => socket.emit('data', Buffer.concat(msgs.map((m) => encodeBackend(m)))),
    serverGot: () => {
      const out = decodeAll(socket.written, serverSeen, decodeFrontend)
      serverSeen = socket.written.length
      return out
    },
    clientGot: () => {
      const out = decodeAll(channel.written, clientSeen, decodeBackend)
      clientSeen = channel.written.length
      return out
    },
    events,
    closeClient: () => channel.emit('close'),
    cancel: () => interceptor.cancel?.(),
    settle: () => new Promise((r) => setImmediate(r)),
  }
}

/** The server's answer to a marker Query / Parse that agw sent in place of a refused message. */
export function syntaxErrorFor(sql: string): BackendMessage {
  return { type: 'ErrorResponse', fields: { S: 'ERROR', V: 'ERROR', C: '42601', M: `syntax error at or near "${sql}"`, P: '1' } }
}
