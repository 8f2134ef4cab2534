/**
 * What the PostgreSQL policy interceptor (policy.ts) keeps per client message and per connection:
 * shared by its client -> server half (policy-frontend.ts) and its server -> client half
 * (policy-backend.ts).
 */
import type { Classification, CompiledPolicy, Decision, MaskCounts, Masker, OutputInfo, Statement } from '../../policy/index.js'
import type { RowDescriptionField } from './codec/index.js'
import type { CopyPlan, RowPlan } from './masking.js'
import type { PreparedDef, PreparedOp } from './prepared.js'

/** The policy error a client gets, and what the audit event says. */
export interface Denial {
  message: string
  rule?: string
  marker: string
}

export interface Portal {
  defs: PreparedDef[]
  statement: string
  formats: number[]
  fields: RowDescriptionField[] | undefined
  described: boolean
  /** The batch (PreparedRegistry) of its Bind: it ends with the transaction that batch ran in. */
  batch: number
  /** What its rows may be computed from (an SQL EXECUTE or FETCH: what the name stands for). */
  outputs: OutputInfo[]
}

/** A cursor a DECLARE of this connection opened (SQL cursors and portals share one namespace). */
export interface Cursor {
  outputs: OutputInfo[]
  hold: boolean
  batch: number
}

/** A simple Query on its way: which statement the server is answering. */
export interface QueryRun {
  statements: Statement[]
  index: number
  /** Prepared-statement changes per statement, resolved as each statement completes. */
  ops: (PreparedOp | undefined)[]
  outputs: OutputInfo[][]
  tainted: Set<string>
  /** Column names of `COPY table TO STDOUT` (statement 0), learnt by agw before the COPY runs. */
  copyNames?: string[]
}

export interface Data {
  deny?: Denial
  /** Sent by agw itself: its answers are not the client's (errors still are, unless `quiet`). */
  internal?: boolean
  quiet?: boolean
  /** An internal query whose RowDescription names the columns of a COPY. */
  namesFor?: QueryRun
  ops?: PreparedOp[]
  query?: QueryRun
  portal?: Portal
  describe?: { target: 'S' | 'P'; name: string }
  plan?: RowPlan | undefined
  copy?: CopyPlan | undefined
  counts?: MaskCounts
  /** The statement text, for masking.applied. */
  sql?: string
  /** A Sync or Query: the batch it ends (portals and cursors of it and earlier end with an idle ReadyForQuery). */
  endsBatch?: number
}

/** A compiled connection: rules, masker, and the policy version reviews are bound to. */
export interface Compiled {
  policy: CompiledPolicy
  /** Decisions by classification (classifications are shared and immutable; shared by this connection's clients). */
  decisions: WeakMap<Classification, Decision>
  masker: Masker | undefined
  version: string
}
