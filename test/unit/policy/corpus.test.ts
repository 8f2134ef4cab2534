// The guardrail corpus (guardrail-corpus.ts) through decide(): the same expectations the
// integration test checks through a real gateway with psql and node-postgres.
import { beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../../src/config/load.js'
import { classify, compilePolicy, decide, loadParser } from '../../../src/policy/index.js'
import { CORPUS, CORPUS_RULES } from './guardrail-corpus.js'

const config = parseConfig(
  `identity: { issuers: [{ issuer: https://idp.example.com, audience: agw }] }
connections:
  - name: pg
    type: postgres
    target: { host: 127.0.0.1, port: 5432, database: test, user: postgres }
    allow: [agents]
${CORPUS_RULES}`,
  'corpus.yaml',
  '/tmp',
)
const policy = compilePolicy(config.connections[0]!)

beforeAll(() => loadParser())

describe('guardrail corpus through decide()', () => {
  it('has at least 100 statements', () => {
    expect(CORPUS.length).toBeGreaterThanOrEqual(100)
  })

  it.each(CORPUS.map((e) => [e.sql.replace(/\s+/g, ' ').slice(0, 90), e] as const))('%s', (_, e) => {
    const d = decide(classify(e.sql), policy)
    expect(d.action).toBe(e.expect)
    if (e.rule) expect(d.rule?.name).toBe(e.rule)
    if (e.expect === 'deny') expect(d.message).toMatch(/^agw denied /)
  })
})
