/**
 * RFC 5424 syslog messages and RFC 6587 octet counting. The regular expression follows the ABNF of
 * RFC 5424 section 6 (HEADER SP STRUCTURED-DATA [SP MSG]).
 */
import { describe, expect, it } from 'vitest'
import { formatRfc5424, octetFrame, sdEscape, SD_ID, severityOf } from '../../../../src/audit/formats/rfc5424.js'
import { event, SAMPLES } from './fixtures.js'

const SYSLOG = /^<(\d{1,3})>1 (\S+) ([\x21-\x7e]{1,255}) ([\x21-\x7e]{1,48}) ([\x21-\x7e]{1,128}) ([\x21-\x7e]{1,32}) (\[.*?[^\\]\]) (.*)$/s

function parse(msg: string) {
  const m = SYSLOG.exec(msg)
  expect(m, msg.slice(0, 200)).not.toBeNull()
  const [, pri, time, host, app, procId, msgId, sd, body] = m as unknown as string[]
  return { pri: Number(pri), time, host, app, procId, msgId, sd: sd as string, body: body as string }
}

/** SD-PARAMs of the one SD-ELEMENT, unescaped. */
function params(sd: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const m of sd.matchAll(/ ([^= \]"]+)="((?:[^"\\]|\\.)*)"/g)) out[m[1] as string] = (m[2] as string).replace(/\\(["\\\]])/g, '$1')
  return out
}

describe('formatRfc5424', () => {
  it('writes header, structured data and the event as JSON', () => {
    const e = SAMPLES.query
    const p = parse(formatRfc5424(e, { hostname: 'gw-1', procId: '42' }))
    expect(p).toMatchObject({ pri: 10 * 8 + 6, time: e.time, host: 'gw-1', app: 'agw', procId: '42', msgId: 'query' })
    expect(p.sd.startsWith(`[${SD_ID} `)).toBe(true)
    expect(params(p.sd)).toEqual({
      id: e.id,
      seq: String(e.seq),
      type: 'query',
      session: e.sessionId,
      connection: 'pg-prod',
      connectionId: e.connectionId,
      subject: 'alice',
      kind: 'human',
    })
    expect(JSON.parse(p.body)).toEqual(JSON.parse(JSON.stringify(e)))
  })

  it('severity: warning for a failed login, notice for refusals, informational otherwise', () => {
    expect(severityOf(SAMPLES['auth.failed'])).toBe(4)
    expect(severityOf(SAMPLES['query.denied'])).toBe(5)
    expect(severityOf(SAMPLES['review.expired'])).toBe(5)
    expect(severityOf(SAMPLES['session.start'])).toBe(6)
    expect(parse(formatRfc5424(SAMPLES['auth.failed'], { hostname: 'h', facility: 4 })).pri).toBe(4 * 8 + 4)
  })

  it('escapes " \\ and ] in parameter values', () => {
    expect(sdEscape('a"b\\c]d')).toBe('a\\"b\\\\c\\]d')
    const e = event('query', { sql: 'x' }, { actor: { kind: 'human', subject: 'we]ird "name" \\', issuer: 'i' } })
    expect(params(parse(formatRfc5424(e, { hostname: 'h' })).sd).subject).toBe('we]ird "name" \\')
  })

  it('MSG is ASCII-only JSON that parses back to the same event; SD keeps UTF-8', () => {
    const e = event('query', { sql: "SELECT 'zoë ✓ 😀'" }, { actor: { kind: 'human', subject: 'zoë', issuer: 'i' } })
    const msg = formatRfc5424(e, { hostname: 'h' })
    const p = parse(msg)
    expect(/^[\x20-\x7e]*$/.test(p.body)).toBe(true)
    expect(JSON.parse(p.body).data.sql).toBe("SELECT 'zoë ✓ 😀'")
    expect(params(p.sd).subject).toBe('zoë')
  })

  it('a header field with spaces or control characters stays one token; an empty one is -', () => {
    const p = parse(formatRfc5424(SAMPLES.query, { hostname: 'my host\n', appName: '' }))
    expect(p.host).toBe('my_host_')
    expect(p.app).toBe('-')
  })

  it('a message over maxBytes drops result rows and long strings but keeps the event identity', () => {
    const rows = Array.from({ length: 500 }, (_, i) => [String(i), 'x'.repeat(100)])
    const e = event('query.result', { queryId: 9, tag: 'SELECT 500', rowCount: 500, rows })
    const full = formatRfc5424(e, { hostname: 'h' })
    expect(Buffer.byteLength(full)).toBeGreaterThan(50_000)
    const msg = formatRfc5424(e, { hostname: 'h', maxBytes: 2048 })
    expect(Buffer.byteLength(msg)).toBeLessThanOrEqual(2048)
    const body = JSON.parse(parse(msg).body)
    expect(body).toMatchObject({ id: e.id, seq: e.seq, type: 'query.result', data: { truncated: true, queryId: 9, tag: 'SELECT 500', rowCount: 500 } })
    expect(body.data.rows).toBeUndefined()
  })

  it('a message whose scalar fields alone are too long keeps only the marker', () => {
    const e = event('query', { sql: 'y'.repeat(900), other: 'z'.repeat(900) })
    const body = JSON.parse(parse(formatRfc5424(e, { hostname: 'h', maxBytes: 1200 })).body)
    expect(body.data).toEqual({ truncated: true })
    expect(body.id).toBe(e.id)
  })
})

describe('octetFrame (RFC 6587 octet counting)', () => {
  it('prefixes the length in bytes, not characters', () => {
    const frame = octetFrame('<14>1 - - - - - - zoë')
    const text = frame.toString('utf8')
    const [len, ...rest] = text.split(' ')
    expect(Number(len)).toBe(Buffer.byteLength(rest.join(' ')))
    expect(Number(len)).toBe('<14>1 - - - - - - zoë'.length + 1)
  })
})
