// Masking: styles, JSON keys, and which result columns are masked whole through the parse tree
// (aliases, expressions, subqueries, CTEs, whole rows), plus DataRow and COPY re-encoding.
import { beforeAll, describe, expect, it } from 'vitest'
import { classify, jsonKeyValues, loadParser, MaskCounts, Masker, type OutputInfo } from '../../../src/policy/index.js'
import { decodeBackend, encodeDataRow, forEachDataRowValue, type RowDescriptionField } from '../../../src/protocols/postgres/codec/index.js'
import { maskCopyData, maskDataRow, maskFields, rowPlan, taintedNames, wholeColumns, type CopyPlan } from '../../../src/protocols/postgres/masking.js'

beforeAll(() => loadParser())

const KEY = Buffer.alloc(32, 3)
const masker = (style: 'redact' | 'partial' | 'hash' = 'redact', detectors = ['email', 'credit_card', 'us_ssn']) =>
  new Masker({ columns: ['password', 'ssn', '*_token'], detectors, style }, KEY)

describe('styles', () => {
  it('redact names the detector, partial keeps a recognisable part, hash is stable per value', () => {
    expect(masker('redact').text('mail ada@example.com', undefined)).toBe('mail [redacted:email]')
    expect(masker('partial').text('mail ada@example.com, card 4111 1111 1111 1111', undefined)).toBe('mail a***@example.com, card **** **** **** 1111')
    const h1 = masker('hash').text('ada@example.com', undefined)
    const h2 = masker('hash').text('x ada@example.com y', undefined)
    expect(h1).toMatch(/^\[email:[0-9a-f]{12}\]$/)
    expect(h2).toBe(`x ${h1} y`)
    expect(masker('hash').text('bob@example.com', undefined)).not.toBe(h1)
    expect(new Masker({ columns: [], detectors: ['email'], style: 'hash' }, Buffer.alloc(32, 4)).text('ada@example.com', undefined)).not.toBe(h1)
  })

  it('masks whole column values per style', () => {
    expect(masker('redact').column('hunter2', 'password', undefined)).toBe('[redacted]')
    expect(masker('partial').column('123-45-6789', 'ssn', undefined)).toBe('****6789')
    expect(masker('partial').column('short', 'ssn', undefined)).toBe('****')
    expect(masker('hash').column('hunter2', 'password', undefined)).toBe(masker('hash').column('hunter2', 'password', undefined))
  })

  it('counts by detector and by column', () => {
    const c = new MaskCounts()
    const m = masker()
    m.text('a@example.com b@example.com 123-45-6789', c)
    m.column('x', 'password', c)
    expect(c.detectors).toEqual({ email: 2, us_ssn: 1 })
    expect(c.columns).toEqual({ password: 1 })
    expect(c.total).toBe(4)
  })

  it('leaves text without anything to mask alone (undefined: forward the original bytes)', () => {
    expect(masker().text('just words and 42', undefined)).toBeUndefined()
  })
})

describe('JSON keys', () => {
  it('masks the values of masked keys at any depth, keeping the JSON valid', () => {
    const m = masker()
    const out = m.text('{"id": 1, "password": "hunter2", "nested": {"api_token": {"a": 1}}, "list": [{"ssn": "123-45-6789"}]}', undefined)!
    expect(JSON.parse(out)).toEqual({ id: 1, password: '[redacted]', nested: { api_token: '[redacted]' }, list: [{ ssn: '[redacted]' }] })
  })

  it('masks a value that is not JSON but shows a masked key (a json[] literal) as a whole', () => {
    expect(masker().text('{"{\\"password\\": \\"x\\"}"}', undefined)).toBe('[redacted]')
  })

  it('finds key/value spans only in valid JSON', () => {
    expect(jsonKeyValues('{"a": [1, {"b": "x"}]}', (k) => k === 'b')).toEqual([{ start: 16, end: 19, key: 'b' }])
    expect(jsonKeyValues('{"a": 1,}', () => true)).toBeUndefined()
    expect(jsonKeyValues('not json', () => true)).toBeUndefined()
  })
})

function outputsOf(sql: string): OutputInfo[] {
  const c = classify(sql)
  if (!c.ok) throw new Error(c.error)
  return c.statements.map((s) => s.output).filter((o): o is OutputInfo => !!o)
}

/** Which of the result columns `names` are masked whole for `sql`. */
function masked(sql: string, names: string[], connection = new Set<string>()): string[] {
  const m = masker()
  const outputs = outputsOf(sql)
  const tainted = taintedNames(m, outputs, connection)
  const whole = wholeColumns(names, outputs, m, tainted)
  return names.filter((_, i) => whole[i])
}

describe('columns computed from masked columns are masked whole', () => {
  it.each([
    ['SELECT id, password FROM users', ['id', 'password'], ['password']],
    ['SELECT password AS p FROM users', ['p'], ['p']],
    ['SELECT upper(password), id FROM users', ['upper', 'id'], ['upper']],
    ["SELECT password || '' AS x, email FROM users", ['x', 'email'], ['x']],
    ['SELECT (SELECT password FROM users LIMIT 1) AS leak', ['leak'], ['leak']],
    ['SELECT x FROM (SELECT password AS x FROM users) s', ['x'], ['x']],
    ['SELECT * FROM (SELECT password AS x, id FROM users) s', ['x', 'id'], ['x']],
    ['WITH c AS (SELECT ssn AS s FROM people) SELECT s, 1 AS one FROM c', ['s', 'one'], ['s']],
    ['WITH c(a, b) AS (SELECT id, ssn FROM people) SELECT a, b FROM c', ['a', 'b'], ['a', 'b']],
    ['SELECT u FROM users u', ['u'], ['u']],
    ['SELECT (u).password FROM users u', ['password'], ['password']],
    ['SELECT id, * FROM users', ['id', 'id', 'name', 'password'], ['password']],
    ['SELECT *, upper(password) FROM users', ['id', 'password', 'upper'], ['password', 'upper']],
    ['SELECT id FROM users UNION SELECT password FROM users', ['id'], ['id']],
    ['SELECT api_token FROM keys', ['api_token'], ['api_token']],
    ['SELECT row_to_json(u)->>$$password$$ FROM users u', ['?column?'], ['?column?']],
    ['INSERT INTO users (password) VALUES ($1) RETURNING password AS p', ['p'], ['p']],
    ['SELECT c FROM users u(a, b, c)', ['c'], ['c']],
  ])('%s', (sql, names, want) => {
    expect(masked(sql, names)).toEqual(want)
  })

  it('keeps JSON functions of whole rows unmasked as columns: their keys are masked by content instead', () => {
    expect(masked('SELECT row_to_json(u) FROM users u', ['row_to_json'])).toEqual([])
    expect(masked('SELECT json_agg(u) AS all FROM users u', ['all'])).toEqual([])
  })

  it('does not mask what reads no masked column', () => {
    expect(masked('SELECT id, name, count(*) OVER () FROM users', ['id', 'name', 'count'])).toEqual([])
    expect(masked('SELECT EXISTS (SELECT * FROM users) AS any', ['any'])).toEqual([])
  })

  it('remembers names masked on the connection (a cursor or a table made from a masked column)', () => {
    expect(masked('SELECT p FROM t2', ['p'], new Set(['p']))).toEqual(['p'])
  })
})

const field = (name: string, format = 0, typeOid = 25): RowDescriptionField => ({ name, tableOid: 0, columnAttr: 0, typeOid, typeSize: -1, typeMod: -1, format })

function values(msg: Buffer): (string | null)[] {
  const m = decodeBackend({ type: msg[0] as number, body: msg.subarray(5) })
  if (m.type !== 'DataRow') throw new Error('not a DataRow')
  return m.values.map((v) => (v === null ? null : v.toString('utf8')))
}

describe('DataRow', () => {
  const m = masker()
  const body = (vals: (string | null)[]) => encodeDataRow(vals).subarray(5)

  it('forwards a row with nothing to mask as its original bytes', () => {
    const plan = rowPlan([field('id'), field('name')], undefined, outputsOf('SELECT id, name FROM users'), m, new Set())
    expect(maskDataRow(body(['1', 'Ada']), plan, m, new MaskCounts())).toBeUndefined()
  })

  it('re-encodes a row with new lengths: whole columns and detector hits', () => {
    const plan = rowPlan([field('id'), field('password'), field('note')], undefined, outputsOf('SELECT id, password, note FROM users'), m, new Set())
    const out = maskDataRow(body(['1', 'hunter2', 'mail ada@example.com']), plan, m, new MaskCounts())!
    expect(values(out)).toEqual(['1', '[redacted]', 'mail [redacted:email]'])
    expect(out.readInt32BE(1)).toBe(out.length - 1)
  })

  it('keeps NULL as NULL', () => {
    const plan = rowPlan([field('password')], undefined, [], m, new Set())
    expect(maskDataRow(body([null]), plan, m, new MaskCounts())).toBeUndefined()
  })

  it('binary values: text-like types get the mask, other types become NULL', () => {
    const plan = rowPlan([field('password', 1, 25), field('ssn', 1, 23)], undefined, [], m, new Set())
    const int4 = Buffer.alloc(4)
    int4.writeInt32BE(123456789)
    const raw = encodeDataRow([Buffer.from('hunter2'), int4]).subarray(5)
    const out = maskDataRow(raw, plan, m, new MaskCounts())!
    const got: (Buffer | null)[] = []
    forEachDataRowValue(out.subarray(5), (_, v) => got.push(v))
    expect(got[0]?.toString()).toBe('[redacted]')
    expect(got[1]).toBeNull()
  })
})

describe('COPY out', () => {
  const m = masker()
  const plan = (p: Partial<CopyPlan>): CopyPlan => ({ format: 'text', delimiter: '\t', header: false, whole: undefined, all: false, names: [], content: true, started: false, ...p })

  it('masks whole columns of a text row and content in the others, keeping the row format', () => {
    const out = maskCopyData(Buffer.from('1\thunter2\tada@example.com\n'), plan({ whole: [false, true, false], names: ['id', 'password', 'email'] }), m, new MaskCounts())
    expect(out?.toString()).toBe('1\t[redacted]\t[redacted:email]\n')
  })

  it('leaves \\N (NULL) alone and unescapes before hashing', () => {
    const h = masker('hash')
    const out = maskCopyData(Buffer.from('\\N\ta\\tb\n'), plan({ whole: [true, true], names: ['password', 'ssn'] }), h, new MaskCounts())
    expect(out?.toString()).toBe(`\\N\t${h.column('a\tb', 'ssn', undefined)}\n`)
  })

  it('reads column names from a header line, and handles CSV quoting', () => {
    const p = plan({ format: 'csv', delimiter: ',', header: true })
    expect(maskCopyData(Buffer.from('id,password\n'), p, m, new MaskCounts())).toBeUndefined()
    expect(maskCopyData(Buffer.from('1,"a, ""quoted"" secret"\n'), p, m, new MaskCounts())?.toString()).toBe('1,"[redacted]"\n')
  })

  it('fails closed when it cannot tell which column is which: every column is masked', () => {
    const out = maskCopyData(Buffer.from('1\tAda\n'), plan({ all: true }), m, new MaskCounts())
    expect(out?.toString()).toBe('[redacted]\t[redacted]\n')
  })
})

describe('notices and errors', () => {
  const m = masker()
  it('masks detector hits in any text field', () => {
    expect(maskFields({ S: 'ERROR', M: 'duplicate ada@example.com' }, m, new MaskCounts(), undefined)).toEqual({ S: 'ERROR', M: 'duplicate [redacted:email]' })
  })
  it('masks quoted values and unique-violation details when the statement reads masked columns', () => {
    const hot = { identifiers: new Set(['users', 'password']), whole: false }
    expect(maskFields({ M: 'invalid input syntax for type integer: "hunter2"' }, m, new MaskCounts(), hot)).toEqual({ M: 'invalid input syntax for type integer: "[redacted]"' })
    expect(maskFields({ M: 'relation "users" does not exist' }, m, new MaskCounts(), hot)).toBeUndefined()
    expect(maskFields({ D: 'Key (password)=(hunter2) already exists.' }, m, new MaskCounts(), hot)).toEqual({ D: 'Key (password)=([redacted]) already exists.' })
  })
})
