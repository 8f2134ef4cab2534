/**
 * The gateway configuration (SPEC section 3), as a zod schema. `load.ts` reads the YAML, maps each
 * zod issue back to the key and line that is wrong, and resolves secret references.
 */
import { z } from 'zod'

const durationRe = /^(\d+)(ms|s|m|h|d)$/

/** "10m" -> 600000. Durations are written as a number and a unit: ms, s, m, h or d. */
export function parseDuration(text: string): number {
  const m = durationRe.exec(text.trim())
  if (!m) throw new Error(`"${text}" is not a duration; write a number and a unit, e.g. 30s, 10m, 1h`)
  const n = Number(m[1])
  const unit = m[2] as 'ms' | 's' | 'm' | 'h' | 'd'
  return n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit]
}

const duration = z.string().refine((s) => durationRe.test(s.trim()), {
  message: 'expected a duration such as 30s, 10m or 1h',
})

/** A secret: a literal, `env:NAME` or `file:PATH`. Resolved at load time, never logged. */
const secret = z.string().min(1)

const hostPort = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, 'expected HOST:PORT, e.g. 127.0.0.1:8443')

const issuer = z.strictObject({
  issuer: z.url({ protocol: /^https?$/ }),
  audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
  groupsClaim: z.string().min(1).default('groups'),
  subjectClaim: z.string().min(1).optional(),
  emailClaim: z.string().min(1).optional(),
  claims: z.record(z.string(), z.string()).optional(),
  algorithms: z.array(z.string()).optional(),
  requireTyp: z.string().optional(),
})

const tlsToTarget = z.union([
  z.boolean(),
  z.strictObject({
    ca: z.string().optional(),
    servername: z.string().optional(),
    rejectUnauthorized: z.boolean().default(true),
  }),
])

const target = z.strictObject({
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535),
  database: z.string().min(1).optional(),
  user: z.string().min(1).optional(),
  password: secret.optional(),
  tls: tlsToTarget.optional(),
  connectTimeout: duration.default('10s'),
})

const ruleMatch = z.strictObject({
  statement: z.array(z.string().min(1)).min(1).optional(),
  where: z.enum(['absent', 'present']).optional(),
  tables: z.array(z.string().min(1)).optional(),
  functions: z.array(z.string().min(1)).optional(),
  schemas: z.array(z.string().min(1)).optional(),
  regex: z.string().optional(),
  /** Calls a dangerous function (see `dangerousFunctions`) or runs COPY TO/FROM PROGRAM or a server file. */
  dangerous: z.boolean().optional(),
})

const rule = z.strictObject({
  name: z.string().min(1).optional(),
  match: ruleMatch,
  action: z.enum(['allow', 'deny', 'review']),
  message: z.string().optional(),
  reviewers: z.array(z.string().min(1)).optional(),
  timeout: duration.optional(),
})

const masking = z.strictObject({
  columns: z.array(z.string().min(1)).default([]),
  detectors: z.array(z.string().min(1)).default([]),
  style: z.enum(['redact', 'partial', 'hash']).default('redact'),
})

const connection = z.strictObject({
  name: z.string().regex(/^[a-zA-Z][a-zA-Z0-9_-]{0,62}$/, 'a connection name is a letter, then letters, digits, - or _'),
  type: z.enum(['postgres', 'mysql', 'ssh', 'http', 'kubernetes']),
  description: z.string().optional(),
  target,
  allow: z.array(z.string().min(1)).min(1, 'name at least one group that may use this connection'),
  rules: z.array(rule).default([]),
  masking: masking.optional(),
  /** SQL that the parser cannot read is denied unless this is true (SPEC 4: fail closed). */
  allowUnparsed: z.boolean().default(false),
  /** Function names (globs) that count as dangerous; replaces the built-in list (docs/policy.md). */
  dangerousFunctions: z.array(z.string().min(1)).optional(),
  recording: z
    .strictObject({
      /** Rows of each result kept in the recording (as sent to the client). */
      maxRowsPerQuery: z.number().int().min(0).default(100),
      maxBytesPerQuery: z.number().int().min(0).default(64 * 1024),
    })
    .default({ maxRowsPerQuery: 100, maxBytesPerQuery: 64 * 1024 }),
})

/** Audit sinks (docs/audit-sinks.md). `name` keys the sink's delivery cursor; the default derives from the destination. */
const sinkName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/, 'a sink name is letters, digits, _ . : or -').optional()
const sink = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('file'),
    name: sinkName,
    path: z.string().min(1),
    maxBytes: z.number().int().min(4096).optional(),
    keep: z.number().int().min(0).max(1000).optional(),
  }),
  z.strictObject({ type: z.literal('stdout'), name: sinkName }),
  z.strictObject({
    type: z.literal('syslog'),
    name: sinkName,
    address: z.string().regex(/^(udp|tcp|tls):\/\/.+:\d+$/, 'expected udp://, tcp:// or tls://HOST:PORT'),
    format: z.enum(['rfc5424']).default('rfc5424'),
    maxMessageBytes: z.number().int().min(480).max(1024 * 1024).optional(),
    tls: z
      .strictObject({ ca: z.string().min(1).optional(), cert: z.string().min(1).optional(), key: z.string().min(1).optional(), servername: z.string().min(1).optional() })
      .optional(),
  }),
  z.strictObject({
    type: z.literal('webhook'),
    name: sinkName,
    url: z.url(),
    format: z.enum(['jsonl', 'ocsf', 'splunk-hec', 'cef']).default('jsonl'),
    token: secret.optional(),
  }),
])

const storageSchema = z.strictObject({
  url: z.string().regex(/^(sqlite:.+|postgres(ql)?:\/\/.+)$/, 'expected sqlite:PATH or postgres://...'),
  /** Days: sessions that ended longer ago are pruned (a signed checkpoint carries the chain across). */
  retention: z.number().int().min(1, 'retention is a number of days, at least 1').optional(),
  /** A signed checkpoint every `events` events or `interval`, whichever comes first. */
  checkpoint: z
    .strictObject({ events: z.number().int().min(1).default(1000), interval: duration.default('10s') })
    .default({ events: 1000, interval: '10s' }),
})

export const configSchema = z.strictObject({
  listen: hostPort.default('127.0.0.1:8443'),
  publicUrl: z.url().optional(),
  tls: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
  identity: z.strictObject({
    issuers: z.array(issuer).min(1, 'configure at least one OIDC issuer'),
    deviceClient: z.string().min(1).default('agw-cli'),
    /** Allowed clock skew for exp/nbf; at most 60 s. */
    clockTolerance: duration.refine((d) => parseDuration(d) <= 60_000, { message: 'at most 60s' }).default('60s'),
  }),
  /** `storage: sqlite:PATH`, or the long form `storage: { url, retention, checkpoint }` (docs/operations.md). */
  storage: z.preprocess((v) => (v === undefined ? { url: 'sqlite:./agw.db' } : typeof v === 'string' ? { url: v } : v), storageSchema),
  encryption: z.strictObject({ keyFile: z.string().min(1) }).default({ keyFile: './agw.key' }),
  roles: z.strictObject({ auditors: z.array(z.string()).default([]) }).default({ auditors: [] }),
  connections: z.array(connection).default([]),
  audit: z.strictObject({ sinks: z.array(sink).default([]) }).default({ sinks: [] }),
  log: z.strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') }).default({ level: 'info' }),
})

export type GatewayConfig = z.infer<typeof configSchema>
export type ConnectionConfig = GatewayConfig['connections'][number]
export type RuleConfig = ConnectionConfig['rules'][number]
export type IssuerEntry = GatewayConfig['identity']['issuers'][number]
export type SinkConfig = GatewayConfig['audit']['sinks'][number]
export type StorageConfig = GatewayConfig['storage']
