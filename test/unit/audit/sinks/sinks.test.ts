/** Building sinks from the config: cursor names, refused configurations, the stdout sink, the SinkSet wake-up. */
import { PassThrough } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { createSinks, SinkSet, sinkName } from '../../../../src/audit/sinks/index.js'
import { StdoutSink } from '../../../../src/audit/sinks/stdout.js'
import { parseSyslogAddress } from '../../../../src/audit/sinks/syslog.js'
import { checkWebhookUrl, redactUrl } from '../../../../src/audit/sinks/webhook.js'
import type { SinkConfig } from '../../../../src/config/schema.js'
import { AgwError } from '../../../../src/errors.js'
import type { AuditEvent } from '../../../../src/recording/events.js'
import { MemoryOutbox, ScriptedSink } from './fakes.js'

function refusal(fn: () => unknown): AgwError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(AgwError)
    return err as AgwError
  }
  throw new Error('expected a refusal')
}

describe('sink names (the cursor keys)', () => {
  it('derive from the destination and never carry credentials or query strings', () => {
    expect(sinkName({ type: 'file', path: '/var/log/agw/audit.jsonl' })).toBe('file:/var/log/agw/audit.jsonl')
    expect(sinkName({ type: 'stdout' })).toBe('stdout')
    expect(sinkName({ type: 'syslog', address: 'tcp://siem:6514', format: 'rfc5424' })).toBe('syslog:tcp://siem:6514')
    const name = sinkName({ type: 'webhook', url: 'https://user:pw@siem.example/hec?token=s3cret', format: 'splunk-hec', token: 'T0KEN' })
    expect(name).toBe('webhook:splunk-hec:https://siem.example/hec?…')
    expect(name).not.toMatch(/pw|s3cret|T0KEN/)
  })

  it('an explicit name wins', () => {
    expect(sinkName({ type: 'webhook', name: 'siem', url: 'https://a.example/x', format: 'ocsf' })).toBe('siem')
  })
})

describe('createSinks refuses', () => {
  it('two sinks with the same destination (they would share a cursor)', () => {
    const c: SinkConfig[] = [{ type: 'stdout' }, { type: 'file', path: '/tmp/a' }, { type: 'stdout' }]
    const err = refusal(() => createSinks(c))
    expect(err.code).toBe('bad_input')
    expect(err.message).toMatch(/audit\.sinks\[2\].*audit\.sinks\[0\].*name/)
  })

  it('a webhook over plain http to anything but loopback', () => {
    const err = refusal(() => createSinks([{ type: 'stdout' }, { type: 'webhook', url: 'http://siem.example/hook', format: 'jsonl' }]))
    expect(err.code).toBe('bad_input')
    expect(err.message).toMatch(/^audit\.sinks\[1\]: .*https/)
  })

  it('but accepts https, and http on loopback', () => {
    expect(checkWebhookUrl('https://siem.example/hook', 'x').protocol).toBe('https:')
    expect(checkWebhookUrl('http://127.0.0.1:8088/hook', 'x').hostname).toBe('127.0.0.1')
    expect(checkWebhookUrl('http://[::1]:8088/hook', 'x').port).toBe('8088')
    expect(refusal(() => checkWebhookUrl('ftp://siem.example/', 'x')).code).toBe('bad_input')
  })

  it('a syslog TLS CA file that cannot be read', () => {
    const err = refusal(() => createSinks([{ type: 'syslog', address: 'tls://siem:6514', format: 'rfc5424', tls: { ca: '/nonexistent/ca.pem' } }]))
    expect(err.message).toMatch(/audit\.sinks\[0\].*\/nonexistent\/ca\.pem/)
  })
})

describe('parseSyslogAddress', () => {
  it('reads transport, host and port, IPv6 too', () => {
    expect(parseSyslogAddress('tcp://127.0.0.1:514')).toEqual({ transport: 'tcp', host: '127.0.0.1', port: 514 })
    expect(parseSyslogAddress('tls://[::1]:6514')).toEqual({ transport: 'tls', host: '::1', port: 6514 })
    expect(parseSyslogAddress('udp://logs.internal:514')).toEqual({ transport: 'udp', host: 'logs.internal', port: 514 })
    expect(refusal(() => parseSyslogAddress('tcp://host:99999')).code).toBe('bad_input')
  })
})

describe('redactUrl', () => {
  it('drops user info and the query', () => {
    expect(redactUrl('https://u:p@h.example:8443/a/b?x=1')).toBe('https://h.example:8443/a/b?…')
    expect(redactUrl('not a url')).toBe('(invalid URL)')
  })
})

describe('StdoutSink', () => {
  it('writes JSON lines and acknowledges once the stream took them', async () => {
    const out = new PassThrough()
    let text = ''
    out.on('data', (d: Buffer) => (text += d.toString()))
    const events = new MemoryOutbox().add(2)
    await new StdoutSink('stdout', out).deliver(events)
    expect(text.trimEnd().split('\n').map((l) => JSON.parse(l).id)).toEqual(['id-1', 'id-2'])
  })
})

describe('SinkSet', () => {
  const sets: SinkSet[] = []
  afterEach(async () => {
    await Promise.all(sets.splice(0).map((s) => s.stop()))
  })

  it('wakes its runners when the event source emits, so delivery does not wait for the idle re-check', async () => {
    const store = new MemoryOutbox()
    const sink = new ScriptedSink('s')
    const listeners = new Set<(e: AuditEvent) => void>()
    const source = {
      subscribe(l: (e: AuditEvent) => void) {
        listeners.add(l)
        return () => listeners.delete(l)
      },
    }
    const set = new SinkSet([sink], store, undefined, { idleCheckMs: 3_600_000, wakeDelayMs: 1, drainMs: 0 })
    sets.push(set)
    await set.start(source)
    await expect.poll(() => set.status()[0]?.state).toBe('idle')
    const [e] = store.add(1)
    for (const l of listeners) l(e!)
    await expect.poll(() => sink.delivered.length).toBe(1)
    await set.stop()
    expect(listeners.size).toBe(0)
  })

  it('notify() is cheap: a burst of events schedules one wake-up', async () => {
    const store = new MemoryOutbox()
    const sink = new ScriptedSink('s')
    const set = new SinkSet([sink], store, undefined, { idleCheckMs: 3_600_000, wakeDelayMs: 1, drainMs: 0 })
    sets.push(set)
    await set.start()
    await expect.poll(() => set.status()[0]?.state).toBe('idle')
    store.add(100)
    for (let i = 0; i < 100; i++) set.notify()
    await expect.poll(() => sink.delivered.length).toBe(100)
    expect(sink.attempts).toHaveLength(1)
  })
})
