/**
 * OCSF 1.3.0 (Open Cybersecurity Schema Framework, https://schema.ocsf.io/1.3.0) for agw's audit
 * events. Each event type maps to one class; the mapping table is in docs/events.md ("SIEM
 * formats"). Stateless: one agw event gives one OCSF event, so a sink that resumes mid-session or
 * an export with --since maps the same way. Everything agw knows that has no OCSF attribute is kept
 * under `unmapped.agw` (the event as stored), so nothing is lost in translation.
 *
 * Every event carries the base attributes (activity_id, category_uid, class_uid, type_uid =
 * class_uid * 100 + activity_id, severity_id, time, metadata with product and version) and its
 * class's required attributes; test/unit/audit/formats/ocsf.test.ts checks both per class.
 */
import { hostname } from 'node:os'
import { isIP } from 'node:net'
import type { Actor, AuditEvent, EventType } from '../../recording/events.js'
import { VERSION } from '../../version.js'
import { eventObject } from './jsonl.js'

export const OCSF_VERSION = '1.3.0'

export interface OcsfClass {
  uid: number
  name: string
  categoryUid: number
  categoryName: string
}

export const OCSF_CLASSES = {
  base: { uid: 0, name: 'Base Event', categoryUid: 0, categoryName: 'Uncategorized' },
  authentication: { uid: 3002, name: 'Authentication', categoryUid: 3, categoryName: 'Identity & Access Management' },
  networkActivity: { uid: 4001, name: 'Network Activity', categoryUid: 4, categoryName: 'Network Activity' },
  httpActivity: { uid: 4002, name: 'HTTP Activity', categoryUid: 4, categoryName: 'Network Activity' },
  sshActivity: { uid: 4007, name: 'SSH Activity', categoryUid: 4, categoryName: 'Network Activity' },
  apiActivity: { uid: 6003, name: 'API Activity', categoryUid: 6, categoryName: 'Application Activity' },
  datastoreActivity: { uid: 6005, name: 'Datastore Activity', categoryUid: 6, categoryName: 'Application Activity' },
} as const satisfies Record<string, OcsfClass>

export type OcsfEvent = Record<string, unknown> & {
  activity_id: number
  activity_name: string
  category_uid: number
  class_uid: number
  type_uid: number
  severity_id: number
  status_id: number
  time: number
  metadata: Record<string, unknown>
}

/** Which class each agw event type maps to (the table in docs/events.md). */
export const OCSF_CLASS_OF: Record<EventType, OcsfClass> = {
  'auth.login': OCSF_CLASSES.authentication,
  'auth.failed': OCSF_CLASSES.authentication,
  'session.start': OCSF_CLASSES.authentication,
  'session.end': OCSF_CLASSES.authentication,
  'connection.open': OCSF_CLASSES.networkActivity,
  'connection.close': OCSF_CLASSES.networkActivity,
  query: OCSF_CLASSES.datastoreActivity,
  'query.result': OCSF_CLASSES.datastoreActivity,
  'query.denied': OCSF_CLASSES.datastoreActivity,
  'review.requested': OCSF_CLASSES.apiActivity,
  'review.approved': OCSF_CLASSES.apiActivity,
  'review.denied': OCSF_CLASSES.apiActivity,
  'review.expired': OCSF_CLASSES.apiActivity,
  'ssh.exec': OCSF_CLASSES.sshActivity,
  'ssh.output': OCSF_CLASSES.sshActivity,
  'terminal.output': OCSF_CLASSES.base,
  'http.request': OCSF_CLASSES.httpActivity,
  'http.response': OCSF_CLASSES.httpActivity,
  'k8s.request': OCSF_CLASSES.apiActivity,
  'masking.applied': OCSF_CLASSES.base,
}

const SEVERITY = { 1: 'Informational', 2: 'Low', 3: 'Medium', 4: 'High' } as const
type SeverityId = keyof typeof SEVERITY
const STATUS = { 0: 'Unknown', 1: 'Success', 2: 'Failure', 99: 'Other' } as const
type StatusId = keyof typeof STATUS

type Activity = readonly [id: number, name: string]
const UNKNOWN: Activity = [0, 'Unknown']

// ---- small readers for the loosely typed `data` payloads ----

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined
}
function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined
}
function obj(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined
}
/** Drops undefined values so the JSON has no empty keys. */
function compact<T extends Record<string, unknown>>(o: T): T {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k]
  return o
}

// ---- objects ----

function user(a: Actor | undefined, fallbackName?: string): Record<string, unknown> {
  if (!a) return { name: fallbackName ?? 'unknown', type_id: 0, type: 'Unknown' }
  return compact({
    uid: a.subject,
    name: a.email ?? a.subject,
    email_addr: a.email,
    type_id: a.kind === 'human' ? 1 : 99,
    type: a.kind === 'human' ? 'User' : 'Agent',
    groups: a.groups?.map((name) => ({ name })),
  })
}

function actor(e: AuditEvent): Record<string, unknown> {
  const a = e.actor
  return compact({
    user: user(a),
    session: e.sessionId ? { uid: e.sessionId } : undefined,
    idp: a ? { uid: a.issuer, name: a.issuer } : undefined,
    app_name: a?.clientId,
  })
}

/** A network endpoint: an IP when the event has one, else a name; never empty (OCSF needs one of them). */
function endpoint(ipOrHost: unknown, fallback: { name?: string | undefined; uid?: string | undefined }): Record<string, unknown> {
  const v = str(ipOrHost)
  if (v) {
    const ip = v.replace(/^::ffff:/, '')
    if (isIP(ip)) return { ip }
    return { hostname: v }
  }
  return compact({ name: fallback.name, uid: fallback.uid ?? (fallback.name ? undefined : 'unknown') })
}

/** Where an activity came from: the client's address when the event carries it, else the agw connection or session. */
function source(e: AuditEvent): Record<string, unknown> {
  return endpoint(e.data.remote ?? e.data.clientIp, { uid: e.connectionId ?? e.sessionId })
}

/** What it went to: the connection's target as the gateway names it. */
function destination(e: AuditEvent): Record<string, unknown> {
  return endpoint(e.data.host ?? e.data.targetHost, { name: e.connection ?? 'agw' })
}

function gatewayEndpoint(): Record<string, unknown> {
  return { hostname: hostname(), name: 'agw gateway' }
}

// ---- activities ----

/** Datastore Activity's activity for a SQL verb (a label for the SIEM, not a policy decision). */
const SQL_ACTIVITY: Record<string, Activity> = {
  SELECT: [4, 'Query'],
  WITH: [4, 'Query'],
  SHOW: [4, 'Query'],
  EXPLAIN: [4, 'Query'],
  TABLE: [4, 'Query'],
  VALUES: [4, 'Query'],
  FETCH: [1, 'Read'],
  INSERT: [6, 'Create'],
  CREATE: [6, 'Create'],
  UPDATE: [2, 'Update'],
  MERGE: [2, 'Update'],
  ALTER: [2, 'Update'],
  DELETE: [7, 'Delete'],
  TRUNCATE: [7, 'Delete'],
  DROP: [7, 'Delete'],
}

/** The first keyword of a statement, past comments, parentheses and white space. */
export function sqlVerb(sql: string): string | undefined {
  const s = sql.replace(/^(?:\s+|\(+|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)+/, '')
  return /^[A-Za-z]+/.exec(s)?.[0].toUpperCase()
}

function sqlActivity(sql: string | undefined): Activity {
  if (!sql) return UNKNOWN
  const verb = sqlVerb(sql)
  if (!verb) return UNKNOWN
  if (verb === 'COPY') return /\bFROM\s+STDIN\b/i.test(sql) ? [5, 'Write'] : [1, 'Read']
  return SQL_ACTIVITY[verb] ?? [99, verb]
}

const HTTP_ACTIVITY: Record<string, Activity> = {
  CONNECT: [1, 'Connect'],
  DELETE: [2, 'Delete'],
  GET: [3, 'Get'],
  HEAD: [4, 'Head'],
  OPTIONS: [5, 'Options'],
  POST: [6, 'Post'],
  PUT: [7, 'Put'],
  TRACE: [8, 'Trace'],
  PATCH: [9, 'Patch'],
}

const K8S_ACTIVITY: Record<string, Activity> = {
  create: [1, 'Create'],
  get: [2, 'Read'],
  list: [2, 'Read'],
  watch: [2, 'Read'],
  update: [3, 'Update'],
  patch: [3, 'Update'],
  delete: [4, 'Delete'],
  deletecollection: [4, 'Delete'],
}

interface Mapped {
  activity: Activity
  severity?: SeverityId
  status?: StatusId
  statusDetail?: string | undefined
  message: string
  attrs: Record<string, unknown>
}

function httpRequest(d: Record<string, unknown>): Record<string, unknown> | undefined {
  const method = str(d.method)?.toUpperCase()
  const url = str(d.url) ?? str(d.path)
  if (!method && !url) return undefined
  return compact({ http_method: method, url: url ? { url_string: url, path: str(d.path) } : undefined, user_agent: str(d.userAgent) })
}

function mapAuthentication(e: AuditEvent): Mapped {
  const d = e.data
  const service = { name: 'agw' }
  switch (e.type) {
    case 'auth.login':
      return {
        activity: [1, 'Logon'],
        status: 1,
        message: `${e.actor?.email ?? e.actor?.subject ?? 'someone'} logged in`,
        attrs: { user: user(e.actor), service, auth_protocol_id: 4, auth_protocol: 'OpenID', is_remote: true, src_endpoint: source(e), dst_endpoint: gatewayEndpoint() },
      }
    case 'auth.failed':
      return {
        activity: [1, 'Logon'],
        status: 2,
        severity: 3,
        statusDetail: str(d.reason),
        message: `authentication failed: ${str(d.reason) ?? 'unknown reason'}`,
        attrs: { user: user(e.actor), service, auth_protocol_id: 4, auth_protocol: 'OpenID', is_remote: true, src_endpoint: source(e), dst_endpoint: gatewayEndpoint() },
      }
    case 'session.start':
      return {
        activity: [1, 'Logon'],
        status: 1,
        message: `session started by ${e.actor?.email ?? e.actor?.subject ?? 'unknown'} (agent ${str(d.agent) ?? 'unknown'})`,
        attrs: {
          user: user(e.actor),
          service,
          logon_type_id: 3,
          logon_type: 'Network',
          is_remote: true,
          session: compact({ uid: e.sessionId, created_time: Date.parse(e.time) }),
          src_endpoint: endpoint(d.host, { name: str(d.agent) ?? 'agent' }),
          dst_endpoint: gatewayEndpoint(),
        },
      }
    default: {
      const status = str(d.status)
      return {
        activity: [2, 'Logoff'],
        status: status === 'ended' ? 1 : status === 'error' ? 2 : 99,
        severity: status === 'ended' ? 1 : 2,
        statusDetail: status,
        message: `session ended (${status ?? 'unknown'})`,
        attrs: {
          user: user(e.actor),
          service,
          session: compact({ uid: e.sessionId }),
          duration: num(d.durationMs),
          dst_endpoint: gatewayEndpoint(),
        },
      }
    }
  }
}

function mapConnection(e: AuditEvent): Mapped {
  const d = e.data
  const info = compact({ uid: e.connectionId, protocol_name: 'tcp', direction_id: 2, direction: 'Outbound' })
  const common = { actor: actor(e), src_endpoint: source(e), dst_endpoint: destination(e), connection_info: info, app_name: str(d.type) }
  if (e.type === 'connection.open') {
    return { activity: [1, 'Open'], status: 1, message: `connection ${e.connection ?? 'unknown'} opened`, attrs: common }
  }
  const failed = str(d.reason) === 'error'
  return {
    activity: [2, 'Close'],
    status: failed ? 2 : 1,
    severity: failed ? 2 : 1,
    statusDetail: str(d.error) ?? str(d.reason),
    message: `connection ${e.connection ?? 'unknown'} closed${failed ? ` with an error: ${str(d.error) ?? 'unknown'}` : ''}`,
    attrs: { ...common, duration: num(d.durationMs) },
  }
}

function mapDatastore(e: AuditEvent): Mapped {
  const d = e.data
  const database = { name: str(d.database) ?? e.connection ?? 'unknown', type_id: 1, type: 'Relational' }
  const common = { actor: actor(e), src_endpoint: source(e), dst_endpoint: destination(e), database }
  const queryId = d.queryId !== undefined ? String(d.queryId) : undefined
  if (e.type === 'query') {
    const sql = str(d.sql)
    return {
      activity: sqlActivity(sql),
      status: 0,
      message: sql ? sql.slice(0, 200) : 'query',
      attrs: { ...common, query_info: compact({ uid: queryId, datastore_query: sql, query_time: Date.parse(e.time) }) },
    }
  }
  if (e.type === 'query.denied') {
    const sql = str(d.sql)
    const reason = str(d.message) ?? str(d.reason) ?? str(d.rule)
    return {
      activity: sqlActivity(sql),
      status: 2,
      severity: 3,
      statusDetail: reason,
      message: `query denied${reason ? `: ${reason}` : ''}`,
      attrs: { ...common, query_info: compact({ uid: queryId, datastore_query: sql }) },
    }
  }
  // query.result: the verb comes from the command tag ("SELECT 1", "INSERT 0 3").
  const error = obj(d.error)
  const tag = str(d.tag)
  const skipped = d.skipped === true
  return {
    activity: tag ? sqlActivity(tag) : UNKNOWN,
    status: error ? 2 : skipped ? 99 : 1,
    statusDetail: error ? str(error.message) : skipped ? str(d.reason) : tag,
    message: error ? `query failed: ${str(error.message) ?? ''}` : skipped ? 'query not run' : `${tag ?? 'result'}`,
    attrs: { ...common, query_info: compact({ uid: queryId, bytes_out: num(d.copyBytes) }), duration: num(d.durationMs) },
  }
}

function mapApi(e: AuditEvent): Mapped {
  const d = e.data
  if (e.type === 'k8s.request') {
    const verb = str(d.verb)?.toLowerCase()
    const activity: Activity = (verb && K8S_ACTIVITY[verb]) || (verb ? [99, verb] : UNKNOWN)
    const code = num(d.status)
    return {
      activity,
      status: code === undefined ? 0 : code < 400 ? 1 : 2,
      message: `kubernetes ${verb ?? 'request'} ${str(d.resource) ?? ''}`.trim(),
      attrs: {
        actor: actor(e),
        src_endpoint: source(e),
        dst_endpoint: destination(e),
        api: compact({ operation: verb ?? 'unknown', service: { name: 'kubernetes' } }),
        resources: str(d.resource) ? [compact({ type: str(d.resource), name: str(d.name), namespace: str(d.namespace) })] : undefined,
        http_request: httpRequest(d),
        http_response: code !== undefined ? { code } : undefined,
      },
    }
  }
  // review.*: a review's lifecycle, as calls on agw's review API.
  const what = e.type.slice('review.'.length)
  const activity: Activity = what === 'requested' ? [1, 'Create'] : what === 'expired' ? [99, 'Expire'] : [3, 'Update']
  const reviewId = str(d.reviewId) ?? str(d.id)
  return {
    activity,
    status: 1,
    severity: what === 'denied' || what === 'expired' ? 2 : 1,
    statusDetail: what,
    message: reviewId ? `review ${reviewId} ${what}` : `review ${what}`,
    attrs: {
      actor: actor(e),
      src_endpoint: source(e),
      dst_endpoint: gatewayEndpoint(),
      api: { operation: e.type, service: { name: 'agw reviews' }, ...(reviewId ? { request: { uid: reviewId } } : {}) },
      resources: [compact({ uid: reviewId ?? 'unknown', type: 'review', name: str(d.sql) ?? str(d.command) })],
    },
  }
}

function mapSsh(e: AuditEvent): Mapped {
  const d = e.data
  const common = { actor: actor(e), src_endpoint: source(e), dst_endpoint: destination(e), connection_info: compact({ uid: e.connectionId, protocol_name: 'tcp' }) }
  if (e.type === 'ssh.exec') {
    return { activity: [99, 'Exec'], status: 0, message: `ssh exec: ${str(d.command) ?? ''}`.slice(0, 200), attrs: common }
  }
  return { activity: [6, 'Traffic'], status: 0, message: 'ssh output', attrs: common }
}

function mapHttp(e: AuditEvent): Mapped {
  const d = e.data
  const method = str(d.method)?.toUpperCase()
  const activity: Activity = (method && HTTP_ACTIVITY[method]) || (method ? [99, method] : UNKNOWN)
  const code = num(d.status)
  const req = httpRequest(d)
  const attrs: Record<string, unknown> = { actor: actor(e), src_endpoint: source(e), dst_endpoint: destination(e) }
  // HTTP Activity needs http_request or http_response; a request event always has the first.
  attrs.http_request = req ?? { http_method: method ?? 'UNKNOWN' }
  if (code !== undefined) {
    attrs.http_response = { code }
    attrs.http_status = code
  }
  return {
    activity,
    status: code === undefined ? 0 : code < 400 ? 1 : 2,
    message: `${method ?? 'HTTP'} ${str(d.url) ?? str(d.path) ?? ''}${code !== undefined ? ` -> ${code}` : ''}`.trim(),
    attrs,
  }
}

function mapBase(e: AuditEvent): Mapped {
  // Base Event has no actor: who it was stays in unmapped.agw.actor.
  return { activity: [99, e.type], status: 0, message: e.type, attrs: {} }
}

/** The mapping for each OCSF class agw emits. */
const MAPPERS: Record<number, (e: AuditEvent) => Mapped> = {
  [OCSF_CLASSES.authentication.uid]: mapAuthentication,
  [OCSF_CLASSES.networkActivity.uid]: mapConnection,
  [OCSF_CLASSES.datastoreActivity.uid]: mapDatastore,
  [OCSF_CLASSES.apiActivity.uid]: mapApi,
  [OCSF_CLASSES.sshActivity.uid]: mapSsh,
  [OCSF_CLASSES.httpActivity.uid]: mapHttp,
}

/** Maps one agw event to OCSF 1.3.0. */
export function toOcsf(e: AuditEvent): OcsfEvent {
  const cls = OCSF_CLASS_OF[e.type] ?? OCSF_CLASSES.base
  const m = (MAPPERS[cls.uid] ?? mapBase)(e)
  const [activityId, activityName] = m.activity
  const severityId = m.severity ?? 1
  const statusId = m.status ?? 0
  const out: OcsfEvent = {
    activity_id: activityId,
    activity_name: activityName,
    category_uid: cls.categoryUid,
    category_name: cls.categoryName,
    class_uid: cls.uid,
    class_name: cls.name,
    type_uid: cls.uid * 100 + activityId,
    type_name: `${cls.name}: ${activityName}`,
    severity_id: severityId,
    severity: SEVERITY[severityId],
    status_id: statusId,
    status: STATUS[statusId],
    time: Date.parse(e.time),
    message: m.message,
    metadata: compact({
      version: OCSF_VERSION,
      product: { name: 'agw', vendor_name: 'agw', version: VERSION },
      uid: e.id,
      sequence: e.seq,
      correlation_uid: e.sessionId,
      event_code: e.type,
      log_name: 'agw audit',
      original_time: e.time,
    }),
    ...compact(m.attrs),
    unmapped: { agw: eventObject(e) },
  }
  if (m.statusDetail !== undefined) out.status_detail = m.statusDetail
  return out
}
