import { afterAll, beforeAll, expect, inject, it } from 'vitest'
import type { FrontendMessage } from '../../src/protocols/postgres/codec/index.js'
import { connectTestIssuer } from '../support/oidc.js'
import { DenyAllGate, direct, exchange, startConnected, visible, type ConnectedGateway } from '../support/pg-policy-harness.js'

const idp = connectTestIssuer(inject('issuerUrl'))
let agw: ConnectedGateway
const SECRET = 'pr-secret-Zz1'
beforeAll(async () => {
  direct(`DROP SCHEMA IF EXISTS agw_pr CASCADE; CREATE SCHEMA agw_pr; CREATE TABLE agw_pr.users (id int, secret text); INSERT INTO agw_pr.users VALUES (1, '${SECRET}'); CREATE TABLE agw_pr.canary (id int); INSERT INTO agw_pr.canary VALUES (1),(2)`)
  agw = await startConnected(idp, `    rules:
      - { name: no-ddl, match: { statement: [DROP, TRUNCATE, ALTER] }, action: deny }
      - { name: no-mass-writes, match: { statement: [DELETE, UPDATE], where: absent }, action: deny }
      - { name: writes, match: { statement: [INSERT, UPDATE, DELETE, MERGE] }, action: review, reviewers: [sre] }
    masking:
      columns: [secret]
`, new DenyAllGate())
})
afterAll(async () => { await agw?.stop() })

const N62 = 'n'.repeat(62)
const NE = `${N62}é`
const steps: FrontendMessage[][] = JSON.parse(process.env.PROBE ?? '[]')
it('probe', async () => {
  const c = await agw.open()
  for (const s of steps) {
    const { got } = await exchange(c, s, s.filter((m) => m.type === 'Sync' || m.type === 'Query').length, 3000)
    console.log(JSON.stringify(s.map((m) => m.type + ':' + ((m as {sql?: string}).sql ?? (m as {name?: string}).name ?? (m as {statement?: string}).statement ?? ''))).slice(0, 300))
    console.log('   ->', got.map((m) => m.type === 'ErrorResponse' ? `E:${m.fields.C}:${m.fields.M?.slice(0, 150)}` : m.type === 'DataRow' || m.type === 'NoticeResponse' ? `${m.type[0]}:${visible([m]).slice(0, 200)}` : m.type).join(' '))
    console.log('   params:', JSON.stringify([...c.parameters].filter(([k]) => ['application_name', 'standard_conforming_strings', 'TimeZone', 'DateStyle', 'search_path'].includes(k))))
  }
  c.close()
  console.log('canary:', direct('SELECT string_agg(id::text, \',\') FROM agw_pr.canary'))
  expect(1).toBe(1)
})
void N62; void NE
