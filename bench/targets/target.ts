/**
 * A configuration under test: how pgbench and psql reach PostgreSQL (directly, through pgbouncer,
 * through agw), and which processes in between are measured.
 */
import type { Endpoint } from '../lib/pgbench.js'

export type TargetKind = 'direct' | 'pgbouncer' | 'agw'

/** Roles of the measured processes: the proxy (gateway or pgbouncer) and agw's local agent. */
export type Role = 'proxy' | 'agent'

export interface BenchConfig {
  /** Short id for flags and JSON (`--configs direct,agw`). */
  id: string
  /** As shown in RESULTS.md. */
  label: string
  kind: TargetKind
  /**
   * agw only: keys merged into the gateway's connection entry (SPEC section 3), e.g. `rules`,
   * `masking`, `recording`. The connection's name, type, target and allow are set by the bench.
   */
  connection?: Record<string, unknown>
  /** Whether the bulk read runs through this configuration (default true). */
  bulk?: boolean
  /** One line for "how to read this". */
  description: string
}

export interface RunningTarget {
  config: BenchConfig
  endpoint: Endpoint
  processes: ReadonlyMap<Role, number>
  /** Stops what was started; resolves with facts for the report (e.g. events recorded). */
  stop(): Promise<string[]>
}
