/** Statement kinds and details, from the parse tree's node types (what rules match `statement:` on). */
import type { J } from './tree.js'

/** Statement node type -> kind (and detail when fixed). Types not listed are named from the node. */
export const KINDS: Record<string, string> = {
  SelectStmt: 'SELECT',
  InsertStmt: 'INSERT',
  UpdateStmt: 'UPDATE',
  DeleteStmt: 'DELETE',
  MergeStmt: 'MERGE',
  TruncateStmt: 'TRUNCATE',
  CopyStmt: 'COPY',
  DoStmt: 'DO',
  CallStmt: 'CALL',
  PrepareStmt: 'PREPARE',
  ExecuteStmt: 'EXECUTE',
  DeallocateStmt: 'DEALLOCATE',
  ExplainStmt: 'EXPLAIN',
  VariableShowStmt: 'SHOW',
  GrantStmt: 'GRANT',
  GrantRoleStmt: 'GRANT',
  IndexStmt: 'CREATE',
  ViewStmt: 'CREATE',
  CreateTableAsStmt: 'CREATE',
  RuleStmt: 'CREATE',
  CompositeTypeStmt: 'CREATE',
  DefineStmt: 'CREATE',
  RenameStmt: 'ALTER',
  LockStmt: 'LOCK',
  ListenStmt: 'LISTEN',
  UnlistenStmt: 'UNLISTEN',
  NotifyStmt: 'NOTIFY',
  LoadStmt: 'LOAD',
  DiscardStmt: 'DISCARD',
  CheckPointStmt: 'CHECKPOINT',
  RefreshMatViewStmt: 'REFRESH',
  DeclareCursorStmt: 'DECLARE',
  ClosePortalStmt: 'CLOSE',
  ClusterStmt: 'CLUSTER',
  ReindexStmt: 'REINDEX',
  CommentStmt: 'COMMENT',
  SecLabelStmt: 'SECURITY LABEL',
  ReassignOwnedStmt: 'REASSIGN',
  DropOwnedStmt: 'DROP',
  ConstraintsSetStmt: 'SET',
  ImportForeignSchemaStmt: 'IMPORT',
  CreatedbStmt: 'CREATE',
  DropdbStmt: 'DROP',
}

const TRANSACTION: Record<string, string> = {
  TRANS_STMT_BEGIN: 'BEGIN',
  TRANS_STMT_START: 'BEGIN',
  TRANS_STMT_COMMIT: 'COMMIT',
  TRANS_STMT_ROLLBACK: 'ROLLBACK',
  TRANS_STMT_SAVEPOINT: 'SAVEPOINT',
  TRANS_STMT_RELEASE: 'RELEASE',
  TRANS_STMT_ROLLBACK_TO: 'ROLLBACK',
  TRANS_STMT_PREPARE: 'PREPARE TRANSACTION',
  TRANS_STMT_COMMIT_PREPARED: 'COMMIT PREPARED',
  TRANS_STMT_ROLLBACK_PREPARED: 'ROLLBACK PREPARED',
}

/** "OBJECT_MATVIEW" -> "MATERIALIZED VIEW". */
function objectName(objtype: unknown): string {
  const t = String(objtype ?? '').replace(/^OBJECT_/, '')
  const special: Record<string, string> = {
    MATVIEW: 'MATERIALIZED VIEW',
    FOREIGN_TABLE: 'FOREIGN TABLE',
    TABCONSTRAINT: 'CONSTRAINT',
    FDW: 'FOREIGN DATA WRAPPER',
    FOREIGN_SERVER: 'SERVER',
    OPCLASS: 'OPERATOR CLASS',
    OPFAMILY: 'OPERATOR FAMILY',
    STATISTIC_EXT: 'STATISTICS',
    TSCONFIGURATION: 'TEXT SEARCH CONFIGURATION',
    TSDICTIONARY: 'TEXT SEARCH DICTIONARY',
    TSPARSER: 'TEXT SEARCH PARSER',
    TSTEMPLATE: 'TEXT SEARCH TEMPLATE',
  }
  return special[t] ?? t.replace(/_/g, ' ')
}

/** Details named as SQL writes them where the node type's name is abbreviated (CreateTrigStmt ...). */
const DETAILS: Record<string, string> = {
  CreateTrigStmt: 'CREATE TRIGGER',
  CreateEventTrigStmt: 'CREATE EVENT TRIGGER',
  AlterEventTrigStmt: 'ALTER EVENT TRIGGER',
  CreateSeqStmt: 'CREATE SEQUENCE',
  AlterSeqStmt: 'ALTER SEQUENCE',
  CreateTableSpaceStmt: 'CREATE TABLESPACE',
  DropTableSpaceStmt: 'DROP TABLESPACE',
  AlterTableSpaceOptionsStmt: 'ALTER TABLESPACE',
  AlterTableMoveAllStmt: 'ALTER TABLE',
  CreatePLangStmt: 'CREATE LANGUAGE',
  CreateAmStmt: 'CREATE ACCESS METHOD',
  CreateOpClassStmt: 'CREATE OPERATOR CLASS',
  CreateOpFamilyStmt: 'CREATE OPERATOR FAMILY',
  AlterOpFamilyStmt: 'ALTER OPERATOR FAMILY',
  CreateStatsStmt: 'CREATE STATISTICS',
  AlterStatsStmt: 'ALTER STATISTICS',
  CreateFdwStmt: 'CREATE FOREIGN DATA WRAPPER',
  AlterFdwStmt: 'ALTER FOREIGN DATA WRAPPER',
  CreateForeignServerStmt: 'CREATE SERVER',
  AlterForeignServerStmt: 'ALTER SERVER',
  AlterTSConfigurationStmt: 'ALTER TEXT SEARCH CONFIGURATION',
  AlterTSDictionaryStmt: 'ALTER TEXT SEARCH DICTIONARY',
  CreateRangeStmt: 'CREATE TYPE',
  CreateEnumStmt: 'CREATE TYPE',
  AlterEnumStmt: 'ALTER TYPE',
  AlterDatabaseRefreshCollStmt: 'ALTER DATABASE',
  AlterDatabaseSetStmt: 'ALTER DATABASE',
  AlterRoleSetStmt: 'ALTER ROLE',
  AlterExtensionContentsStmt: 'ALTER EXTENSION',
}

/** Kind and detail of a statement node. */
export function kindOf(type: string, n: J): { kind: string; detail: string } {
  switch (type) {
    case 'TransactionStmt': {
      const k = TRANSACTION[String(n.kind)] ?? 'TRANSACTION'
      return { kind: k.split(' ')[0] as string, detail: k }
    }
    case 'VariableSetStmt': {
      const reset = String(n.kind).startsWith('VAR_RESET')
      return { kind: reset ? 'RESET' : 'SET', detail: reset ? 'RESET' : 'SET' }
    }
    case 'DropStmt':
      return { kind: 'DROP', detail: `DROP ${objectName(n.removeType)}` }
    case 'AlterTableStmt':
      return { kind: 'ALTER', detail: `ALTER ${objectName(n.objtype)}` }
    case 'CreateStmt':
      return { kind: 'CREATE', detail: 'CREATE TABLE' }
    case 'IndexStmt':
      return { kind: 'CREATE', detail: 'CREATE INDEX' }
    case 'ViewStmt':
      return { kind: 'CREATE', detail: 'CREATE VIEW' }
    case 'CreateTableAsStmt':
      return { kind: 'CREATE', detail: String(n.objtype) === 'OBJECT_MATVIEW' ? 'CREATE MATERIALIZED VIEW' : 'CREATE TABLE AS' }
    case 'GrantStmt':
      return n.is_grant ? { kind: 'GRANT', detail: 'GRANT' } : { kind: 'REVOKE', detail: 'REVOKE' }
    case 'GrantRoleStmt':
      return n.is_grant ? { kind: 'GRANT', detail: 'GRANT ROLE' } : { kind: 'REVOKE', detail: 'REVOKE ROLE' }
    case 'FetchStmt':
      return n.ismove ? { kind: 'MOVE', detail: 'MOVE' } : { kind: 'FETCH', detail: 'FETCH' }
    case 'VacuumStmt':
      return n.is_vacuumcmd ? { kind: 'VACUUM', detail: 'VACUUM' } : { kind: 'ANALYZE', detail: 'ANALYZE' }
    case 'SelectStmt':
      if (n.intoClause) return { kind: 'CREATE', detail: 'SELECT INTO' }
      return { kind: 'SELECT', detail: 'SELECT' }
    case 'CreateFunctionStmt':
      return { kind: 'CREATE', detail: n.is_procedure ? 'CREATE PROCEDURE' : 'CREATE FUNCTION' }
    case 'CreatedbStmt':
      return { kind: 'CREATE', detail: 'CREATE DATABASE' }
    case 'DropdbStmt':
      return { kind: 'DROP', detail: 'DROP DATABASE' }
  }
  const fixed = KINDS[type]
  if (fixed) return { kind: fixed, detail: fixed }
  const named = DETAILS[type]
  if (named) return { kind: named.split(' ')[0] as string, detail: named }
  // CreateRoleStmt -> CREATE ROLE, AlterSystemStmt -> ALTER SYSTEM, DropRoleStmt -> DROP ROLE ...
  const m = /^(Create|Alter|Drop)(.*?)Stmt$/.exec(type)
  if (m) {
    const verb = (m[1] as string).toUpperCase()
    const what = (m[2] as string).replace(/([a-z])([A-Z])/g, '$1 $2').toUpperCase()
    return { kind: verb, detail: what ? `${verb} ${what}` : verb }
  }
  const name = type.replace(/Stmt$/, '').replace(/([a-z])([A-Z])/g, '$1 $2').toUpperCase()
  return { kind: name, detail: name }
}

/**
 * Node types the grammar produces as a statement (PostgreSQL's `stmt` rule, libpg-query 18). The
 * rest of the parse tree's `...Stmt` types only appear inside one of these (NOT_STATEMENTS).
 */
export const STATEMENT_TYPES: readonly string[] = [
  'AlterCollationStmt', 'AlterDatabaseRefreshCollStmt', 'AlterDatabaseSetStmt', 'AlterDatabaseStmt', 'AlterDefaultPrivilegesStmt',
  'AlterDomainStmt', 'AlterEnumStmt', 'AlterEventTrigStmt', 'AlterExtensionContentsStmt', 'AlterExtensionStmt', 'AlterFdwStmt',
  'AlterForeignServerStmt', 'AlterFunctionStmt', 'AlterObjectDependsStmt', 'AlterObjectSchemaStmt', 'AlterOpFamilyStmt',
  'AlterOperatorStmt', 'AlterOwnerStmt', 'AlterPolicyStmt', 'AlterPublicationStmt', 'AlterRoleSetStmt', 'AlterRoleStmt',
  'AlterSeqStmt', 'AlterStatsStmt', 'AlterSubscriptionStmt', 'AlterSystemStmt', 'AlterTSConfigurationStmt',
  'AlterTSDictionaryStmt', 'AlterTableMoveAllStmt', 'AlterTableSpaceOptionsStmt', 'AlterTableStmt', 'AlterTypeStmt',
  'AlterUserMappingStmt', 'CallStmt', 'CheckPointStmt', 'ClosePortalStmt', 'ClusterStmt', 'CommentStmt', 'CompositeTypeStmt',
  'ConstraintsSetStmt', 'CopyStmt', 'CreateAmStmt', 'CreateCastStmt', 'CreateConversionStmt', 'CreateDomainStmt',
  'CreateEnumStmt', 'CreateEventTrigStmt', 'CreateExtensionStmt', 'CreateFdwStmt', 'CreateForeignServerStmt',
  'CreateForeignTableStmt', 'CreateFunctionStmt', 'CreateOpClassStmt', 'CreateOpFamilyStmt', 'CreatePLangStmt',
  'CreatePolicyStmt', 'CreatePublicationStmt', 'CreateRangeStmt', 'CreateRoleStmt', 'CreateSchemaStmt', 'CreateSeqStmt',
  'CreateStatsStmt', 'CreateStmt', 'CreateSubscriptionStmt', 'CreateTableAsStmt', 'CreateTableSpaceStmt',
  'CreateTransformStmt', 'CreateTrigStmt', 'CreateUserMappingStmt', 'CreatedbStmt', 'DeallocateStmt', 'DeclareCursorStmt',
  'DefineStmt', 'DeleteStmt', 'DiscardStmt', 'DoStmt', 'DropOwnedStmt', 'DropRoleStmt', 'DropStmt', 'DropSubscriptionStmt',
  'DropTableSpaceStmt', 'DropUserMappingStmt', 'DropdbStmt', 'ExecuteStmt', 'ExplainStmt', 'FetchStmt', 'GrantRoleStmt',
  'GrantStmt', 'ImportForeignSchemaStmt', 'IndexStmt', 'InsertStmt', 'ListenStmt', 'LoadStmt', 'LockStmt', 'MergeStmt',
  'NotifyStmt', 'PrepareStmt', 'ReassignOwnedStmt', 'RefreshMatViewStmt', 'ReindexStmt', 'RenameStmt', 'RuleStmt',
  'SecLabelStmt', 'SelectStmt', 'TransactionStmt', 'TruncateStmt', 'UnlistenStmt', 'UpdateStmt', 'VacuumStmt',
  'VariableSetStmt', 'VariableShowStmt', 'ViewStmt',
]

/** `...Stmt` node types that are never a statement of their own (a test keeps both lists complete). */
export const NOT_STATEMENTS: readonly string[] = ['PLAssignStmt', 'RawStmt', 'ReplicaIdentityStmt', 'ReturnStmt', 'SetOperationStmt']

/** The object types DROP ... (DropStmt) and ALTER ... (AlterTableStmt) name in the grammar. */
const DROP_OBJECTS = [
  'ACCESS_METHOD', 'AGGREGATE', 'CAST', 'COLLATION', 'CONVERSION', 'DOMAIN', 'EVENT_TRIGGER', 'EXTENSION', 'FDW', 'FOREIGN_SERVER',
  'FOREIGN_TABLE', 'FUNCTION', 'INDEX', 'LANGUAGE', 'MATVIEW', 'OPCLASS', 'OPERATOR', 'OPFAMILY', 'POLICY', 'PROCEDURE',
  'PUBLICATION', 'ROUTINE', 'RULE', 'SCHEMA', 'SEQUENCE', 'STATISTIC_EXT', 'TABLE', 'TRANSFORM', 'TRIGGER', 'TSCONFIGURATION',
  'TSDICTIONARY', 'TSPARSER', 'TSTEMPLATE', 'TYPE', 'VIEW',
]
const ALTER_TABLE_OBJECTS = ['TABLE', 'INDEX', 'SEQUENCE', 'VIEW', 'MATVIEW', 'FOREIGN_TABLE', 'TYPE']

/** Nodes that reach every branch kindOf has for a statement type. */
function probes(type: string): J[] {
  switch (type) {
    case 'TransactionStmt':
      return Object.keys(TRANSACTION).map((k) => ({ kind: k }))
    case 'VariableSetStmt':
      return [{ kind: 'VAR_SET_VALUE' }, { kind: 'VAR_RESET' }]
    case 'DropStmt':
      return DROP_OBJECTS.map((o) => ({ removeType: `OBJECT_${o}` }))
    case 'AlterTableStmt':
      return ALTER_TABLE_OBJECTS.map((o) => ({ objtype: `OBJECT_${o}` }))
    case 'CreateTableAsStmt':
      return [{ objtype: 'OBJECT_TABLE' }, { objtype: 'OBJECT_MATVIEW' }]
    case 'GrantStmt':
    case 'GrantRoleStmt':
      return [{ is_grant: true }, { is_grant: false }]
    case 'FetchStmt':
      return [{ ismove: true }, { ismove: false }]
    case 'VacuumStmt':
      return [{ is_vacuumcmd: true }, { is_vacuumcmd: false }]
    case 'SelectStmt':
      return [{}, { intoClause: {} }]
    case 'CreateFunctionStmt':
      return [{}, { is_procedure: true }]
  }
  return [{}]
}

function producible(): { kinds: Set<string>; details: Set<string> } {
  const kinds = new Set<string>()
  const details = new Set<string>()
  for (const type of STATEMENT_TYPES) {
    for (const n of probes(type)) {
      const k = kindOf(type, n)
      kinds.add(k.kind)
      details.add(k.detail)
    }
  }
  // Parts classify() adds on its own: COPY ... FROM counts as an INSERT (detail COPY FROM).
  details.add('COPY FROM')
  return { kinds, details }
}

const PRODUCIBLE = producible()

/** Every statement kind (SELECT, DROP ...) a rule can match. */
export const STATEMENT_KINDS: ReadonlySet<string> = PRODUCIBLE.kinds
/** Every statement detail (DROP TABLE, CREATE FUNCTION ...) a rule can match. */
export const STATEMENT_DETAILS: ReadonlySet<string> = PRODUCIBLE.details

/** A `statement:` entry as rules compare it: upper case, single spaces. */
export function normalizeKind(written: string): string {
  return written.trim().toUpperCase().replace(/\s+/g, ' ')
}

/** Whether a `statement:` entry can ever match (a kind or a detail the classifier produces). */
export function isStatementKind(written: string): boolean {
  const k = normalizeKind(written)
  return STATEMENT_KINDS.has(k) || STATEMENT_DETAILS.has(k)
}

/** Levenshtein distance, for suggestions. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) {
      const sub = (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1)
      cur.push(Math.min(sub, (prev[j] as number) + 1, (cur[j - 1] as number) + 1))
    }
    prev = cur
  }
  return prev[b.length] as number
}

/** The known name closest to `written`, when it is close enough to be a typo of it. */
export function nearest(written: string, known: Iterable<string>): string | undefined {
  let best: string | undefined
  let bestDistance = Infinity
  for (const k of known) {
    const d = editDistance(written, k)
    if (d < bestDistance || (d === bestDistance && best !== undefined && k.length < best.length)) {
      best = k
      bestDistance = d
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(written.length / 3)) ? best : undefined
}

/** Why a `statement:` entry can never match, with the nearest valid name; undefined when it is valid. */
export function unknownKindProblem(written: string): string | undefined {
  if (isStatementKind(written)) return undefined
  const k = normalizeKind(written)
  const guess = nearest(k, [...STATEMENT_KINDS, ...STATEMENT_DETAILS])
  const hint = guess ? `did you mean ${guess}?` : 'see docs/policy.md for the statement kinds'
  return `unknown statement kind "${written}", so the rule could never match; ${hint}`
}
