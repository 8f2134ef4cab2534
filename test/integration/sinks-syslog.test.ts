/**
 * The syslog sink against a real rsyslog (Debian's rsyslogd, run as our own process with a
 * generated config on free loopback ports, writing what it receives to a file in a temp dir):
 * RFC 5424 with structured data over TCP (octet counting), UDP and TLS, and the fault the issue
 * names: stop the receiver, produce 1,000 events, start it again, and every event arrives at least
 * once, in order per session.
 *
 * Needs the Debian packages rsyslog (and rsyslog-gnutls for the TLS test); without rsyslogd the
 * file is skipped with that reason.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest'
import type { SinkSetOptions } from '../../src/audit/sinks/index.js'
import { parseConfig } from '../../src/config/load.js'
import type { Gateway } from '../../src/gateway/gateway.js'
import { createGateway } from '../../src/gateway/start.js'
import { uuidv7 } from '../../src/ids.js'
import { silentLogger } from '../../src/log.js'

const execFileP = promisify(execFile)

const RSYSLOGD = ['/usr/sbin/rsyslogd', '/sbin/rsyslogd'].find((p) => existsSync(p))
const GTLS = ['/usr/lib/x86_64-linux-gnu/rsyslog', '/usr/lib/aarch64-linux-gnu/rsyslog', '/usr/lib/rsyslog'].some((d) => existsSync(join(d, 'lmnsd_gtls.so')))

const SINKS: SinkSetOptions = { retry: { initialMs: 50, maxMs: 500 }, timeoutMs: 3000, drainMs: 500, wakeDelayMs: 5 }

async function freePort(): Promise<number> {
  const srv = createServer()
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  const port = (srv.address() as { port: number }).port
  await new Promise<void>((r) => srv.close(() => r()))
  return port
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1')
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}

interface Received {
  msgId: string
  sd: Record<string, string>
  body: { id: string; seq: number; type: string; sessionId?: string; data: Record<string, unknown> }
}

/** rsyslogd as a child process, writing "MSGID SD MSG" per message to out.log. */
class Rsyslog {
  private child: ChildProcess | undefined
  readonly out: string

  constructor(
    readonly dir: string,
    readonly input: { tcp?: number; udp?: number; tls?: { port: number; ca: string; cert: string; key: string } },
  ) {
    this.out = join(dir, 'out.log')
    const lines: string[] = []
    if (input.tls) {
      lines.push(
        `global(workDirectory="${dir}" maxMessageSize="64k" defaultNetstreamDriver="gtls" defaultNetstreamDriverCAFile="${input.tls.ca}" defaultNetstreamDriverCertFile="${input.tls.cert}" defaultNetstreamDriverKeyFile="${input.tls.key}")`,
        'module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")',
        `input(type="imtcp" port="${input.tls.port}" address="127.0.0.1")`,
      )
    } else {
      lines.push(`global(workDirectory="${dir}" maxMessageSize="64k")`)
      if (input.tcp) lines.push('module(load="imtcp")', `input(type="imtcp" port="${input.tcp}" address="127.0.0.1")`)
      if (input.udp) lines.push('module(load="imudp")', `input(type="imudp" port="${input.udp}" address="127.0.0.1")`)
    }
    lines.push('template(name="agw" type="string" string="%msgid% %structured-data% %msg%\\n")', `*.* action(type="omfile" file="${this.out}" template="agw")`)
    writeFileSync(join(dir, 'rsyslog.conf'), `${lines.join('\n')}\n`)
  }

  async start(): Promise<void> {
    this.child = spawn(RSYSLOGD as string, ['-n', '-f', join(this.dir, 'rsyslog.conf'), '-i', join(this.dir, 'rsyslogd.pid')], { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    this.child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()))
    const port = this.input.tls?.port ?? this.input.tcp
    if (port) await expect.poll(() => canConnect(port), { timeout: 10_000, message: `rsyslogd did not listen: ${stderr}` }).toBe(true)
    else await expect.poll(() => existsSync(join(this.dir, 'rsyslogd.pid')), { timeout: 10_000 }).toBe(true)
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child
    this.child = undefined
    if (!child || child.exitCode !== null) return
    const exited = new Promise((r) => child.once('exit', r))
    child.kill(signal)
    await exited
  }

  received(): Received[] {
    if (!existsSync(this.out)) return []
    return readFileSync(this.out, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const m = /^(\S+) (\[.*?[^\\]\]) (.*)$/.exec(line)
        if (!m) throw new Error(`unexpected line from rsyslog: ${line.slice(0, 200)}`)
        const sd: Record<string, string> = {}
        for (const p of (m[2] as string).matchAll(/ ([^= \]"]+)="((?:[^"\\]|\\.)*)"/g)) sd[p[1] as string] = (p[2] as string).replace(/\\(["\\\]])/g, '$1')
        return { msgId: m[1] as string, sd, body: JSON.parse(m[3] as string) as Received['body'] }
      })
  }
}

const dirs: string[] = []
const daemons: Rsyslog[] = []
const gateways: Gateway[] = []

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'agw-syslog-'))
  dirs.push(d)
  return d
}

async function startGateway(dir: string, sinkYaml: string): Promise<Gateway> {
  const config = parseConfig(
    `listen: 127.0.0.1:0
storage: sqlite:./agw.db
encryption: { keyFile: ./agw.key }
identity:
  issuers: [{ issuer: ${inject('issuerUrl')}, audience: agw }]
audit:
  sinks:
    - ${sinkYaml}
`,
    'test.yaml',
    dir,
  )
  const gw = createGateway(config, { logger: silentLogger, sinks: SINKS })
  gateways.push(gw)
  await gw.start()
  return gw
}

/** `count` events spread round-robin over `sessions` sessions, each numbered in its session. */
function produce(gw: Gateway, count: number, sessions: string[], from = 0): string[] {
  const ids: string[] = []
  for (let i = from; i < from + count; i++) {
    const sessionId = sessions[i % sessions.length] as string
    ids.push(gw.events.emit({ type: 'query', sessionId, connection: 'pg', data: { queryId: i, n: Math.floor(i / sessions.length), sql: `select ${i}` } }).id)
  }
  return ids
}

/** Per session, the order in which events first arrived must be the order they were produced. */
function expectInOrderPerSession(received: Received[], sessions: string[]): void {
  for (const s of sessions) {
    const seen = new Set<string>()
    const firsts: number[] = []
    for (const r of received) {
      if (r.body.sessionId !== s || seen.has(r.body.id)) continue
      seen.add(r.body.id)
      firsts.push(r.body.data.n as number)
    }
    expect(firsts, `order in session ${s}`).toEqual(Array.from({ length: firsts.length }, (_, i) => i))
  }
}

afterEach(async () => {
  for (const g of gateways.splice(0)) await g.stop()
  for (const d of daemons.splice(0)) await d.stop('SIGKILL')
})
afterAll(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

/**
 * A syslog receiver in this process, for the one fault rsyslog cannot be made to show on demand:
 * dying with unread data in its socket buffer (the bytes were "written" for the sender, then lost).
 */
class FrameReceiver {
  readonly ids: string[] = []
  readonly sockets = new Set<Socket>()
  private readonly server = createServer((sock) => {
    this.sockets.add(sock)
    sock.on('close', () => this.sockets.delete(sock))
    sock.on('error', () => undefined)
    let buf = Buffer.alloc(0)
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d])
      for (;;) {
        const sp = buf.indexOf(0x20)
        if (sp < 0) break
        const len = Number(buf.subarray(0, sp).toString('ascii'))
        if (buf.length < sp + 1 + len) break
        const msg = buf.subarray(sp + 1, sp + 1 + len).toString('utf8')
        buf = buf.subarray(sp + 1 + len)
        const id = / id="([^"]+)"/.exec(msg)?.[1]
        if (id) this.ids.push(id)
      }
    })
  })

  async listen(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r))
    return (this.server.address() as { port: number }).port
  }

  /** Stops reading: what the sender writes now piles up in the socket buffers. */
  stall(): void {
    for (const s of this.sockets) s.pause()
  }

  /** Dies like a crashed process: RST, unread data discarded. */
  crash(): void {
    for (const s of this.sockets) s.resetAndDestroy()
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy()
    await new Promise<void>((r) => this.server.close(() => r()))
  }
}

describe('syslog sink, TCP, receiver crash with unread data (a receiver in this process)', () => {
  it('events the sink had written into the dead connection are sent again on the next one', async () => {
    const rx = new FrameReceiver()
    const port = await rx.listen()
    const gw = await startGateway(tempDir(), `{ type: syslog, address: "tcp://127.0.0.1:${port}" }`)
    try {
      const session = uuidv7()
      const first = produce(gw, 5, [session])
      await expect.poll(() => first.every((id) => rx.ids.includes(id)), { timeout: 10_000 }).toBe(true)
      rx.stall()
      const stuck = produce(gw, 50, [session], 5)
      await gw.events.flush()
      const last = (await gw.store.listEvents({ afterSeq: 0, limit: 100_000 })).at(-1)?.seq
      // Written and flushed to the kernel: the sink counted them as delivered...
      await expect.poll(() => gw.sinks.status()[0]?.cursor, { timeout: 10_000 }).toBe(last)
      expect(stuck.some((id) => rx.ids.includes(id))).toBe(false)
      // ...and then the receiver dies without ever reading them.
      rx.crash()
      const after = produce(gw, 1, [session], 55)
      const all = [...first, ...stuck, ...after]
      await expect.poll(() => all.filter((id) => !rx.ids.includes(id)).length, { timeout: 15_000 }).toBe(0)
    } finally {
      await rx.close()
    }
  })
})

describe.skipIf(!RSYSLOGD)('syslog sink -> rsyslogd (skipped: rsyslogd is not installed; apt-get install rsyslog)', () => {
  it('TCP: RFC 5424 messages with structured data arrive and parse', async () => {
    const dir = tempDir()
    const rs = new Rsyslog(dir, { tcp: await freePort() })
    daemons.push(rs)
    await rs.start()
    const gw = await startGateway(dir, `{ type: syslog, address: "tcp://127.0.0.1:${rs.input.tcp}" }`)
    const session = uuidv7()
    const e = gw.events.emit({ type: 'query.denied', sessionId: session, connection: 'pg', actor: { kind: 'human', subject: 'zoë "z"', issuer: 'https://idp' }, data: { sql: 'DROP TABLE t', message: 'no DDL' } })
    await expect.poll(() => rs.received().length, { timeout: 15_000 }).toBe(1)
    const [r] = rs.received()
    expect(r?.msgId).toBe('query.denied')
    expect(r?.sd).toMatchObject({ id: e.id, type: 'query.denied', session, connection: 'pg', subject: 'zoë "z"', kind: 'human' })
    expect(Number(r?.sd.seq)).toBeGreaterThan(0)
    expect(r?.body).toMatchObject({ id: e.id, type: 'query.denied', data: { sql: 'DROP TABLE t', message: 'no DDL' } })
  })

  it('TCP: stop the receiver, produce 1,000 events, start it again: all arrive at least once, in order per session', async () => {
    const dir = tempDir()
    const rs = new Rsyslog(dir, { tcp: await freePort() })
    daemons.push(rs)
    await rs.start()
    const gw = await startGateway(dir, `{ type: syslog, address: "tcp://127.0.0.1:${rs.input.tcp}" }`)
    const sessions = [uuidv7(), uuidv7(), uuidv7(), uuidv7()]
    const warmup = produce(gw, 1, [uuidv7()])
    await expect.poll(() => rs.received().some((r) => r.body.id === warmup[0]), { timeout: 15_000 }).toBe(true)

    await rs.stop()
    const ids = produce(gw, 1000, sessions)
    await gw.events.flush()
    // The sink tried while the receiver was down, and failed.
    await expect.poll(() => gw.sinks.status()[0]?.failures ?? 0, { timeout: 15_000 }).toBeGreaterThan(0)
    expect(rs.received().filter((r) => ids.includes(r.body.id))).toHaveLength(0)

    await rs.start()
    await expect
      .poll(
        () => {
          const got = new Set(rs.received().map((r) => r.body.id))
          return ids.filter((id) => !got.has(id)).length
        },
        { timeout: 30_000, interval: 200 },
      )
      .toBe(0)
    const received = rs.received()
    expectInOrderPerSession(received, sessions)
    for (const r of received.filter((x) => ids.includes(x.body.id))) expect(r.sd.id).toBe(r.body.id)
  })

  it('TCP: a receiver killed mid-stream (SIGKILL): what it had not written is sent again after the restart', async () => {
    const dir = tempDir()
    const rs = new Rsyslog(dir, { tcp: await freePort() })
    daemons.push(rs)
    await rs.start()
    const gw = await startGateway(dir, `{ type: syslog, address: "tcp://127.0.0.1:${rs.input.tcp}" }`)
    const sessions = [uuidv7(), uuidv7()]
    // Events keep coming while the receiver dies: some are in its socket buffer or its queue.
    const ids: string[] = []
    const producing = new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        ids.push(...produce(gw, 20, sessions, ids.length))
        if (ids.length >= 2000) {
          clearInterval(timer)
          resolve()
        }
      }, 2)
    })
    await expect.poll(() => rs.received().length, { timeout: 15_000, interval: 5 }).toBeGreaterThan(100)
    await rs.stop('SIGKILL')
    await producing
    await rs.start()
    await expect
      .poll(
        () => {
          const got = new Set(rs.received().map((r) => r.body.id))
          return ids.filter((id) => !got.has(id)).length
        },
        { timeout: 30_000, interval: 200 },
      )
      .toBe(0)
    expectInOrderPerSession(rs.received(), sessions)
  })

  it('UDP: messages arrive as datagrams with the same format', async () => {
    const dir = tempDir()
    const rs = new Rsyslog(dir, { udp: await freePort() })
    daemons.push(rs)
    await rs.start()
    const gw = await startGateway(dir, `{ type: syslog, address: "udp://127.0.0.1:${rs.input.udp}" }`)
    const ids = produce(gw, 20, [uuidv7()])
    await expect.poll(() => rs.received().length, { timeout: 15_000 }).toBe(20)
    expect(rs.received().map((r) => r.body.id)).toEqual(ids)
    expect(rs.received().every((r) => r.msgId === 'query' && r.sd.id === r.body.id)).toBe(true)
  })

  it('a message larger than maxMessageBytes arrives trimmed but whole (valid JSON, same id)', async () => {
    const dir = tempDir()
    const rs = new Rsyslog(dir, { tcp: await freePort() })
    daemons.push(rs)
    await rs.start()
    const gw = await startGateway(dir, `{ type: syslog, address: "tcp://127.0.0.1:${rs.input.tcp}", maxMessageBytes: 2048 }`)
    const rows = Array.from({ length: 200 }, (_, i) => [String(i), 'x'.repeat(80)])
    const e = gw.events.emit({ type: 'query.result', sessionId: uuidv7(), data: { queryId: 1, tag: 'SELECT 200', rowCount: 200, rows } })
    await expect.poll(() => rs.received().length, { timeout: 15_000 }).toBe(1)
    expect(rs.received()[0]?.body).toMatchObject({ id: e.id, data: { truncated: true, tag: 'SELECT 200', rowCount: 200 } })
  })

  describe.skipIf(!GTLS)('over TLS (skipped: rsyslog-gnutls is not installed)', () => {
    async function pki(dir: string): Promise<{ ca: string; cert: string; key: string; otherCa: string }> {
      const p = (f: string) => join(dir, f)
      const ossl = (...args: string[]) => execFileP('openssl', args, { cwd: dir })
      await ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('ca.key'), '-out', p('ca.pem'), '-days', '2', '-subj', '/CN=agw test CA')
      await ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('other.key'), '-out', p('other.pem'), '-days', '2', '-subj', '/CN=someone else')
      await ossl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('server.key'), '-out', p('server.csr'), '-subj', '/CN=localhost')
      writeFileSync(p('ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n')
      await ossl('x509', '-req', '-in', p('server.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out', p('server.pem'), '-days', '2', '-extfile', p('ext.cnf'))
      return { ca: p('ca.pem'), cert: p('server.pem'), key: p('server.key'), otherCa: p('other.pem') }
    }

    it('delivers to a receiver whose certificate the configured CA signed', async () => {
      const dir = tempDir()
      const certs = await pki(dir)
      const rs = new Rsyslog(dir, { tls: { port: await freePort(), ca: certs.ca, cert: certs.cert, key: certs.key } })
      daemons.push(rs)
      await rs.start()
      const gw = await startGateway(dir, `{ type: syslog, address: "tls://127.0.0.1:${rs.input.tls!.port}", tls: { ca: ./ca.pem } }`)
      const ids = produce(gw, 10, [uuidv7()])
      await expect.poll(() => rs.received().map((r) => r.body.id), { timeout: 15_000 }).toEqual(ids)
    })

    it('refuses a receiver it cannot verify: nothing is sent, the events wait', async () => {
      const dir = tempDir()
      const certs = await pki(dir)
      const rs = new Rsyslog(dir, { tls: { port: await freePort(), ca: certs.ca, cert: certs.cert, key: certs.key } })
      daemons.push(rs)
      await rs.start()
      const gw = await startGateway(dir, `{ type: syslog, address: "tls://127.0.0.1:${rs.input.tls!.port}", tls: { ca: ./other.pem } }`)
      produce(gw, 3, [uuidv7()])
      await expect.poll(() => gw.sinks.status()[0]?.failures ?? 0, { timeout: 15_000 }).toBeGreaterThan(0)
      expect(gw.sinks.status()[0]).toMatchObject({ cursor: 0, lastError: expect.stringMatching(/certificate/i) })
      expect(rs.received()).toHaveLength(0)
    })
  })
})
