/**
 * The configurations `npm run bench` compares. Each runs every pgbench cell and the bulk read,
 * alternating with the others in one run. Later stages add agw configurations here (policy,
 * masking): an entry of kind 'agw' gets its own gateway and `agw connect`, and `connection` is
 * merged into that gateway's connection entry, for example
 *
 *   {
 *     id: 'agw-policy',
 *     label: 'agw + guardrails + masking',
 *     kind: 'agw',
 *     connection: {
 *       rules: [{ match: { statement: ['DROP', 'TRUNCATE'] }, action: 'deny' }],
 *       masking: { columns: ['payload'], detectors: ['email', 'credit_card'] },
 *     },
 *     description: 'as agw connect, with guardrails and masking on',
 *   }
 *
 * Every agw configuration is compared with BASELINE at 8 clients in the report.
 */
import type { BenchConfig } from './targets/target.js'

export const CONFIGS: BenchConfig[] = [
  {
    id: 'direct',
    label: 'direct',
    kind: 'direct',
    description: "pgbench/psql to PostgreSQL over loopback TCP (trust): the ceiling for every other path.",
  },
  {
    id: 'agw',
    label: 'agw connect',
    kind: 'agw',
    description:
      'pgbench/psql to `agw connect` (local agent, SCRAM on the local hop), one WebSocket per client connection to the gateway (JWT-authenticated, recording every query and its first rows into SQLite), then PostgreSQL.',
  },
  {
    id: 'agw-policy',
    label: 'agw + guardrails + masking',
    kind: 'agw',
    connection: {
      rules: [
        { name: 'no-ddl', match: { statement: ['DROP', 'TRUNCATE', 'ALTER'] }, action: 'deny', message: 'schema changes go through migrations' },
        { name: 'no-unbounded-writes', match: { statement: ['DELETE', 'UPDATE'], where: 'absent' }, action: 'deny' },
        { name: 'no-secrets', match: { tables: ['secrets'] }, action: 'deny' },
      ],
      masking: { columns: ['password', 'ssn', '*_token', 'api_key'], detectors: ['email', 'credit_card', 'aws_access_key', 'jwt', 'private_key', 'bearer_token', 'us_ssn', 'phone'], style: 'redact' },
    },
    description: 'as agw connect, with guardrail rules (every statement classified by the PostgreSQL parser, cached by text) and masking of every value by column name and 8 content detectors.',
  },
  {
    id: 'pgbouncer',
    label: 'pgbouncer',
    kind: 'pgbouncer',
    description: 'pgbench/psql to pgbouncer (session pooling, SCRAM), then PostgreSQL: the reference, a mature C proxy that authenticates and pools but records nothing.',
  },
]

/** What agw configurations are compared with. */
export const BASELINE = 'pgbouncer'
/** The client count at which the targets in the issues are stated. */
export const RATIO_CLIENTS = 8
