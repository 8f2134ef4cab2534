/**
 * The PgInterceptor that carries out policy on a PostgreSQL connection: guardrails (deny, review)
 * on every Query, Parse, Bind and FunctionCall, and masking of everything the server sends.
 *
 * Deny (docs/adr/0003-deny-by-a-message-the-server-rejects.md): the refused message is replaced by
 * one the server is certain to reject at that point (a Query, or a Parse, whose text is a unique
 * marker that is a syntax error), and the server's ErrorResponse for it is rewritten into the
 * policy error (SQLSTATE 42501). So the server itself does what PostgreSQL does on an error: ends
 * a simple Query with ReadyForQuery, skips the rest of an extended batch until Sync, puts an
 * explicit transaction in the failed state and rolls back an implicit one. ResponseTracker says
 * which answer belongs to which message.
 *
 * Review: the message is held (later client messages wait behind it; the client is still read, up
 * to a limit, so a disconnect withdraws it), a NoticeResponse tells the
 * client at once, the gate decides; approved runs the original message, anything else denies it.
 *
 * The interceptor is PgPolicy, in two halves: policy-frontend.ts (client -> server: classify,
 * decide, deny, hold) on top of policy-backend.ts (server -> client: which answer is which, result
 * masking, COPY plans, errors and notices); policy-state.ts holds what they share.
 */
import { createHash, randomBytes } from 'node:crypto'
import type { ConnectionConfig } from '../../config/schema.js'
import { AgwError, describeError } from '../../errors.js'
import { compilePolicy, loadParser, Masker, sharedClassifier, type Classifier, type ReviewGate } from '../../policy/index.js'
import { PgPolicy } from './policy-frontend.js'
import type { Compiled } from './policy-state.js'
import type { PgInterceptorFactory } from './proxy.js'

export { PgPolicy }

export interface PgPolicyOptions {
  /** Decides held statements; without one, a review rule fails closed (deny). */
  gate?: ReviewGate | undefined
  /** Key for the `hash` masking style (per gateway, so equal values get equal masks). */
  maskingKey?: Buffer | undefined
  classifier?: Classifier | undefined
}

function compileConnection(c: ConnectionConfig, key: Buffer): Compiled {
  const policy = compilePolicy(c)
  let masker: Masker | undefined
  const m = c.masking
  if (m && (m.columns.length > 0 || m.detectors.length > 0)) {
    try {
      masker = new Masker(m, key)
    } catch (err) {
      throw new AgwError('bad_input', `connection "${c.name}": masking: ${describeError(err)}`)
    }
    const columns = masker
    if (columns.columnsOn) policy.maskedColumn = (name) => columns.isMaskedColumn(name)
  }
  const version = createHash('sha256')
    .update(JSON.stringify({ rules: c.rules, masking: c.masking ?? null, allowUnparsed: c.allowUnparsed, dangerous: c.dangerousFunctions ?? null }))
    .digest('hex')
    .slice(0, 16)
  return { policy, decisions: new WeakMap(), masker, version }
}

/**
 * The interceptor factory for the PostgreSQL engine. Compiles every postgres connection now, so a
 * rule or masking setting that cannot work stops the gateway at start (AgwError 'bad_input').
 */
export function pgPolicy(connections: readonly ConnectionConfig[], opts: PgPolicyOptions = {}): PgInterceptorFactory {
  const key = opts.maskingKey ?? randomBytes(32)
  const compiled = new Map<string, Compiled>()
  for (const c of connections) if (c.type === 'postgres') compiled.set(c.name, compileConnection(c, key))
  void loadParser()
  return (ctx) => {
    const c = compiled.get(ctx.connection.name) ?? compileConnection(ctx.connection, key)
    return new PgPolicy(ctx, c, opts.gate, opts.classifier ?? sharedClassifier)
  }
}
