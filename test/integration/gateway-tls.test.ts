/**
 * The gateway over TLS (tls.cert/tls.key): the CLI reaches it with https/wss, trusting a private CA
 * through NODE_EXTRA_CA_CERTS; and the CLI refuses to send a token over plain http off loopback.
 * Certificates come from the openssl command line.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, inject, it } from 'vitest'
import { runAgw, startTestGateway, type TestGateway } from '../support/gateway.js'
import { connectTestIssuer } from '../support/oidc.js'

const idp = connectTestIssuer(inject('issuerUrl'))
let gw: TestGateway
let certDir: string
let token: string

beforeAll(async () => {
  certDir = mkdtempSync(join(tmpdir(), 'agw-tls-'))
  const ext = join(certDir, 'ext.cnf')
  writeFileSync(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\n')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=agw test CA', '-keyout', join(certDir, 'ca.key'), '-out', join(certDir, 'ca.pem')], { stdio: 'ignore' })
  execFileSync('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', join(certDir, 'gw.key'), '-out', join(certDir, 'gw.csr')], { stdio: 'ignore' })
  execFileSync('openssl', ['x509', '-req', '-in', join(certDir, 'gw.csr'), '-CA', join(certDir, 'ca.pem'), '-CAkey', join(certDir, 'ca.key'), '-CAcreateserial', '-days', '1', '-extfile', ext, '-out', join(certDir, 'gw.pem')], { stdio: 'ignore' })
  gw = await startTestGateway(`
tls: { cert: ${join(certDir, 'gw.pem')}, key: ${join(certDir, 'gw.key')} }
identity:
  issuers: [{ issuer: ${idp.issuer}, audience: agw }]
connections:
  - { name: pg, type: postgres, target: { host: 127.0.0.1, port: 5432, database: test, user: postgres }, allow: [agents] }
`)
  token = await idp.agentToken()
})

afterAll(async () => {
  await gw?.stop()
})

it('serves the API and the tunnel over TLS', async () => {
  expect(gw.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
  const env = { AGW_GATEWAY: gw.url, AGW_TOKEN: token, NODE_EXTRA_CA_CERTS: join(certDir, 'ca.pem') }
  const list = await runAgw(['connections', '--json'], env)
  expect(list.code).toBe(0)
  expect(JSON.parse(list.stdout).connections[0].name).toBe('pg')
  const r = await runAgw(['exec', '-c', 'pg', '--', 'psql', '-At', '-c', 'select 42'], env)
  expect(r.stdout).toBe('42\n')
})

it('an untrusted certificate is refused with exit 69 and a reason', async () => {
  const r = await runAgw(['connections'], { AGW_GATEWAY: gw.url, AGW_TOKEN: token })
  expect(r.code).toBe(69)
  expect(r.stderr).toMatch(/certificate/i)
})

it('the CLI refuses plain http to a gateway off loopback (the token would cross the network in clear)', async () => {
  const r = await runAgw(['connections'], { AGW_GATEWAY: 'http://agw.example.com', AGW_TOKEN: token })
  expect(r.code).toBe(65)
  expect(r.stderr).toMatch(/refusing plain http/)
})
