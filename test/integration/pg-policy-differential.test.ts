/**
 * Issue 10, tests: the differential harness. Every case of the guardrail corpus
 * (test/unit/policy/guardrail-corpus.ts) goes through agw to the machine's PostgreSQL with a raw
 * protocol client, in five ways: a simple Query; Parse/Bind/Describe/Execute/Sync; the same with a
 * Flush (no Sync) after each message and a Sync at the end; pipelined (ten cases in one write,
 * simple and extended mixed); and after `SET standard_conforming_strings = off` run by an unsynced
 * Execute in the same write. After each case the server's state (objects, rows, ACLs, roles, role
 * settings, large objects, files written by COPY) is compared with the state the corpus set up:
 * a case where the server did something the policy forbids is a failure, and so is a forbidden value
 * (the denied table's marker, a masked column's raw value, /etc/passwd) reaching the client. Every
 * review is denied here, so a held write that lands is a failure too. Allowed cases also run straight
 * on the server in the same way, and the shape of the two replies (message types, tags, SQLSTATEs)
 * must agree.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { BackendMessage, FrontendMessage } from '../../src/protocols/postgres/codec/index.js'
import { connectTestIssuer } from '../support/oidc.js'
import {
  DenyAllGate,
  direct,
  exchange,
  openDirect,
  refusedByAgw,
  shape,
  sleep,
  startConnected,
  visible,
  waitFor,
  type ConnectedGateway,
} from '../support/pg-policy-harness.js'
import type { RawPg } from '../support/pg-raw.js'
import { CORPUS as SHARED_CORPUS, CORPUS_RULES, CORPUS_SETUP, CORPUS_TEARDOWN, type CorpusEntry, type Expect } from '../unit/policy/guardrail-corpus.js'

/**
 * Other test files (pg-policy-corpus) use the schema agw_corpus on the same server, maybe at the same
 * time: the harness runs the corpus in its own schema, role and file names.
 */
const own = (s: string): string => s.replaceAll('agw_corpus', 'agw_dcorp').replaceAll('/tmp/agw_', '/tmp/agw_dcorp_')

/** A corpus case, and what the policy says of it once standard_conforming_strings is off (the scs-off modes). */
type DiffCase = CorpusEntry & { scsOff?: Expect }

/**
 * The harness's own cases (issue 10 item 1): text whose meaning depends on standard_conforming_strings.
 * With it on, 'a\' is a whole literal and the rest is a second one; with it off, the literal runs on
 * and what follows is SQL. In the scs-off modes the new value is not confirmed yet (no ReadyForQuery
 * since the SET), and agw refuses text whose two readings differ (fail closed), even when both would be allowed.
 */
const SCS_CASES: DiffCase[] = [
  { sql: "SELECT 'a\\', ' ; DROP TABLE agw_dcorp.items; --'", expect: 'allow', scsOff: 'deny' },
  { sql: "SELECT 'a\\', ' ; WITH d AS (DELETE FROM agw_dcorp.items RETURNING 1) SELECT count(*) FROM d; --'", expect: 'allow', scsOff: 'deny' },
  { sql: "SELECT 'a\\', ' , (SELECT v FROM agw_dcorp.secrets LIMIT 1) --'", expect: 'allow', scsOff: 'deny' },
  { sql: "SELECT 'a\\', ' , (SELECT note FROM agw_dcorp.drop_log LIMIT 1) AS note --'", expect: 'allow', scsOff: 'deny' },
  { sql: "SELECT E'a\\', ' ; DROP TABLE agw_dcorp.items; --'", expect: 'deny', scsOff: 'deny' },
  { sql: "SELECT 'a\\'' ; DELETE FROM agw_dcorp.items; --'", expect: 'allow', scsOff: 'deny' },
]

const CORPUS: DiffCase[] = [...SHARED_CORPUS.map((e) => ({ ...e, sql: own(e.sql) })), ...SCS_CASES]

const idp = connectTestIssuer(inject('issuerUrl'))
const gate = new DenyAllGate()
let agw: ConnectedGateway
let checker: RawPg

/** In the denied table: must never reach the client. */
const SECRET_MARK = 'corpus-secret-Qv5w'
/** The masked column drop_log.note holds this: its raw value must never reach the client. */
const NOTE = 'DROP TABLE happened here'
/** What pg_read_file('/etc/passwd') would show. */
const PASSWD = 'root:x:0:0'
const FORBIDDEN = [SECRET_MARK, NOTE, PASSWD]

const SETUP = [
  ...CORPUS_SETUP.map(own),
  `INSERT INTO agw_dcorp.secrets VALUES ('k', '${SECRET_MARK}')`,
  // Outside agw_dcorp, so DROP SCHEMA agw_dcorp cannot take it: the state the effects are read from.
  'DROP SCHEMA IF EXISTS agw_diff CASCADE',
  'CREATE SCHEMA agw_diff',
  `CREATE FUNCTION agw_diff.state() RETURNS text LANGUAGE plpgsql AS $f$
DECLARE s text; r text;
BEGIN
  SELECT string_agg(c.relname || ':' || c.relkind::text || ':' || c.relnatts || ':' || coalesce(c.relacl::text, ''), ',' ORDER BY c.relname) INTO r
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'agw_dcorp';
  s := 'rel=' || coalesce(r, '-');
  IF to_regclass('agw_dcorp.items') IS NOT NULL THEN
    EXECUTE 'SELECT string_agg(id || ''='' || coalesce(name, ''''), '','' ORDER BY id) FROM agw_dcorp.items' INTO r; s := s || ' items=' || coalesce(r, '-');
  END IF;
  IF to_regclass('agw_dcorp.drop_log') IS NOT NULL THEN
    EXECUTE 'SELECT string_agg(id || ''='' || coalesce(note, ''''), '','') FROM agw_dcorp.drop_log' INTO r; s := s || ' log=' || coalesce(r, '-');
  END IF;
  IF to_regclass('agw_dcorp.secrets') IS NOT NULL THEN
    EXECUTE 'SELECT count(*)::text FROM agw_dcorp.secrets' INTO r; s := s || ' secrets=' || r;
  END IF;
  s := s || ' roles=' || (SELECT count(*) FROM pg_roles WHERE rolname LIKE 'agw_dcorp%');
  s := s || ' rolesettings=' || (SELECT count(*) FROM pg_db_role_setting WHERE setrole = 'postgres'::regrole AND array_to_string(setconfig, ',') LIKE '%work_mem=64kB%');
  s := s || ' lo=' || (SELECT count(*) FROM pg_largeobject_metadata WHERE lomowner = 'postgres'::regrole);
  s := s || ' files=' || (SELECT count(*) FROM unnest(ARRAY['/tmp/agw_dcorp_items.csv', '/tmp/agw_dcorp_x', '/tmp/agw_dcorp_lo']) f WHERE (pg_stat_file(f, true)).size IS NOT NULL);
  RETURN s;
END $f$`,
]

function setUp(): void {
  for (let i = 0; ; i++) {
    try {
      return setUpOnce()
    } catch (e) {
      if (i === 5) throw e
    }
  }
}

function setUpOnce(): void {
  direct("DROP ROLE IF EXISTS agw_dcorp_role; ALTER ROLE postgres RESET work_mem")
  for (const s of SETUP) direct(s)
}

/** The server's state, read on a direct connection (one round trip). */
async function state(): Promise<string> {
  const { got } = await exchange(checker, [{ type: 'Query', sql: 'SELECT agw_diff.state()' }], 1)
  const row = got.find((m) => m.type === 'DataRow')
  if (!row || row.type !== 'DataRow') throw new Error(`agw_diff.state() failed: ${JSON.stringify(got)}`)
  return row.values[0]?.toString() ?? ''
}

type Mode = 'simple' | 'extended' | 'flush' | 'pipelined' | 'scs-off-query' | 'scs-off-extended'
const MODES: Mode[] = ['simple', 'extended', 'flush', 'pipelined', 'scs-off-query', 'scs-off-extended']

const params = (e: CorpusEntry): (Buffer | null)[] => (e.params ?? []).map((p) => (p === null ? null : Buffer.from(String(p))))
const bind = (e: CorpusEntry): FrontendMessage => ({ type: 'Bind', portal: '', statement: '', paramFormats: [], params: params(e), resultFormats: [] })
const extendedMsgs = (e: CorpusEntry): FrontendMessage[] => [
  { type: 'Parse', name: '', sql: e.sql, paramTypes: [] },
  bind(e),
  { type: 'Describe', target: 'P', name: '' },
  { type: 'Execute', portal: '', maxRows: 0 },
  { type: 'Sync' },
]
const scsOff: FrontendMessage[] = [
  { type: 'Parse', name: '', sql: 'SET standard_conforming_strings = off', paramTypes: [] },
  { type: 'Bind', portal: '', statement: '', paramFormats: [], params: [], resultFormats: [] },
  { type: 'Execute', portal: '', maxRows: 0 },
]

/** Whether MODE can send ENTRY, and what the policy says it gets there. */
function expectation(e: DiffCase, mode: Mode): Expect | undefined {
  if (mode.startsWith('scs-off') && e.scsOff) return e.scsOff
  if (e.psqlOnly && mode !== 'simple' && mode !== 'scs-off-query') return undefined
  const simple = mode === 'simple' || mode === 'scs-off-query' || (mode === 'pipelined' && !e.params)
  if (simple) return e.params ? undefined : e.expect
  const ext = e.extended ?? e.expect
  return ext === 'skip' ? undefined : ext
}

/** The messages of one case in MODE that end in one ReadyForQuery (the flush mode is stepped in run()). */
function messages(e: CorpusEntry, mode: Mode, i: number): FrontendMessage[] {
  if (mode === 'simple') return [{ type: 'Query', sql: e.sql }]
  if (mode === 'extended') return extendedMsgs(e)
  if (mode === 'pipelined') return e.params || i % 2 ? extendedMsgs(e) : [{ type: 'Query', sql: e.sql }]
  if (mode === 'scs-off-query') return [...scsOff, { type: 'Flush' }, { type: 'Query', sql: e.sql }]
  return [...scsOff, ...extendedMsgs(e)]
}

/** Parse, Bind, Describe, Execute, each followed by a Flush and answered before the next; one Sync at the end. */
async function runFlushed(c: RawPg, e: CorpusEntry): Promise<BackendMessage[]> {
  const steps: [FrontendMessage, BackendMessage['type'][]][] = [
    [{ type: 'Parse', name: '', sql: e.sql, paramTypes: [] }, ['ParseComplete']],
    [bind(e), ['BindComplete']],
    [{ type: 'Describe', target: 'P', name: '' }, ['RowDescription', 'NoData']],
    [{ type: 'Execute', portal: '', maxRows: 0 }, ['CommandComplete', 'EmptyQueryResponse', 'PortalSuspended', 'CopyInResponse', 'CopyOutResponse']],
  ]
  for (const [m, answers] of steps) {
    const seen = c.got.length
    c.send(m, { type: 'Flush' })
    await waitFor(c, answers, seen)
    if (c.got.slice(seen).some((g) => g.type === 'ErrorResponse')) break
  }
  return (await exchange(c, [{ type: 'Sync' }], 1)).got
}

interface Outcome {
  mode: Mode
  /** The case's index in CORPUS. */
  i: number
  sql: string
  expect: Expect
  got: BackendMessage[]
  ms: number
  /** The server's state changed: before -> after. */
  effect?: string
  closed: boolean
  timedOut: boolean
}

const outcomes: Outcome[] = []
const directShapes = new Map<string, string[]>()
const key = (mode: Mode, i: number): string => `${mode}#${i}`

/** Runs every case of MODE through CLIENT (agw, or the server with only the allowed cases) and records what happened. */
async function runMode(mode: Mode, viaAgw: boolean): Promise<void> {
  const cases = CORPUS.map((e, i) => ({ e, i, want: expectation(e, mode) })).filter((c) => c.want && (viaAgw || c.want === 'allow'))
  let c = viaAgw ? await agw.open() : await openDirect()
  let before = viaAgw ? await state() : ''
  const record = async (batch: typeof cases, replies: BackendMessage[][], ms: number, timedOut: boolean): Promise<void> => {
    const after = viaAgw ? await state() : ''
    const effect = after !== before ? `${before} -> ${after}` : undefined
    batch.forEach((b, j) => {
      const got = replies[j] ?? []
      if (viaAgw) outcomes.push({ mode, i: b.i, sql: b.e.sql, expect: b.want!, got, ms, closed: c.closed, timedOut, ...(effect ? { effect } : {}) })
      else directShapes.set(key(mode, b.i), shape(got))
    })
    if (effect) {
      // The session may hold locks on what setUp() drops (an open or failed transaction): end it first.
      c.destroy()
      for (let t = 0; !c.closed && t < 2_000; t += 5) await sleep(5)
      setUp()
      before = await state()
    }
    if (c.closed) c = viaAgw ? await agw.open() : await openDirect()
  }
  const size = mode === 'pipelined' ? 10 : 1
  for (let k = 0; k < cases.length; k += size) {
    const batch = cases.slice(k, k + size)
    const t0 = Date.now()
    if (mode === 'flush') {
      const got = await runFlushed(c, batch[0]!.e)
      await record(batch, [got], Date.now() - t0, false)
      continue
    }
    const { got, timedOut } = await exchange(c, batch.flatMap((b) => messages(b.e, mode, b.i)), batch.length, 15_000)
    await record(batch, splitByReady(got), Date.now() - t0, timedOut)
    if (mode.startsWith('scs-off')) await exchange(c, [{ type: 'Query', sql: 'SET standard_conforming_strings = on' }], 1)
  }
  c.close()
}

/** The replies of a pipeline, one per ReadyForQuery. */
function splitByReady(got: BackendMessage[]): BackendMessage[][] {
  const out: BackendMessage[][] = [[]]
  for (const m of got) {
    out.at(-1)!.push(m)
    if (m.type === 'ReadyForQuery') out.push([])
  }
  return out
}

beforeAll(async () => {
  setUp()
  checker = await openDirect()
  agw = await startConnected(
    idp,
    `${CORPUS_RULES}
    masking:
      columns: [note]
`,
    gate,
  )
  for (const mode of MODES) {
    await runMode(mode, false)
    await runMode(mode, true)
  }
}, 120_000)

afterAll(async () => {
  checker?.close()
  await agw?.stop()
  for (const s of CORPUS_TEARDOWN) direct(own(s))
  direct('DROP SCHEMA IF EXISTS agw_diff CASCADE')
})

const label = (o: Outcome): string => `[${o.mode}] ${o.expect} ${o.sql.replace(/\s+/g, ' ').slice(0, 100)}`

describe.each(MODES)('the guardrail corpus through agw: %s', (mode) => {
  const mine = (): Outcome[] => outcomes.filter((o) => o.mode === mode)

  it('ran every case', () => {
    expect(mine().length).toBeGreaterThan(0)
    expect(mine().filter((o) => o.timedOut).map(label)).toEqual([])
  })

  it('the server did nothing the policy forbids (objects, rows, ACLs, roles, settings, large objects, files)', () => {
    expect(mine().filter((o) => o.effect).map((o) => `${label(o)}: ${o.effect}`)).toEqual([])
  })

  it('no forbidden value reached the client (denied table, masked column, server files)', () => {
    expect(mine().flatMap((o) => FORBIDDEN.filter((f) => visible(o.got).includes(f)).map((f) => `${label(o)}: ${f}`))).toEqual([])
  })

  it('no denied pg_sleep ran and agw never lost the session', () => {
    expect(mine().filter((o) => o.expect !== 'allow' && o.ms > 5_000).map(label)).toEqual([])
    expect(mine().filter((o) => o.closed).map(label)).toEqual([])
  })

  it('agw refused every case the policy denies or holds (every review is denied here)', () => {
    expect(mine().filter((o) => o.expect !== 'allow' && !refusedByAgw(o.got)).map(label)).toEqual([])
  })

  it('agw refused no allowed case, and answered it as the server does', () => {
    const allowed = mine().filter((o) => o.expect === 'allow')
    expect(allowed.filter((o) => refusedByAgw(o.got)).map(label)).toEqual([])
    const differs = allowed.flatMap((o) => {
      const want = directShapes.get(key(mode, o.i))
      const got = shape(o.got)
      return JSON.stringify(want) === JSON.stringify(got) ? [] : [`${label(o)}: server ${JSON.stringify(want)} agw ${JSON.stringify(got)}`]
    })
    expect(differs).toEqual([])
  })
})
