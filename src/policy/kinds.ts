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
  const special: Record<string, string> = { MATVIEW: 'MATERIALIZED VIEW', FOREIGN_TABLE: 'FOREIGN TABLE', TABCONSTRAINT: 'CONSTRAINT', FDW: 'FOREIGN DATA WRAPPER', FOREIGN_SERVER: 'SERVER' }
  return special[t] ?? t.replace(/_/g, ' ')
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
  }
  const fixed = KINDS[type]
  if (fixed) return { kind: fixed, detail: fixed }
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
