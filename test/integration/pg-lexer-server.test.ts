/**
 * pg-lexer.ts against the real server: text run with standard_conforming_strings off must do what
 * its escape-string form does with the setting on (rows and error codes alike). That is what lets
 * agw judge text the way a session with the setting off reads it (policy-frontend.ts).
 */
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { BackendMessage } from '../../src/protocols/postgres/codec/index.js'
import { escapeStringForm, scsDependent } from '../../src/policy/pg-lexer.js'
import { RawPg } from '../support/pg-raw.js'

const FRAGMENTS = ["'", "''", '\\', "\\'", '\\\\', 'a', 'E', 'N', ' ', '\n', '--', '/*', '*/', '"', '$$', ',', ';', '(', ')']
const text = fc.array(fc.constantFrom(...FRAGMENTS), { minLength: 1, maxLength: 14 }).map((a) => `SELECT ${a.join('')}`)

let c: RawPg
beforeAll(async () => {
  c = await RawPg.open(5432, 'postgres')
})
afterAll(() => c?.close())

/** What one Query did: its rows and error codes, one entry per message. */
function outcome(ms: BackendMessage[]): string[] {
  return ms.flatMap((m) => (m.type === 'DataRow' ? [`row ${JSON.stringify(m.values.map((v) => v?.toString('latin1') ?? null))}`] : m.type === 'ErrorResponse' ? [`error ${m.fields.C}`] : []))
}

function split(ms: BackendMessage[]): BackendMessage[][] {
  const out: BackendMessage[][] = [[]]
  for (const m of ms) {
    if (m.type === 'ReadyForQuery') out.push([])
    else (out[out.length - 1] as BackendMessage[]).push(m)
  }
  return out
}

describe('the escape-string form, run with the setting on, does what the text does with it off', () => {
  it('for random text with backslashes, quotes, comments and dollar quotes', async () => {
    const samples = fc.sample(text.filter(scsDependent), { numRuns: 1000, seed: 20261203 })
    let compared = 0
    c.send({ type: 'Query', sql: 'SET escape_string_warning = off' })
    await c.until(1)
    for (const sql of samples) {
      const off = escapeStringForm(sql)
      if (off === undefined) continue
      c.send(
        { type: 'Query', sql: 'SET standard_conforming_strings = off' },
        { type: 'Query', sql },
        { type: 'Query', sql: 'SET standard_conforming_strings = on' },
        { type: 'Query', sql: off },
      )
      const parts = split(await c.until(4))
      expect(outcome(parts[3] as BackendMessage[]), `${JSON.stringify(sql)} read as ${JSON.stringify(off)}`).toEqual(outcome(parts[1] as BackendMessage[]))
      compared++
    }
    expect(compared).toBeGreaterThan(600)
  }, 120_000)
})
