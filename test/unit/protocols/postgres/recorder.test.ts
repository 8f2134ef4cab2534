/** What the QueryRecorder keeps of results: values in the format the client asked for. */
import { describe, expect, it } from 'vitest'
import { QueryRecorder } from '../../../../src/protocols/postgres/recorder.js'

const recording = { maxRowsPerQuery: 100, maxBytesPerQuery: 65536 } as never

function dataRow(values: (Buffer | null)[]): Buffer {
  const parts: Buffer[] = [Buffer.from([0, values.length])]
  for (const v of values) {
    const len = Buffer.alloc(4)
    len.writeInt32BE(v === null ? -1 : v.length)
    parts.push(len)
    if (v) parts.push(v)
  }
  return Buffer.concat(parts)
}

function int4(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeInt32BE(n)
  return b
}

function recorder() {
  const events: { type: string; data: Record<string, unknown> }[] = []
  const r = new QueryRecorder((type, data) => events.push({ type, data }), recording)
  return { r, results: () => events.filter((e) => e.type === 'query.result').map((e) => e.data.rows) }
}

describe('QueryRecorder result formats', () => {
  it('a portal bound for binary results, executed without a RowDescription, is kept as \\x-hex', () => {
    const { r, results } = recorder()
    r.onParse('s1', 'select $1::int as n, $2::text as t')
    r.onBind('', 's1', ['42', 'x'], [1])
    r.onExecute('', 0)
    r.onDataRow(dataRow([int4(42), Buffer.from('x')]))
    r.onComplete('SELECT 1')
    expect(results()).toEqual([[['\\x0000002a', '\\x78']]])
  })

  it('per-column result formats, even after a statement RowDescription that says text', () => {
    const { r, results } = recorder()
    r.onParse('s1', 'select 1 as n, $1::text as t')
    r.onRowDescription([
      { name: 'n', tableOid: 0, columnAttr: 0, typeOid: 23, typeSize: 4, typeMod: -1, format: 0 },
      { name: 't', tableOid: 0, columnAttr: 0, typeOid: 25, typeSize: -1, typeMod: -1, format: 0 },
    ])
    r.onBind('', 's1', ['x'], [1, 0])
    r.onExecute('', 0)
    r.onDataRow(dataRow([int4(1), Buffer.from('x')]))
    r.onComplete('SELECT 1')
    expect(results()).toEqual([[['\\x00000001', 'x']]])
  })

  it('text when Bind names no formats, and for a simple Query', () => {
    const { r, results } = recorder()
    r.onParse('', 'select 7')
    r.onBind('', '', [], [])
    r.onExecute('', 0)
    r.onDataRow(dataRow([Buffer.from('7')]))
    r.onComplete('SELECT 1')
    r.onReady()
    r.onQuery('select 8')
    r.onDataRow(dataRow([Buffer.from('8')]))
    r.onComplete('SELECT 1')
    expect(results()).toEqual([[['7']], [['8']]])
  })
})
