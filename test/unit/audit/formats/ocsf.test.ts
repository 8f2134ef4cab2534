/**
 * OCSF 1.3.0 mapping (https://schema.ocsf.io/1.3.0). The required attributes below are written out
 * from the schema, independently of the mapper: the base event's, each class's own, and the
 * class constraints ("at least one of"). Each event type is checked against its class.
 */
import { describe, expect, it } from 'vitest'
import { OCSF_VERSION, sqlVerb, toOcsf, type OcsfEvent } from '../../../../src/audit/formats/ocsf.js'
import { EVENT_TYPES, type EventType } from '../../../../src/recording/events.js'
import { event, SAMPLES } from './fixtures.js'

const BASE_REQUIRED = ['activity_id', 'category_uid', 'class_uid', 'type_uid', 'severity_id', 'time', 'metadata'] as const

interface ClassSpec {
  category: number
  required: string[]
  atLeastOne?: string[]
  activities: number[]
}

const CLASSES: Record<number, ClassSpec> = {
  0: { category: 0, required: [], activities: [0, 99] },
  // Authentication: user; at least one of service, dst_endpoint.
  3002: { category: 3, required: ['user'], atLeastOne: ['service', 'dst_endpoint'], activities: [0, 1, 2, 3, 4, 5, 6, 99] },
  // Network Activity and its subclasses: src_endpoint and dst_endpoint (required up to 1.2; one of them since).
  4001: { category: 4, required: ['src_endpoint', 'dst_endpoint'], activities: [0, 1, 2, 3, 4, 5, 6, 7, 99] },
  4002: { category: 4, required: ['src_endpoint', 'dst_endpoint'], atLeastOne: ['http_request', 'http_response'], activities: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 99] },
  4007: { category: 4, required: ['src_endpoint', 'dst_endpoint'], activities: [0, 1, 2, 3, 4, 5, 6, 7, 99] },
  // API Activity: actor, api (with operation), src_endpoint.
  6003: { category: 6, required: ['actor', 'api', 'src_endpoint'], activities: [0, 1, 2, 3, 4, 99] },
  // Datastore Activity: actor, src_endpoint; at least one of database, databucket, table.
  6005: { category: 6, required: ['actor', 'src_endpoint'], atLeastOne: ['database', 'databucket', 'table'], activities: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 99] },
}

const EXPECTED_CLASS: Record<EventType, number> = {
  'auth.login': 3002,
  'auth.failed': 3002,
  'session.start': 3002,
  'session.end': 3002,
  'connection.open': 4001,
  'connection.close': 4001,
  query: 6005,
  'query.result': 6005,
  'query.denied': 6005,
  'review.requested': 6003,
  'review.approved': 6003,
  'review.denied': 6003,
  'review.expired': 6003,
  'ssh.exec': 4007,
  'ssh.output': 4007,
  'terminal.output': 0,
  'http.request': 4002,
  'http.response': 4002,
  'k8s.request': 6003,
  'masking.applied': 0,
}

function present(o: Record<string, unknown>, key: string): boolean {
  const v = o[key]
  return v !== undefined && v !== null && v !== ''
}

/** Endpoint objects need one identifying attribute (schema constraint). */
function checkEndpoint(ep: unknown): void {
  expect(ep).toBeTypeOf('object')
  const o = ep as Record<string, unknown>
  expect(['ip', 'hostname', 'name', 'uid'].some((k) => present(o, k)), JSON.stringify(o)).toBe(true)
}

function checkUser(u: unknown): void {
  const o = u as Record<string, unknown>
  expect(['uid', 'name', 'account'].some((k) => present(o, k)), JSON.stringify(o)).toBe(true)
}

describe('every event type maps to a valid OCSF event of its class', () => {
  it.each(EVENT_TYPES.map((t) => [t]))('%s', (type) => {
    const source = SAMPLES[type]
    const o: OcsfEvent = toOcsf(source)
    for (const k of BASE_REQUIRED) expect(present(o, k), `base attribute ${k}`).toBe(true)
    expect(o.class_uid).toBe(EXPECTED_CLASS[type])
    const spec = CLASSES[o.class_uid]!
    expect(o.category_uid).toBe(spec.category)
    expect(o.type_uid).toBe(o.class_uid * 100 + o.activity_id)
    expect(spec.activities).toContain(o.activity_id)
    for (const k of spec.required) expect(present(o, k), `${o.class_uid} requires ${k}`).toBe(true)
    if (spec.atLeastOne) expect(spec.atLeastOne.some((k) => present(o, k)), `${o.class_uid} needs one of ${spec.atLeastOne.join(', ')}`).toBe(true)
    // metadata: product and version are required; uid is the agw event id (duplicates stay recognisable).
    expect(o.metadata).toMatchObject({ version: OCSF_VERSION, uid: source.id, sequence: source.seq, event_code: type })
    expect(o.metadata.product).toMatchObject({ name: 'agw', vendor_name: 'agw' })
    expect(o.time).toBe(Date.parse(source.time))
    expect([0, 1, 2, 3, 4, 5, 6, 99]).toContain(o.severity_id)
    expect([0, 1, 2, 99]).toContain(o.status_id)
    for (const k of ['src_endpoint', 'dst_endpoint'] as const) if (o[k] !== undefined) checkEndpoint(o[k])
    if (o.user !== undefined) checkUser(o.user)
    if (o.actor !== undefined) checkUser((o.actor as Record<string, unknown>).user)
    if (o.api !== undefined) expect((o.api as Record<string, unknown>).operation).toBeTruthy()
    if (o.database !== undefined) expect((o.database as Record<string, unknown>).type_id).toBeTypeOf('number')
    if (o.http_response !== undefined) expect((o.http_response as Record<string, unknown>).code).toBeTypeOf('number')
    // Nothing agw knows is lost: the stored event rides along.
    expect((o.unmapped as { agw: unknown }).agw).toEqual(JSON.parse(JSON.stringify(source)))
    expect(() => JSON.stringify(o)).not.toThrow()
  })
})

describe('activities and type_uid', () => {
  it('auth.login is an Authentication Logon (300201); auth.failed the same with status Failure', () => {
    expect(toOcsf(SAMPLES['auth.login'])).toMatchObject({ class_uid: 3002, activity_id: 1, type_uid: 300201, status_id: 1, auth_protocol_id: 4 })
    const failed = toOcsf(SAMPLES['auth.failed'])
    expect(failed).toMatchObject({ type_uid: 300201, status_id: 2, status_detail: 'token expired', severity_id: 3 })
    expect(failed.src_endpoint).toEqual({ ip: '10.9.9.9' })
    expect(failed.user).toMatchObject({ name: 'unknown' })
  })

  it('the client address is the IPv4 address even when Node reports it IPv4-mapped', () => {
    expect(toOcsf(SAMPLES['auth.login']).src_endpoint).toEqual({ ip: '10.1.2.3' })
  })

  it('session.start and session.end are Logon (300201) and Logoff (300202) of the agw session', () => {
    expect(toOcsf(SAMPLES['session.start'])).toMatchObject({ type_uid: 300201, session: { uid: SAMPLES['session.start'].sessionId } })
    expect(toOcsf(SAMPLES['session.end'])).toMatchObject({ type_uid: 300202, status_id: 1, duration: 5321 })
    const interrupted = toOcsf(event('session.end', { status: 'interrupted' }))
    expect(interrupted).toMatchObject({ status_id: 99, status_detail: 'interrupted' })
  })

  it('queries are Datastore Activity with the activity of their verb', () => {
    const cases: [string, number][] = [
      ['SELECT 1', 4],
      ['  /* hint */ -- note\n (select 1)', 4],
      ['WITH x AS (SELECT 1) SELECT * FROM x', 4],
      ['insert into t values (1)', 6],
      ['UPDATE t SET a = 1 WHERE id = 2', 2],
      ['DELETE FROM t WHERE id = 2', 7],
      ['DROP TABLE t', 7],
      ['COPY t FROM STDIN', 5],
      ['COPY t TO STDOUT', 1],
      ['BEGIN', 99],
    ]
    for (const [sql, activity] of cases) {
      const o = toOcsf(event('query', { queryId: 1, sql }))
      expect(o, sql).toMatchObject({ class_uid: 6005, activity_id: activity, type_uid: 600500 + activity })
      expect((o.query_info as Record<string, unknown>).datastore_query).toBe(sql)
    }
    expect(toOcsf(event('query', { queryId: 1, sql: 'BEGIN' })).activity_name).toBe('BEGIN')
  })

  it('a result takes its verb from the command tag; an error is a Failure with the message', () => {
    expect(toOcsf(event('query.result', { queryId: 1, tag: 'INSERT 0 3', rowCount: 3 }))).toMatchObject({ activity_id: 6, status_id: 1 })
    expect(toOcsf(event('query.result', { queryId: 1, error: { code: '42P01', message: 'relation "x" does not exist' } }))).toMatchObject({
      activity_id: 0,
      type_uid: 600500,
      status_id: 2,
      status_detail: 'relation "x" does not exist',
    })
  })

  it('a denied query is a Failure with the rule message', () => {
    expect(toOcsf(SAMPLES['query.denied'])).toMatchObject({ class_uid: 6005, activity_id: 7, status_id: 2, status_detail: 'schema changes go through migrations' })
  })

  it('reviews are API Activity: requested Create, approved and denied Update, expired Other', () => {
    expect(toOcsf(SAMPLES['review.requested'])).toMatchObject({ type_uid: 600301, api: { operation: 'review.requested', request: { uid: 'r-17' } } })
    expect(toOcsf(SAMPLES['review.approved'])).toMatchObject({ type_uid: 600303, status_detail: 'approved' })
    expect(toOcsf(SAMPLES['review.denied'])).toMatchObject({ type_uid: 600303, status_detail: 'denied', severity_id: 2 })
    expect(toOcsf(SAMPLES['review.expired'])).toMatchObject({ type_uid: 600399, activity_name: 'Expire' })
  })

  it('HTTP methods map to HTTP Activity activities; the response carries its status code', () => {
    expect(toOcsf(SAMPLES['http.request'])).toMatchObject({ type_uid: 400203, http_request: { http_method: 'GET', url: { path: '/v1/users' } } })
    expect(toOcsf(event('http.request', { method: 'PATCH', path: '/x' }))).toMatchObject({ type_uid: 400209 })
    expect(toOcsf(SAMPLES['http.response'])).toMatchObject({ http_response: { code: 200 }, status_id: 1 })
    expect(toOcsf(event('http.response', { method: 'POST', status: 403 }))).toMatchObject({ type_uid: 400206, status_id: 2 })
  })

  it('Kubernetes verbs map to API Activity CRUD', () => {
    expect(toOcsf(SAMPLES['k8s.request'])).toMatchObject({ type_uid: 600302, api: { operation: 'list' }, resources: [{ type: 'pods', namespace: 'default' }] })
    expect(toOcsf(event('k8s.request', { verb: 'delete', resource: 'pods' }))).toMatchObject({ type_uid: 600304 })
  })

  it('SSH: exec is SSH Activity Other (400799), output is Traffic (400706)', () => {
    expect(toOcsf(SAMPLES['ssh.exec'])).toMatchObject({ type_uid: 400799, dst_endpoint: { hostname: 'web-1.internal' } })
    expect(toOcsf(SAMPLES['ssh.output'])).toMatchObject({ type_uid: 400706 })
  })

  it('connections are Network Activity Open (400101) and Close (400102)', () => {
    expect(toOcsf(SAMPLES['connection.open'])).toMatchObject({ type_uid: 400101, app_name: 'postgres', src_endpoint: { ip: '127.0.0.1' }, connection_info: { uid: SAMPLES['connection.open'].connectionId } })
    expect(toOcsf(event('connection.close', { reason: 'error', error: 'target refused' }))).toMatchObject({ type_uid: 400102, status_id: 2 })
  })

  it('an agent identity is a user of type Other (Agent), with its client id as the app', () => {
    const o = toOcsf(event('query', { sql: 'select 1' }, { actor: { kind: 'agent', subject: 'ci-agent', issuer: 'https://idp', clientId: 'ci-agent', groups: ['agents'] } }))
    expect(o.actor).toMatchObject({ user: { uid: 'ci-agent', type_id: 99, type: 'Agent', groups: [{ name: 'agents' }] }, app_name: 'ci-agent', idp: { uid: 'https://idp' } })
  })
})

describe('sqlVerb', () => {
  it('skips comments, parentheses and white space', () => {
    expect(sqlVerb('-- a\n/* b */ ((select 1))')).toBe('SELECT')
    expect(sqlVerb('   ')).toBeUndefined()
  })
})
