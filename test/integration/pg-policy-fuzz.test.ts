/**
 * Issue 10, tests: a property-based fuzzer of the PostgreSQL wire protocol through agw, against the
 * machine's real server. fast-check builds message sequences from Parse, Bind, Describe, Execute,
 * Close, Flush, Sync and Query, with names from a small pool (the unnamed '', names that differ only
 * in case, names longer than 63 bytes and names that collide on their first 63), settings changes
 * (standard_conforming_strings by Query, by unsynced Execute, by set_config), DO blocks that PREPARE,
 * DEALLOCATE and OPEN cursors, DECLARE/FETCH/CLOSE, and statements from a small attack corpus. After
 * each sequence, on a direct connection: the canary table exists with all its rows, and nothing the
 * client received holds the denied table's marker or the masked column's secret. Every review is
 * denied, so any write that lands is a failure.
 *
 * AGW_FUZZ_RUNS (default 200) sequences, AGW_FUZZ_SECONDS stops earlier, AGW_FUZZ_SEED and
 * AGW_FUZZ_PATH replay a failure fast-check printed. The classes of issue 10 items 4-6 (routine
 * bodies, NOTIFY payloads, lineage through SQL-from-text) and of the bypasses found here are
 * generated too (AGW_FUZZ_KNOWN=0 / AGW_FUZZ_FOUND=0 leave them out). `npm run fuzz` is the long run (test/FUZZ.md).
 */
import fc from 'fast-check'
import { afterAll, beforeAll, expect, inject, it } from 'vitest'
import type { BackendMessage, FrontendMessage } from '../../src/protocols/postgres/codec/index.js'
import { connectTestIssuer } from '../support/oidc.js'
import { DenyAllGate, direct, exchange, openDirect, refusedByAgw, sleep, startConnected, visible, type ConnectedGateway } from '../support/pg-policy-harness.js'
import { rawQuery, type RawPg } from '../support/pg-raw.js'

const RUNS = Number(process.env.AGW_FUZZ_RUNS ?? 200)
const SECONDS = Number(process.env.AGW_FUZZ_SECONDS ?? 0)
const KNOWN = process.env.AGW_FUZZ_KNOWN !== '0'
/** Also generate the classes of the bypasses this fuzzer found (FOUND below; all fixed): on unless AGW_FUZZ_FOUND=0. */
const FOUND_CLASSES = process.env.AGW_FUZZ_FOUND !== '0'
const SEED = process.env.AGW_FUZZ_SEED ? Number(process.env.AGW_FUZZ_SEED) : Date.now() ^ (Math.random() * 0x7fffffff)
const PATH = process.env.AGW_FUZZ_PATH
/** The scratch schema (the SQL below says agw_fz; another name lets several fuzzers share a server). */
const SCHEMA = process.env.AGW_FUZZ_SCHEMA ?? 'agw_fz'
const own = (sql: string): string => sql.replaceAll('agw_fz', SCHEMA)

const HIDDEN = 'fz-hidden-Mk3q'
const SECRET = 'fz-secret-Wp9t'
const CANARY = '1,2,3,4,5'

const idp = connectTestIssuer(inject('issuerUrl'))
/** Reviews are denied after a few milliseconds, so that messages behind a held one queue up. */
const gate = new DenyAllGate(5)
let agw: ConnectedGateway
let checker: RawPg

const RESET = `DROP TABLE IF EXISTS agw_fz.canary; CREATE TABLE agw_fz.canary (id int); INSERT INTO agw_fz.canary SELECT generate_series(1, 5);
DROP TABLE IF EXISTS agw_fz.hidden; CREATE TABLE agw_fz.hidden (x text); INSERT INTO agw_fz.hidden VALUES ('${HIDDEN}');
DROP ROUTINE IF EXISTS agw_fz.f`

const SETUP = `DROP SCHEMA IF EXISTS agw_fz CASCADE; CREATE SCHEMA agw_fz;
CREATE TABLE agw_fz.users (id int, name text, secret text); INSERT INTO agw_fz.users VALUES (1, 'ann', '${SECRET}'), (2, 'bob', '${SECRET}');
${RESET};
CREATE FUNCTION agw_fz.state() RETURNS text LANGUAGE plpgsql AS $f$
DECLARE r text; h text;
BEGIN
  IF to_regclass('agw_fz.canary') IS NULL THEN RETURN 'canary dropped'; END IF;
  IF to_regclass('agw_fz.hidden') IS NULL THEN RETURN 'hidden dropped'; END IF;
  EXECUTE 'SELECT string_agg(id::text, '','' ORDER BY id) FROM agw_fz.canary' INTO r;
  EXECUTE 'SELECT string_agg(x, '','') FROM agw_fz.hidden' INTO h;
  RETURN 'canary=' || coalesce(r, '-') || ' hidden=' || coalesce(h, '-');
END $f$`
const GOOD_STATE = `canary=${CANARY} hidden=${HIDDEN}`

// ---- the attack corpus ----
const q = (s: string): string => s.replaceAll("'", "''")
const ATTACKS = [
  'DROP TABLE agw_fz.canary',
  'DELETE FROM agw_fz.canary',
  'DELETE FROM agw_fz.canary WHERE id > 0',
  'TRUNCATE agw_fz.canary',
  'UPDATE agw_fz.canary SET id = id + 100',
  'INSERT INTO agw_fz.canary VALUES (99)',
  'WITH d AS (DELETE FROM agw_fz.canary RETURNING 1) SELECT count(*) FROM d',
  'SELECT * FROM agw_fz.hidden',
  'SELECT x AS y FROM agw_fz.hidden',
  'SELECT secret FROM agw_fz.users',
  'SELECT secret AS s, name FROM agw_fz.users',
  'SELECT * FROM agw_fz.users',
  'COPY agw_fz.users TO STDOUT',
  'COPY (SELECT secret FROM agw_fz.users) TO STDOUT',
  'COPY agw_fz.hidden TO STDOUT',
  'SELECT upper(secret) FROM agw_fz.users',
  // The class of FOUND[3]: generated only with AGW_FUZZ_FOUND=1.
  ...(FOUND_CLASSES ? ["COPY agw_fz.users TO STDOUT (DELIMITER '-')"] : []),
  "SELECT 'a\\', ' ; DROP TABLE agw_fz.canary; --'",
  "SELECT 'a\\', ' ; WITH d AS (DELETE FROM agw_fz.canary RETURNING 1) SELECT count(*) FROM d; --'",
  "SELECT 'a\\', ' , (SELECT x FROM agw_fz.hidden) --'",
  "SELECT 'a\\', ' , (SELECT secret FROM agw_fz.users LIMIT 1) AS name --'",
  "SELECT E'\\\\', ' ; DROP TABLE agw_fz.canary; --'",
  "SELECT 'a\\'' ; DELETE FROM agw_fz.canary; --'",
]
const SELECTS = ['SELECT * FROM agw_fz.hidden', 'SELECT secret FROM agw_fz.users', 'SELECT secret AS name FROM agw_fz.users', 'SELECT id FROM agw_fz.canary']
const BENIGN = [
  'SELECT 1',
  'SELECT id FROM agw_fz.canary',
  'SELECT name FROM agw_fz.users',
  'BEGIN',
  'COMMIT',
  'ROLLBACK',
  'SAVEPOINT sp',
  'ROLLBACK TO SAVEPOINT sp',
  'RELEASE SAVEPOINT sp',
  'DISCARD ALL',
  'DEALLOCATE ALL',
  'CLOSE ALL',
  "SELECT 'x\\'",
  'SELECT pg_sleep(0)',
]
const SETTINGS = [
  'SET standard_conforming_strings = off',
  'SET standard_conforming_strings = on',
  'RESET standard_conforming_strings',
  "SELECT set_config('standard_conforming_strings', 'off', false)",
  "SET LOCAL standard_conforming_strings = 'off'",
  'SET backslash_quote = on',
]
/** Issue 10 items 4-6 (fixed): left out only with AGW_FUZZ_KNOWN=0. */
const KNOWN_CLASSES = [
  "CREATE OR REPLACE FUNCTION agw_fz.f() RETURNS void LANGUAGE sql AS 'DELETE FROM agw_fz.canary'",
  'SELECT agw_fz.f()',
  "SELECT query_to_xml('select secret from agw_fz.users', true, true, '')",
  "SELECT query_to_xml('select x from agw_fz.hidden', true, true, '')",
  'SELECT json_each_text(row_to_json(u)) FROM agw_fz.users u',
  "SELECT pg_notify('agw_fz', secret) FROM agw_fz.users",
  'LISTEN agw_fz',
  "SELECT set_config('application_name', secret, false) FROM agw_fz.users",
  'SHOW application_name',
]

const LONG = 'n'.repeat(63)
/**
 * Protocol names are compared by the server on their first 63 bytes; SQL identifiers are cut to 63
 * bytes on a character boundary (so `nnn…é` of 64 bytes is `nnn…` of 62 in SQL).
 */
const NAMES = ['', '', 'a', 'b', 'A', 'foo', 'n'.repeat(62), LONG, `${LONG}a`, `${LONG}b`, `${'n'.repeat(62)}é`, `${'n'.repeat(62)}è`]
const name = fc.constantFrom(...NAMES)
/** A name in SQL: double-quoted, or bare (then the server folds it to lower case) when it can be. */
const identArb = fc.tuple(name, fc.boolean()).map(([n, bare]) => (bare && /^[a-zA-Z]+$/.test(n) ? n : `"${n || 'unnamed'}"`))
const ident = (n: string): string => `"${n || 'unnamed'}"`

const sqlArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...ATTACKS) },
  { weight: 2, arbitrary: fc.constantFrom(...BENIGN) },
  { weight: 3, arbitrary: fc.constantFrom(...SETTINGS) },
  ...(KNOWN ? [{ weight: 2, arbitrary: fc.constantFrom(...KNOWN_CLASSES) }] : []),
  {
    weight: 3,
    arbitrary: fc.oneof(
      // A backslash in a literal of a DO body is the class of FOUND[0]: left out unless AGW_FUZZ_FOUND=1.
      fc
        .tuple(name, fc.constantFrom(...ATTACKS.filter((a) => FOUND_CLASSES || !a.includes('\\'))))
        .map(([n, a]) => `DO $$ BEGIN EXECUTE 'PREPARE ${q(ident(n))} AS ${q(a)}'; END $$`),
      name.map((n) => `DO $$ BEGIN EXECUTE 'DEALLOCATE ${q(ident(n))}'; END $$`),
      fc.tuple(name, fc.constantFrom(...SELECTS)).map(([n, s]) => `DO $$ DECLARE c refcursor := '${q(n)}'; BEGIN OPEN c FOR ${s}; END $$`),
      fc.tuple(identArb, fc.constantFrom(...SELECTS)).map(([n, s]) => `DECLARE ${n} CURSOR WITH HOLD FOR ${s}`),
      fc.tuple(identArb, fc.constantFrom(...SELECTS)).map(([n, s]) => `DECLARE ${n} CURSOR FOR ${s}`),
      identArb.map((n) => `FETCH ALL FROM ${n}`),
      identArb.map((n) => `MOVE BACKWARD ALL IN ${n}`),
      identArb.map((n) => `CLOSE ${n}`),
      fc.tuple(identArb, fc.constantFrom(...ATTACKS, ...BENIGN)).map(([n, a]) => `PREPARE ${n} AS ${a}`),
      identArb.map((n) => `EXECUTE ${n}`),
      identArb.map((n) => `DEALLOCATE ${n}`),
    ),
  },
)

/** Result formats of a Bind: text, or binary (masking must not depend on the format). */
const formats = fc.constantFrom<number[]>([], [1], [0, 1])
const text = (...a: string[]): Buffer[] => a.map((x) => Buffer.from(x))
/** The function-call message (by OID): set_config (a lexing setting changed with no SQL), query_to_xml, pg_read_file. */
const FUNCTION_CALLS: FrontendMessage[] = [
  { type: 'FunctionCall', oid: 2078, argFormats: [], args: text('standard_conforming_strings', 'off', 'false'), resultFormat: 0 },
  { type: 'FunctionCall', oid: 2924, argFormats: [], args: text(own('select x from agw_fz.hidden'), 'true', 'true', ''), resultFormat: 0 },
  { type: 'FunctionCall', oid: 2924, argFormats: [], args: text(own('select secret from agw_fz.users'), 'true', 'true', ''), resultFormat: 0 },
  { type: 'FunctionCall', oid: 3826, argFormats: [], args: text('/etc/passwd'), resultFormat: 0 },
]

/** SQL for a Parse: an SQL EXECUTE run by the extended protocol is the class of FOUND[4], left out unless AGW_FUZZ_FOUND=1. */
const parseSqlArb = sqlArb.filter((sql) => FOUND_CLASSES || !sql.startsWith('EXECUTE '))

const msgArb: fc.Arbitrary<FrontendMessage> = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(name, parseSqlArb).map(([n, sql]): FrontendMessage => ({ type: 'Parse', name: n, sql, paramTypes: [] })) },
  { weight: 4, arbitrary: fc.tuple(name, name, formats).map(([p, s, f]): FrontendMessage => ({ type: 'Bind', portal: p, statement: s, paramFormats: [], params: [], resultFormats: f })) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('S' as const, 'P' as const), name).map(([t, n]): FrontendMessage => ({ type: 'Describe', target: t, name: n })) },
  { weight: 4, arbitrary: fc.tuple(name, fc.constantFrom(0, 1)).map(([p, r]): FrontendMessage => ({ type: 'Execute', portal: p, maxRows: r })) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('S' as const, 'P' as const), name).map(([t, n]): FrontendMessage => ({ type: 'Close', target: t, name: n })) },
  { weight: 2, arbitrary: fc.constant<FrontendMessage>({ type: 'Flush' }) },
  { weight: 2, arbitrary: fc.constant<FrontendMessage>({ type: 'Sync' }) },
  { weight: 3, arbitrary: sqlArb.map((sql): FrontendMessage => ({ type: 'Query', sql })) },
  { weight: 1, arbitrary: fc.constantFrom(...FUNCTION_CALLS) },
)

/** Parse + Bind + Execute (+ Flush) as a unit, so that sequences often get as far as running something. */
const pbeArb: fc.Arbitrary<FrontendMessage[]> = fc
  .record({ s: name, p: name, sql: parseSqlArb, f: formats, flush: fc.boolean() })
  .map(({ s, p, sql, f, flush }) => [
    { type: 'Parse', name: s, sql, paramTypes: [] },
    { type: 'Bind', portal: p, statement: s, paramFormats: [], params: [], resultFormats: f },
    { type: 'Execute', portal: p, maxRows: 0 },
    ...(flush ? [{ type: 'Flush' } as const] : []),
  ])

/** A sequence, and whether it is written message by message (a pause after each Flush) or in one write. */
const seqArb = fc.record({
  msgs: fc.array(fc.oneof({ weight: 3, arbitrary: msgArb.map((m) => [m]) }, { weight: 2, arbitrary: pbeArb }), { minLength: 1, maxLength: 10 }).map((g) => g.flat()),
  chunked: fc.boolean(),
})

const describeMsg = (m: FrontendMessage): string => {
  const short = (s: string): string => (s.length > 20 ? `${s.slice(0, 8)}…(${Buffer.byteLength(s)}B)…${s.slice(-3)}` : s)
  switch (m.type) {
    case 'Parse':
      return `Parse(${short(m.name)}, ${m.sql})`
    case 'Bind':
      return `Bind(${short(m.portal)} <- ${short(m.statement)}${m.resultFormats.length ? `, formats ${m.resultFormats.join('')}` : ''})`
    case 'Execute':
      return `Execute(${short(m.portal)}, ${m.maxRows})`
    case 'Describe':
    case 'Close':
      return `${m.type}(${m.target} ${short(m.name)})`
    case 'Query':
      return `Query(${m.sql})`
    case 'FunctionCall':
      return `FunctionCall(${m.oid}, ${m.args.map((a) => a?.toString()).join(', ')})`
    default:
      return m.type
  }
}

async function serverState(): Promise<string> {
  const { got } = await exchange(checker, [{ type: 'Query', sql: own('SELECT agw_fz.state()') }], 1)
  const row = got.find((m) => m.type === 'DataRow')
  return row?.type === 'DataRow' ? (row.values[0]?.toString() ?? '') : `state() failed: ${JSON.stringify(got)}`
}

let sequences = 0
let resets = 0
/** Sequences where agw refused something, and where the server answered with rows. */
let refusals = 0
let withRows = 0

/** Runs one sequence through a fresh agw session; returns what went wrong, if anything. */
async function runSequence(msgs: FrontendMessage[], chunked: boolean, raw: Buffer[] = []): Promise<string | undefined> {
  sequences++
  const c = await agw.open()
  msgs = msgs.map((m) => (m.type === 'Parse' || m.type === 'Query' ? { ...m, sql: own(m.sql) } : m))
  const end: FrontendMessage[] = [{ type: 'Sync' }, { type: 'Query', sql: '' }]
  if (chunked) {
    for (const m of msgs) {
      c.send(m)
      if (m.type === 'Flush') await sleep(3)
    }
    for (const r of raw) c.sendRaw(r)
    c.send(...end)
  } else {
    c.send(...msgs)
    for (const r of raw) c.sendRaw(r)
    c.send(...end)
  }
  // Done at the EmptyQueryResponse of the final '' Query and its ReadyForQuery (or when the session ends).
  const got: BackendMessage[] = []
  const deadline = Date.now() + 10_000
  for (;;) {
    got.push(...(await exchange(c, [], 0, 0)).got)
    const i = got.findIndex((m) => m.type === 'EmptyQueryResponse')
    if (c.closed || (i >= 0 && got.slice(i).some((m) => m.type === 'ReadyForQuery'))) break
    if (Date.now() > deadline) break
    await sleep(2)
  }
  c.destroy()
  // ParameterStatus messages (RawPg keeps them apart): a GUC_REPORT setting can carry a value too.
  got.push(...[...c.parameters].map(([n, value]): BackendMessage => ({ type: 'ParameterStatus', name: n, value })))
  if (refusedByAgw(got)) refusals++
  if (got.some((m) => m.type === 'DataRow')) withRows++
  const seen = visible(got)
  const problems: string[] = []
  if (seen.includes(HIDDEN)) problems.push('the denied table agw_fz.hidden reached the client')
  if (seen.includes(SECRET)) problems.push('the masked column secret reached the client raw')
  // A part of it (after its first '-'), with COPY's backslash escapes taken out: FOUND[3].
  else if (seen.replaceAll('\\', '').includes(SECRET.slice(SECRET.indexOf('-') + 1))) problems.push('a part of the masked column secret reached the client raw')
  if (seen.includes('root:x:0')) problems.push('pg_read_file reached the client')
  const state = await serverState()
  if (state !== GOOD_STATE) {
    problems.push(`the server state is "${state}", not "${GOOD_STATE}"`)
    await resetCanary()
  }
  if (Date.now() > deadline) problems.push('no answer to the final Sync + empty Query in 10 s')
  return problems.length ? `${problems.join('; ')}\n  sequence: ${msgs.map(describeMsg).join(' ; ')}${chunked ? ' (chunked)' : ''}` : undefined
}

async function resetCanary(): Promise<void> {
  resets++
  // A session agw still holds (an unfinished transaction) may lock the canary: wait for them to end.
  await sleep(50)
  direct(own(RESET))
}

beforeAll(async () => {
  direct(own(SETUP))
  checker = await openDirect()
  agw = await startConnected(
    idp,
    own(`    rules:
      - { name: no-ddl, match: { statement: [DROP, TRUNCATE, ALTER] }, action: deny }
      - { name: no-mass-writes, match: { statement: [DELETE, UPDATE], where: absent }, action: deny }
      - { name: no-hidden, match: { tables: [agw_fz.hidden] }, action: deny }
      - { name: writes, match: { statement: [INSERT, UPDATE, DELETE, MERGE] }, action: review, reviewers: [sre] }
    masking:
      columns: [secret]
`),
    gate,
  )
})

afterAll(async () => {
  checker?.close()
  await agw?.stop()
  direct(own('DROP SCHEMA IF EXISTS agw_fz CASCADE'))
})

const timeout = Math.max(60_000, SECONDS ? SECONDS * 1000 + 120_000 : RUNS * 500)

it(
  `no message sequence gets a denied effect past agw (${RUNS} runs, seed ${SEED}${KNOWN ? ', with the known classes' : ''})`,
  async () => {
    const t0 = Date.now()
    let failure: string | undefined
    try {
      await fc.assert(
        fc.asyncProperty(seqArb, async ({ msgs, chunked }) => {
          const problem = await runSequence(msgs, chunked)
          failure = problem ?? failure
          return problem === undefined
        }),
        {
          numRuns: RUNS,
          seed: SEED,
          ...(PATH ? { path: PATH } : {}),
          ...(SECONDS ? { interruptAfterTimeLimit: SECONDS * 1000, markInterruptAsFailure: false } : {}),
        },
      )
    } finally {
      const s = (Date.now() - t0) / 1000
      process.stderr.write(`agw fuzz: ${sequences} sequences (shrinking included) in ${s.toFixed(1)} s, ${(sequences / s).toFixed(1)}/s, seed ${SEED}, ${refusals} with a refusal by agw, ${withRows} with rows, ${resets} canary resets, ${gate.requests} reviews denied${failure ? `\nlast failure: ${failure}` : ''}\n`)
    }
    expect(failure).toBeUndefined()
  },
  timeout,
)

/**
 * Bypasses this fuzzer found, not fixed yet: each runs as `it.fails` (it passes while the bypass
 * works). When the gateway is fixed the test fails: turn `it.fails` into `it`. test/FUZZ.md has them.
 */
const pbeOf = (sql: string): FrontendMessage[] => [
  { type: 'Parse', name: '', sql, paramTypes: [] },
  { type: 'Bind', portal: '', statement: '', paramFormats: [], params: [], resultFormats: [] },
  { type: 'Execute', portal: '', maxRows: 0 },
]
/** A plain literal in a PL/pgSQL body, read by the server under standard_conforming_strings = off: `\\` is one backslash there. */
const DO_BACKSLASH = "DO $$ BEGIN EXECUTE 'SELECT E''\\\\'', '' ; DROP TABLE agw_fz.canary; --'''; END $$"
/**
 * In Shift JIS (a client encoding PostgreSQL converts from before it lexes), 0x83 0x5C is one
 * character; read as UTF-8, as agw reads SQL, the 0x5C is a backslash that escapes the quote after it.
 */
const SJIS_DROP = rawQuery(Buffer.from(own("SELECT E'\x83\\' ; DROP TABLE agw_fz.canary; --'"), 'latin1'))
const FOUND: { name: string; msgs: FrontendMessage[]; raw?: Buffer[] }[] = [
  {
    // seed 20261203, path "2753:2:0:1:2:2:5:6:3:3" (npm run fuzz, before the DO-body class was left out)
    name: 'a DO body read under standard_conforming_strings = off set by an unsynced Execute runs a DROP agw read as a string',
    msgs: [...pbeOf('SET standard_conforming_strings = off'), { type: 'Query', sql: DO_BACKSLASH }],
  },
  {
    name: 'the same with the setting confirmed (SET by Query, then the DO block in the next Query)',
    msgs: [{ type: 'Query', sql: 'SET standard_conforming_strings = off' }, { type: 'Sync' }, { type: 'Query', sql: DO_BACKSLASH }],
  },
  {
    name: 'the same with the setting confirmed and the DO block sent by Parse/Bind/Execute',
    msgs: [{ type: 'Query', sql: 'SET standard_conforming_strings = off' }, ...pbeOf(DO_BACKSLASH)],
  },
  {
    // found by a probe, not by a random run: the fuzzer does not send SQL bytes that are not UTF-8
    name: "client_encoding SJIS: E'<0x83>\\' ends the literal for the server, not for agw, and the DROP after it runs (standard_conforming_strings on)",
    msgs: [{ type: 'Query', sql: "SET client_encoding = 'SJIS'" }],
    raw: [SJIS_DROP],
  },
  {
    // seed 20261204, path "3454:8:6:7:7:8:8" (a 64-byte protocol name, EXECUTE of its first 63 bytes); a probe showed
    // that the name does not matter: any prepared statement run by an SQL EXECUTE sent as Parse/Bind/Execute
    name: 'an SQL EXECUTE sent by Parse/Bind/Execute returns a masked column under an alias raw',
    msgs: [{ type: 'Query', sql: 'PREPARE fz_leak AS SELECT secret AS s FROM agw_fz.users' }, ...pbeOf('EXECUTE fz_leak'), { type: 'Sync' }],
  },
  {
    // found by a probe: COPY text rows are split on the delimiter without its backslash escapes
    name: "COPY ... TO STDOUT (DELIMITER '-'): the masked value is cut at its first '-' and the rest reaches the client raw",
    msgs: [{ type: 'Query', sql: "COPY agw_fz.users TO STDOUT (DELIMITER '-')" }],
  },
]

for (const f of FOUND) {
  it(`a bypass found by the fuzzer or its probes stays closed: ${f.name}`, async () => {
    expect(await runSequence(f.msgs, true, f.raw)).toBeUndefined()
  })
}
