// The policy interceptor inside the real PgProxy, with the test playing client and server
// (pg-harness.ts): deny by a message the server rejects and the rewrite of its error, the hold of a
// reviewed statement (held, then approved / denied / withdrawn; later messages wait behind it, in
// order), and prepared statements judged as what they were prepared as.
import { beforeAll, describe, expect, it } from 'vitest'
import { loadParser } from '../../../src/policy/index.js'
import type { BackendMessage, FrontendMessage } from '../../../src/protocols/postgres/codec/index.js'
import { ScriptedGate } from './fixtures.js'
import { harness, syntaxErrorFor } from './pg-harness.js'

beforeAll(() => loadParser())

const RULES = `    rules:
      - { name: no-ddl, match: { statement: [DROP] }, action: deny, message: schema changes go through migrations }
      - { name: writes, match: { statement: [INSERT, UPDATE, DELETE] }, action: review, reviewers: [sre, dba] }
`
const q = (sql: string): FrontendMessage => ({ type: 'Query', sql })
const ready = (status: 'I' | 'T' | 'E' = 'I'): BackendMessage => ({ type: 'ReadyForQuery', status })
const done = (tag: string): BackendMessage => ({ type: 'CommandComplete', tag })
const types = (ms: { type: string }[]) => ms.map((m) => m.type)

function markerOf(m: FrontendMessage | undefined): string {
  if (m?.type === 'Query' || m?.type === 'Parse') return m.sql
  throw new Error(`not a marker message: ${JSON.stringify(m)}`)
}

describe('deny', () => {
  it('replaces a denied Query with one the server rejects and turns its syntax error into 42501 with the rule message', async () => {
    const h = harness(RULES)
    h.send(q('DROP TABLE t'))
    await h.settle()
    const [sent] = h.serverGot()
    expect(markerOf(sent)).toMatch(/^agw_denied_[0-9a-f]{16}_1$/)
    h.reply(syntaxErrorFor(markerOf(sent)), ready('T'))
    const got = h.clientGot()
    expect(got).toEqual([
      {
        type: 'ErrorResponse',
        fields: expect.objectContaining({ S: 'ERROR', C: '42501', M: 'agw denied DROP TABLE on connection "pg" by rule "no-ddl": schema changes go through migrations', D: 'rule: no-ddl' }),
      },
      // The transaction state is the server's own: a denied statement in a block leaves it failed or not, as PostgreSQL says.
      { type: 'ReadyForQuery', status: 'T' },
    ])
    expect(h.events.filter((e) => e.type === 'query.denied').map((e) => e.data)).toEqual([
      { sql: 'DROP TABLE t', protocol: 'simple', action: 'deny', rule: 'no-ddl', message: expect.stringContaining('no-ddl') },
    ])
  })

  it('passes other errors through untouched, also for the message after a denied one', async () => {
    const h = harness(RULES)
    h.send(q('DROP TABLE t'), q('SELECT 1/0'))
    await h.settle()
    const [marker, next] = h.serverGot()
    expect(next).toEqual(q('SELECT 1/0'))
    const divide: BackendMessage = { type: 'ErrorResponse', fields: { S: 'ERROR', V: 'ERROR', C: '22012', M: 'division by zero' } }
    h.reply(syntaxErrorFor(markerOf(marker)), ready(), divide, ready())
    expect(types(h.clientGot())).toEqual(['ErrorResponse', 'ReadyForQuery', 'ErrorResponse', 'ReadyForQuery'])
  })

  it('in the extended protocol: the denied Parse becomes a marker Parse, the rest of the batch is forwarded for the server to skip', async () => {
    const h = harness(RULES)
    h.send(
      { type: 'Parse', name: '', sql: 'SELECT 1', paramTypes: [] },
      { type: 'Bind', portal: '', statement: '', paramFormats: [], params: [], resultFormats: [] },
      { type: 'Execute', portal: '', maxRows: 0 },
      { type: 'Parse', name: 's2', sql: 'DROP TABLE t', paramTypes: [] },
      { type: 'Bind', portal: '', statement: 's2', paramFormats: [], params: [], resultFormats: [] },
      { type: 'Execute', portal: '', maxRows: 0 },
      { type: 'Sync' },
    )
    await h.settle()
    const sent = h.serverGot()
    expect(types(sent)).toEqual(['Parse', 'Bind', 'Execute', 'Parse', 'Bind', 'Execute', 'Sync'])
    const marker = sent[3] as Extract<FrontendMessage, { type: 'Parse' }>
    expect(marker.name).toBe(marker.sql)
    expect(marker.sql).toMatch(/^agw_denied_/)
    h.reply({ type: 'ParseComplete' }, { type: 'BindComplete' }, { type: 'DataRow', values: [Buffer.from('1')] }, done('SELECT 1'), syntaxErrorFor(marker.sql), ready())
    const got = h.clientGot()
    expect(types(got)).toEqual(['ParseComplete', 'BindComplete', 'DataRow', 'CommandComplete', 'ErrorResponse', 'ReadyForQuery'])
    expect((got[4] as { fields: Record<string, string> }).fields.C).toBe('42501')
  })
})

describe('review hold', () => {
  it('holds the statement, tells the client at once, and runs it (then what came after it, in order) when approved', async () => {
    const gate = new ScriptedGate()
    const h = harness(RULES, gate)
    h.send(q('INSERT INTO t VALUES (1) -- hold-me'), q('SELECT 2'))
    await h.settle()
    expect(h.serverGot()).toEqual([])
    expect(h.clientGot()).toEqual([
      { type: 'NoticeResponse', fields: expect.objectContaining({ S: 'NOTICE', M: 'agw: held for review rev-1 by rule "writes"; waiting for sre, dba' }) },
    ])
    expect(gate.requests[0]).toMatchObject({ sessionId: 'session-1', connectionId: 'conn-1', connection: 'pg', rule: { name: 'writes', reviewers: ['sre', 'dba'] }, statement: 'INSERT INTO t VALUES (1) -- hold-me', params: [] })
    expect(gate.requests[0]!.fingerprint).toMatch(/^[0-9a-f]{64}$/)
    gate.release('rev-1', 'approved')
    await h.settle()
    expect(h.serverGot()).toEqual([q('INSERT INTO t VALUES (1) -- hold-me'), q('SELECT 2')])
    h.reply(done('INSERT 0 1'), ready())
    expect(h.clientGot()).toEqual([done('INSERT 0 1'), ready()])
  })

  it('denies the held statement when the review is denied, naming the outcome, and goes on', async () => {
    const gate = new ScriptedGate()
    const h = harness(RULES, gate)
    h.send(q('DELETE FROM t WHERE id = 1 -- deny-me'), q('SELECT 2'))
    await h.settle()
    const [marker, next] = h.serverGot()
    expect(next).toEqual(q('SELECT 2'))
    h.reply(syntaxErrorFor(markerOf(marker)), ready())
    const got = h.clientGot()
    expect(types(got)).toEqual(['NoticeResponse', 'ErrorResponse', 'ReadyForQuery'])
    expect((got[1] as { fields: Record<string, string> }).fields).toMatchObject({ C: '42501', M: 'agw: review rev-1 denied by bob@example.com: not today; the statement held by rule "writes" was not run' })
    expect(h.events.find((e) => e.type === 'query.denied')?.data).toMatchObject({ reason: 'review denied', rule: 'writes' })
  })

  it('holds a Bind (the parameters are known there) and what follows it until the review ends', async () => {
    const gate = new ScriptedGate()
    const h = harness(RULES, gate)
    h.send(
      { type: 'Parse', name: '', sql: 'UPDATE t SET v = $1 WHERE id = 2 -- hold-me', paramTypes: [] },
      { type: 'Bind', portal: '', statement: '', paramFormats: [], params: [Buffer.from('x')], resultFormats: [] },
      { type: 'Execute', portal: '', maxRows: 0 },
      { type: 'Sync' },
    )
    await h.settle()
    expect(types(h.serverGot())).toEqual(['Parse'])
    expect(gate.requests[0]?.params).toEqual(['x'])
    gate.release('rev-1')
    await h.settle()
    expect(types(h.serverGot())).toEqual(['Bind', 'Execute', 'Sync'])
  })

  it('withdraws the review when the client cancels, and refuses the statement', async () => {
    const gate = new ScriptedGate()
    const h = harness(RULES, gate)
    h.send(q('INSERT INTO t VALUES (2) -- hold-me'))
    await h.settle()
    h.cancel()
    await h.settle()
    expect(gate.withdrawn).toEqual(['rev-1'])
    const [marker] = h.serverGot()
    h.reply(syntaxErrorFor(markerOf(marker)), ready())
    expect(types(h.clientGot())).toEqual(['NoticeResponse', 'ErrorResponse', 'ReadyForQuery'])
  })

  it('withdraws the review when the client goes away', async () => {
    const gate = new ScriptedGate()
    const h = harness(RULES, gate)
    h.send(q('INSERT INTO t VALUES (3) -- hold-me'))
    await h.settle()
    h.closeClient()
    await h.settle()
    expect(gate.withdrawn).toEqual(['rev-1'])
    expect(gate.pending).toEqual([])
  })

  it('fails closed without a gate: the statement is denied, saying reviews are unavailable', async () => {
    const h = harness(RULES)
    h.send(q('INSERT INTO t VALUES (4)'))
    await h.settle()
    const [marker] = h.serverGot()
    expect(markerOf(marker)).toMatch(/^agw_denied_/)
    h.reply(syntaxErrorFor(markerOf(marker)), ready())
    const [err] = h.clientGot()
    expect(err).toMatchObject({ type: 'ErrorResponse', fields: { C: '42501', M: expect.stringContaining('reviews are not available on this gateway') } })
  })
})

describe('prepared statements', () => {
  it('judges EXECUTE of a name prepared in an earlier Query as what it was prepared as, once the server confirmed it', async () => {
    const h = harness(RULES)
    h.send(q('PREPARE p AS SELECT 1'))
    await h.settle()
    h.serverGot()
    h.reply(done('PREPARE'), ready())
    h.send(q('EXECUTE p'))
    await h.settle()
    expect(h.serverGot()).toEqual([q('EXECUTE p')])
    h.reply(done('SELECT 1'), ready())
    h.send(q('DEALLOCATE p'))
    await h.settle()
    h.serverGot()
    h.reply(done('DEALLOCATE'), ready())
    h.send(q('EXECUTE p'))
    await h.settle()
    // p is gone (DEALLOCATE): agw refuses an EXECUTE of a name it cannot read.
    expect(markerOf(h.serverGot()[0])).toMatch(/^agw_denied_/)
  })

  it('a Bind of a named statement is judged as its Parse; a failed redefinition leaves the old definition in force', async () => {
    const gate = new ScriptedGate()
    const h = harness(RULES, gate)
    const bind: FrontendMessage = { type: 'Bind', portal: '', statement: 's', paramFormats: [], params: [], resultFormats: [] }
    h.send({ type: 'Parse', name: 's', sql: 'DELETE FROM t WHERE id = 7 -- hold-me', paramTypes: [] }, { type: 'Sync' })
    await h.settle()
    h.serverGot()
    h.reply({ type: 'ParseComplete' }, ready())
    // Redefining s fails on the server (the name exists), and in a later batch s is still the DELETE.
    h.send({ type: 'Parse', name: 's', sql: 'SELECT 1', paramTypes: [] }, { type: 'Sync' })
    await h.settle()
    h.serverGot()
    h.reply({ type: 'ErrorResponse', fields: { S: 'ERROR', C: '42P05', M: 'prepared statement "s" already exists' } }, ready())
    h.send(bind, { type: 'Execute', portal: '', maxRows: 0 }, { type: 'Sync' })
    await h.settle()
    expect(gate.requests.map((r) => r.statement)).toEqual(['DELETE FROM t WHERE id = 7 -- hold-me'])
  })

  it('while a redefinition is unconfirmed, a Bind in a later batch is judged against every definition the name may have', async () => {
    const gate = new ScriptedGate()
    const h = harness(RULES, gate)
    h.send({ type: 'Parse', name: 's', sql: 'SELECT 1', paramTypes: [] }, { type: 'Sync' })
    await h.settle()
    h.reply({ type: 'ParseComplete' }, ready())
    h.send({ type: 'Close', target: 'S', name: 's' }, { type: 'Parse', name: 's', sql: 'DELETE FROM t WHERE id = 8 -- deny-me', paramTypes: [] }, { type: 'Sync' })
    h.send({ type: 'Bind', portal: '', statement: 's', paramFormats: [], params: [], resultFormats: [] }, { type: 'Sync' })
    await h.settle()
    // The server has not answered the Close/Parse yet: s may be SELECT 1 or the DELETE, so the DELETE's review applies.
    expect(gate.requests.map((r) => r.statement)).toEqual(['DELETE FROM t WHERE id = 8 -- deny-me'])
  })
})

describe('standard_conforming_strings', () => {
  // With the setting off, 'a\', ' is one string to the server but two to a parser that has it on:
  // the DROP would hide inside what agw reads as a string.
  const sneaky = "SELECT 'a\\', '; DROP TABLE t; --'"

  it('judges text with a backslash only once everything before it is answered, and reads it as the server does with the setting off', async () => {
    const h = harness(RULES)
    h.send(q('SET standard_conforming_strings = off'), q(sneaky))
    await h.settle()
    // The SET went on; the backslash text waits (agw asked the server to flush its answers).
    expect(types(h.serverGot())).toEqual(['Query', 'Flush'])
    h.reply({ type: 'ParameterStatus', name: 'standard_conforming_strings', value: 'off' }, done('SET'), ready())
    await h.settle()
    const [marker] = h.serverGot()
    expect(markerOf(marker)).toMatch(/^agw_denied_/)
    // Read as E'a\', ...': the DROP is a statement of its own, and the rule for it applies.
    expect(h.events.find((e) => e.type === 'query.denied')?.data).toMatchObject({ rule: 'no-ddl' })
  })

  it('with the setting confirmed off, harmless text with a backslash goes through unchanged', async () => {
    const h = harness(RULES)
    h.send(q('SET standard_conforming_strings = off'))
    await h.settle()
    h.reply({ type: 'ParameterStatus', name: 'standard_conforming_strings', value: 'off' }, done('SET'), ready())
    await h.settle()
    h.send(q("SELECT 'a\\b'"))
    await h.settle()
    expect(h.serverGot()).toEqual([q('SET standard_conforming_strings = off'), q("SELECT 'a\\b'")])
  })

  it('refuses text whose two readings differ while the server has not confirmed the setting (an Execute with no Sync)', async () => {
    const h = harness(RULES)
    h.send(
      { type: 'Parse', name: '', sql: 'SET standard_conforming_strings = off', paramTypes: [] },
      { type: 'Bind', portal: '', statement: '', paramFormats: [], params: [], resultFormats: [] },
      { type: 'Execute', portal: '', maxRows: 0 },
      { type: 'Flush' },
    )
    await h.settle()
    h.reply({ type: 'ParseComplete' }, { type: 'BindComplete' }, done('SET'))
    await h.settle()
    h.send(q(sneaky))
    await h.settle()
    const got = h.serverGot()
    expect(markerOf(got[got.length - 1])).toMatch(/^agw_denied_/)
    expect(h.events.find((e) => e.type === 'query.denied')?.data).toMatchObject({ reason: 'standard_conforming_strings' })
  })

  it('lets text with a backslash through when the setting is on', async () => {
    const h = harness(RULES)
    h.send(q("SELECT 'a\\b'"))
    await h.settle()
    expect(h.serverGot()).toEqual([q("SELECT 'a\\b'")])
  })
})

describe('the COPY column probe and the transaction state', () => {
  // `COPY t TO STDOUT` names no columns: agw asks the server first (policy-frontend.ts, copyProbe).
  const MASK = `    masking:
      columns: [password]
`
  const copyT = 'COPY t TO STDOUT'
  const copyStar = 'COPY (SELECT * FROM t) TO STDOUT'
  const probeQuery = q('SELECT * FROM "t" LIMIT 0')
  const field = (name: string) => ({ name, tableOid: 0, columnAttr: 0, typeOid: 25, typeSize: -1, typeMod: -1, format: 0 })
  const columns: BackendMessage = { type: 'RowDescription', fields: [field('id'), field('password')] }
  const missing: BackendMessage = { type: 'ErrorResponse', fields: { S: 'ERROR', V: 'ERROR', C: '42P01', M: 'relation "t" does not exist' } }
  const aborted: BackendMessage = { type: 'ErrorResponse', fields: { S: 'ERROR', V: 'ERROR', C: '25P02', M: 'current transaction is aborted, commands ignored until end of transaction block' } }
  const copyOut: BackendMessage[] = [
    { type: 'CopyOutResponse', format: 0, columnFormats: [0, 0] },
    { type: 'CopyData', data: Buffer.from('1\thunter2\n') },
    { type: 'CopyDone' },
    done('COPY 1'),
  ]
  const copyRows = (ms: BackendMessage[]) => ms.flatMap((m) => (m.type === 'CopyData' ? [m.data.toString()] : []))

  /** A harness whose session is in state `status` (the client's BEGIN, and a failing statement for 'E', answered). */
  async function inState(status: 'I' | 'T' | 'E') {
    const h = harness(MASK)
    if (status !== 'I') {
      h.send(q('BEGIN'))
      await h.settle()
      h.reply(done('BEGIN'), ready('T'))
    }
    if (status === 'E') {
      h.send(q('SELECT 1/0'))
      await h.settle()
      h.reply({ type: 'ErrorResponse', fields: { S: 'ERROR', V: 'ERROR', C: '22012', M: 'division by zero' } }, ready('E'))
    }
    await h.settle()
    h.serverGot()
    h.clientGot()
    return h
  }

  it('outside a transaction block: the probe is a LIMIT 0 query of its own, its answers kept from the client', async () => {
    const h = await inState('I')
    h.send(q(copyT))
    await h.settle()
    expect(h.serverGot()).toEqual([probeQuery, q(copyT)])
    h.reply(columns, done('SELECT 0'), ready('I'), ...copyOut, ready('I'))
    const got = h.clientGot()
    expect(types(got)).toEqual(['CopyOutResponse', 'CopyData', 'CopyDone', 'CommandComplete', 'ReadyForQuery'])
    expect(copyRows(got)).toEqual(['1\t[redacted]\n'])
  })

  it('in a transaction block: the probe runs inside a savepoint that is rolled back and released, all of it kept from the client', async () => {
    const h = await inState('T')
    h.send(q(copyT))
    await h.settle()
    const sent = h.serverGot()
    expect(types(sent)).toEqual(['Query', 'Query', 'Query', 'Query'])
    const savepoint = markerOf(sent[0])
    expect(savepoint).toMatch(/^SAVEPOINT agw_probe_[0-9a-f]+$/)
    const name = savepoint.slice('SAVEPOINT '.length)
    expect(sent.slice(1)).toEqual([probeQuery, q(`ROLLBACK TO SAVEPOINT ${name}; RELEASE SAVEPOINT ${name}`), q(copyT)])
    const notice: BackendMessage = { type: 'NoticeResponse', fields: { S: 'NOTICE', V: 'NOTICE', C: '00000', M: 'from planning the probe' } }
    h.reply(done('SAVEPOINT'), ready('T'), notice, columns, done('SELECT 0'), ready('T'), done('ROLLBACK'), done('RELEASE'), ready('T'), ...copyOut, ready('T'))
    const got = h.clientGot()
    expect(types(got)).toEqual(['CopyOutResponse', 'CopyData', 'CopyDone', 'CommandComplete', 'ReadyForQuery'])
    expect(copyRows(got)).toEqual(['1\t[redacted]\n'])
    expect(got.at(-1)).toEqual(ready('T'))
  })

  it('in a transaction block: a probe the server refuses leaves the transaction alive, and the client gets the server error for its COPY', async () => {
    const h = await inState('T')
    h.send(q(copyT))
    await h.settle()
    expect(h.serverGot()).toHaveLength(4)
    h.reply(done('SAVEPOINT'), ready('T'), missing, ready('E'), done('ROLLBACK'), done('RELEASE'), ready('T'), missing, ready('E'))
    expect(h.clientGot()).toEqual([missing, ready('E')])
  })

  it('in a transaction block: COPY (SELECT * ...) is described inside the savepoint too', async () => {
    const h = await inState('T')
    h.send(q(copyStar))
    await h.settle()
    const sent = h.serverGot()
    expect(types(sent)).toEqual(['Query', 'Parse', 'Describe', 'Sync', 'Query', 'Query'])
    expect(markerOf(sent[0])).toMatch(/^SAVEPOINT agw_probe_/)
    expect(sent[1]).toEqual({ type: 'Parse', name: '', sql: 'SELECT * FROM t', paramTypes: [] })
    expect(markerOf(sent[4])).toMatch(/^ROLLBACK TO SAVEPOINT agw_probe_\w+; RELEASE SAVEPOINT agw_probe_\w+$/)
    expect(sent[5]).toEqual(q(copyStar))
    h.reply(done('SAVEPOINT'), ready('T'), { type: 'ParseComplete' }, { type: 'ParameterDescription', typeOids: [] }, columns, ready('T'), done('ROLLBACK'), done('RELEASE'), ready('T'), ...copyOut, ready('T'))
    const got = h.clientGot()
    expect(types(got)).toEqual(['CopyOutResponse', 'CopyData', 'CopyDone', 'CommandComplete', 'ReadyForQuery'])
    expect(copyRows(got)).toEqual(['1\t[redacted]\n'])
  })

  it('in a failed transaction: no probe at all; the client gets the server error', async () => {
    const h = await inState('E')
    h.send(q(copyT), q(copyStar))
    await h.settle()
    // The second COPY waits for the answer to the first (the state it runs in is not known before).
    expect(h.serverGot()).toEqual([q(copyT)])
    h.reply(aborted, ready('E'))
    await h.settle()
    expect(h.serverGot()).toEqual([q(copyStar)])
    h.reply(aborted, ready('E'))
    expect(h.clientGot()).toEqual([aborted, ready('E'), aborted, ready('E')])
  })

  it('after a COMMIT the probe is a plain query again', async () => {
    const h = await inState('T')
    h.send(q('COMMIT'))
    await h.settle()
    h.reply(done('COMMIT'), ready('I'))
    await h.settle()
    h.serverGot()
    h.send(q(copyT))
    await h.settle()
    expect(h.serverGot()).toEqual([probeQuery, q(copyT)])
  })

  it('a COPY sent before the answer to BEGIN waits for it, then probes inside a savepoint', async () => {
    const h = harness(MASK)
    h.send(q('BEGIN'), q(copyT))
    await h.settle()
    expect(h.serverGot()).toEqual([q('BEGIN')])
    h.reply(done('BEGIN'), ready('T'))
    await h.settle()
    const sent = h.serverGot()
    expect(sent.map((m) => markerOf(m).split(' ')[0])).toEqual(['SAVEPOINT', 'SELECT', 'ROLLBACK', 'COPY'])
    h.reply(done('SAVEPOINT'), ready('T'), columns, done('SELECT 0'), ready('T'), done('ROLLBACK'), done('RELEASE'), ready('T'), ...copyOut, ready('T'))
    const got = h.clientGot()
    expect(types(got)).toEqual(['CommandComplete', 'ReadyForQuery', 'CopyOutResponse', 'CopyData', 'CopyDone', 'CommandComplete', 'ReadyForQuery'])
    expect(copyRows(got)).toEqual(['1\t[redacted]\n'])
  })

  it('inside an extended batch not yet synced: no probe (its Sync would end the batch early); the COPY is masked whole', async () => {
    const h = harness(MASK)
    h.send(
      { type: 'Parse', name: '', sql: 'SELECT 1', paramTypes: [] },
      { type: 'Bind', portal: '', statement: '', paramFormats: [], params: [], resultFormats: [] },
      { type: 'Execute', portal: '', maxRows: 0 },
      q(copyStar),
      { type: 'Sync' },
    )
    await h.settle()
    expect(types(h.serverGot())).toEqual(['Parse', 'Bind', 'Describe', 'Execute', 'Query', 'Sync'])
  })
})
