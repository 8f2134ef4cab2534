/**
 * CEF (ArcSight Common Event Format, revision 25): header fields separated by unescaped pipes,
 * where '\' and '|' are escaped; extension `key=value` pairs separated by spaces, where '\' and '='
 * are escaped and line breaks are written \n / \r. The parser below reads lines as a CEF consumer
 * does, so the test checks that every value survives the trip.
 */
import { describe, expect, it } from 'vitest'
import { cefExtensionEscape, cefHeaderEscape, toCef } from '../../../../src/audit/formats/cef.js'
import { EVENT_TYPES } from '../../../../src/recording/events.js'
import { event, SAMPLES } from './fixtures.js'

function parseCef(line: string): { header: string[]; ext: Record<string, string> } {
  expect(line.startsWith('CEF:0|')).toBe(true)
  const header: string[] = []
  let cur = ''
  let i = 0
  for (; i < line.length && header.length < 7; i++) {
    const c = line[i]
    if (c === '\\' && (line[i + 1] === '|' || line[i + 1] === '\\')) cur += line[++i]
    else if (c === '|') {
      header.push(cur)
      cur = ''
    } else cur += c
  }
  const rest = line.slice(i)
  // Keys are [A-Za-z0-9]+ followed by an unescaped '='; a value runs to the next such key.
  const ext: Record<string, string> = {}
  const keyAt = /(?:^| )([A-Za-z0-9]+)=/g
  const starts: { key: string; at: number; valueAt: number }[] = []
  for (let m = keyAt.exec(rest); m; m = keyAt.exec(rest)) {
    const eq = m.index + m[0].length - 1
    if (rest[eq - 1] === '\\') continue
    starts.push({ key: m[1] as string, at: m.index, valueAt: eq + 1 })
  }
  starts.forEach((s, j) => {
    const raw = rest.slice(s.valueAt, j + 1 < starts.length ? starts[j + 1]!.at : rest.length)
    ext[s.key] = raw.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c))
  })
  return { header, ext }
}

describe('CEF escaping', () => {
  it('header: backslash and pipe are escaped, a line break becomes a space', () => {
    expect(cefHeaderEscape('a|b\\c')).toBe('a\\|b\\\\c')
    expect(cefHeaderEscape('two\nlines')).toBe('two lines')
    expect(cefHeaderEscape('x=y')).toBe('x=y')
  })

  it('extension: backslash and equals are escaped, line breaks are \\n and \\r, pipes stay', () => {
    expect(cefExtensionEscape('a=b')).toBe('a\\=b')
    expect(cefExtensionEscape('c:\\dir')).toBe('c:\\\\dir')
    expect(cefExtensionEscape('one\ntwo\r\nthree\rfour')).toBe('one\\ntwo\\r\\nthree\\rfour')
    expect(cefExtensionEscape('a|b')).toBe('a|b')
  })
})

describe('toCef', () => {
  it('has the seven header fields and the event id, time, user and session in the extension', () => {
    const e = SAMPLES.query
    const { header, ext } = parseCef(toCef(e, 'gw-1'))
    expect(header).toEqual(['CEF:0', 'agw', 'agw', expect.any(String), 'query', 'Query', '3'])
    expect(ext).toMatchObject({
      rt: String(Date.parse(e.time)),
      externalId: e.id,
      dvchost: 'gw-1',
      suser: 'alice@example.com',
      suid: 'alice',
      cs1Label: 'sessionId',
      cs1: e.sessionId,
      cs2Label: 'connection',
      cs2: 'pg-prod',
      cs4Label: 'sql',
      cs4: 'SELECT id, email FROM users WHERE id = 1',
      cn1Label: 'seq',
      cn1: String(e.seq),
    })
  })

  it('values with = \\ | and line breaks survive the round trip', () => {
    const sql = "SELECT 'a=b' | x FROM t -- c:\\temp\nWHERE y = 'z'\r\n"
    const { ext } = parseCef(toCef(event('query', { queryId: 1, sql })))
    expect(ext.cs4).toBe(sql)
  })

  it('a denial says what was refused and why', () => {
    const { header, ext } = parseCef(toCef(SAMPLES['query.denied']))
    expect(header[4]).toBe('query.denied')
    expect(Number(header[6])).toBeGreaterThanOrEqual(6)
    expect(ext).toMatchObject({ act: 'denied', outcome: 'failure', reason: 'schema changes go through migrations', cs4: 'DROP TABLE users' })
  })

  it('the client address becomes src; a failed login has no user', () => {
    const { ext } = parseCef(toCef(SAMPLES['auth.failed']))
    expect(ext.src).toBe('10.9.9.9')
    expect(ext.suser).toBeUndefined()
  })

  it('every event type gives one line with a severity between 0 and 10', () => {
    for (const t of EVENT_TYPES) {
      const line = toCef(SAMPLES[t])
      expect(line).not.toMatch(/[\r\n]/)
      const sev = Number(parseCef(line).header[6])
      expect(sev).toBeGreaterThanOrEqual(0)
      expect(sev).toBeLessThanOrEqual(10)
    }
  })

  it('long custom strings are cut to 4000 characters', () => {
    const { ext } = parseCef(toCef(event('query', { queryId: 1, sql: `SELECT '${'x'.repeat(10_000)}'` })))
    expect(ext.cs4!.length).toBe(4000)
  })
})
