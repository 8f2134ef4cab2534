import { adminEndpoint } from '../lib/postgres.js'
import type { BenchConfig, RunningTarget } from './target.js'

/** The machine's PostgreSQL itself (trust on loopback): the ceiling for every other path. */
export function startDirect(config: BenchConfig, database: string): RunningTarget {
  return { config, endpoint: adminEndpoint(database), processes: new Map(), stop: async () => [] }
}
