/**
 * Shared by the differential harness and the fuzzer (test/integration/pg-policy-differential.test.ts,
 * pg-policy-fuzz.test.ts): a policy gateway reached through `agw connect`'s local port, a review gate
 * that denies every review (so a held write that runs anyway is a visible effect), raw exchanges that
 * never throw on a timeout (a batch with no Sync may be answered by nothing), and what the client
 * could read in the messages it got.
 */
import { execFileSync } from 'node:child_process'
import { runConnect, type ConnectInfo } from '../../src/client/connect.js'
import { GatewayClient } from '../../src/client/gateway-client.js'
import type { TokenProvider } from '../../src/client/tokens.js'
import type { ReviewGate, ReviewOutcome, ReviewRequest } from '../../src/policy/index.js'
import type { BackendMessage, FrontendMessage } from '../../src/protocols/postgres/codec/index.js'
import { startPolicyGateway, type PolicyGateway } from '../unit/policy/fixtures.js'
import type { TestIssuerTokens } from './oidc.js'
import { RawPg } from './pg-raw.js'

/** Direct to the machine's PostgreSQL (trust), for setup and for checking what really happened. */
export function direct(sql: string): string {
  return execFileSync('psql', ['-X', '-q', '-At', '-h', '127.0.0.1', '-U', 'postgres', '-d', 'test', '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8', env: { ...process.env, PGOPTIONS: '-c client_min_messages=warning -c lock_timeout=2s' } }).trim()
}

/** Every review is denied at once: a statement held for review must never run. */
export class DenyAllGate implements ReviewGate {
  requests = 0
  /** DELAYMS: how long a review waits before it is denied (0: at once). */
  constructor(private readonly delayMs = 0) {}
  async request(_req: ReviewRequest, _signal: AbortSignal, onPending: (id: string) => void): Promise<ReviewOutcome> {
    const reviewId = `rev-${++this.requests}`
    onPending(reviewId)
    if (this.delayMs) await sleep(this.delayMs)
    return { outcome: 'denied', reviewId, reason: 'the harness denies every review', decidedBy: 'harness@example.com' }
  }
}

export interface ConnectedGateway {
  gw: PolicyGateway
  info: ConnectInfo
  /** A raw client through agw (connect's local port). */
  open(): Promise<RawPg>
  stop(): Promise<void>
}

/** Starts a policy gateway with one postgres connection `pg` (RULES is its rules/masking YAML, indented 4) and `agw connect` to it. */
export async function startConnected(idp: TestIssuerTokens, rules: string, gate: ReviewGate): Promise<ConnectedGateway> {
  const gw = await startPolicyGateway(
    `
identity:
  issuers: [{ issuer: ${idp.issuer}, audience: agw }]
connections:
  - name: pg
    type: postgres
    target: { host: 127.0.0.1, port: 5432, database: test, user: postgres }
    allow: [agents]
${rules}`,
    gate,
  )
  const client = new GatewayClient(gw.url, new FreshTokenProvider(idp))
  let ready!: (i: ConnectInfo) => void
  const readyP = new Promise<ConnectInfo>((r) => (ready = r))
  let stop!: () => void
  const done = runConnect({ client, connection: 'pg', onReady: ready, say: () => {}, until: new Promise<void>((r) => (stop = r)) })
  const info = await readyP
  return {
    gw,
    info,
    open: () => RawPg.open(info.port, info.user, info.password),
    async stop() {
      stop()
      await done
      await gw.stop()
    },
  }
}

/** The test issuer's agent token, fetched again every five minutes: a long fuzz run outlives one token. */
class FreshTokenProvider implements TokenProvider {
  readonly source = 'test'
  private token?: Promise<string>
  private at = 0
  constructor(private readonly idp: TestIssuerTokens) {}
  getToken(): Promise<string> {
    if (!this.token || Date.now() - this.at > 300_000) {
      this.at = Date.now()
      this.token = this.idp.agentToken()
    }
    return this.token
  }
}

/** A raw client straight to the server, for the differential side. */
export const openDirect = (): Promise<RawPg> => RawPg.open(5432, 'postgres')

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/**
 * Sends MSGS in one write and waits until `rfq` ReadyForQuery messages have arrived, the connection
 * closed, or `timeoutMs` passed (no throw). A COPY FROM STDIN the server starts is failed at once.
 * Returns (and forgets) everything received.
 */
export async function exchange(c: RawPg, msgs: FrontendMessage[], rfq: number, timeoutMs = 5_000): Promise<{ got: BackendMessage[]; timedOut: boolean }> {
  if (msgs.length) c.send(...msgs)
  const deadline = Date.now() + timeoutMs
  let copyIns = 0
  for (;;) {
    const ins = c.got.filter((m) => m.type === 'CopyInResponse').length
    if (ins > copyIns) {
      copyIns = ins
      c.send({ type: 'CopyFail', message: 'the harness sends no COPY data' })
    }
    if (c.closed || c.got.filter((m) => m.type === 'ReadyForQuery').length >= rfq) return { got: c.got.splice(0), timedOut: false }
    if (Date.now() > deadline) return { got: c.got.splice(0), timedOut: true }
    await sleep(1)
  }
}

/** Waits until a message of one of TYPES (or an ErrorResponse) arrives after the first `seen` messages, or `timeoutMs` passes. */
export async function waitFor(c: RawPg, types: BackendMessage['type'][], seen: number, timeoutMs = 2_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (c.got.slice(seen).some((m) => m.type === 'ErrorResponse' || types.includes(m.type))) return true
    if (c.closed || Date.now() > deadline) return false
    await sleep(1)
  }
}

/** Every text the client could read in these messages (rows, COPY data, notices, errors, notifications, descriptions). */
export function visible(ms: BackendMessage[]): string {
  return ms
    .map((m) => {
      if (m.type === 'DataRow') return m.values.map((v) => (v ? v.toString('latin1') : '')).join('|')
      if (m.type === 'CopyData') return m.data.toString('latin1')
      if (m.type === 'ErrorResponse' || m.type === 'NoticeResponse') return Object.values(m.fields).join('|')
      if (m.type === 'NotificationResponse') return `${m.channel}|${m.payload}`
      if (m.type === 'RowDescription') return m.fields.map((f) => f.name).join('|')
      if (m.type === 'CommandComplete') return m.tag
      if (m.type === 'ParameterStatus') return `${m.name}=${m.value}`
      if (m.type === 'FunctionCallResponse') return m.value ? m.value.toString('latin1') : ''
      return ''
    })
    .join('\n')
}

/** An ErrorResponse agw wrote (SQLSTATE 42501, message "agw ..." or "agw: review ..."), not the server. */
export const refusedByAgw = (ms: BackendMessage[]): boolean =>
  ms.some((m) => m.type === 'ErrorResponse' && m.fields.C === '42501' && /^agw[: ]/.test(m.fields.M ?? ''))

/** The shape of a reply, for comparing agw with the server: message types, command tags and SQLSTATEs (values and notices left out). */
export function shape(ms: BackendMessage[]): string[] {
  return ms
    .filter((m) => !['NoticeResponse', 'ParameterStatus', 'NotificationResponse'].includes(m.type))
    .map((m) => (m.type === 'CommandComplete' ? `C:${m.tag}` : m.type === 'ErrorResponse' ? `E:${m.fields.C}` : m.type === 'DataRow' ? 'D' : m.type))
}
