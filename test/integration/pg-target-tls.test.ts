/**
 * TLS from the gateway to the target (target.tls): a throwaway cluster with ssl=on and a certificate
 * from a private CA (openssl), a pg_hba `hostssl` line so plain connections are refused. The gateway
 * verifies the server's certificate against the configured CA; a wrong CA or a server without TLS
 * fails with a message naming the connection.
 */
import { execFileSync } from 'node:child_process'
import { chownSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, inject, it } from 'vitest'
import { startPgCluster, type PgCluster } from '../support/pg-cluster.js'
import { runAgw, startTestGateway, type TestGateway } from '../support/gateway.js'
import { connectTestIssuer } from '../support/oidc.js'

const idp = connectTestIssuer(inject('issuerUrl'))
let cluster: PgCluster
let gw: TestGateway
let env: Record<string, string>

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' })
}

beforeAll(async () => {
  cluster = await startPgCluster()
  const dir = cluster.rootDir
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\n')
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=agw test db CA', '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.pem')])
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=other CA', '-keyout', join(dir, 'other.key'), '-out', join(dir, 'other.pem')])
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', join(dir, 'server.key'), '-out', join(dir, 'server.csr')])
  openssl(['x509', '-req', '-in', join(dir, 'server.csr'), '-CA', join(dir, 'ca.pem'), '-CAkey', join(dir, 'ca.key'), '-CAcreateserial', '-days', '1', '-extfile', join(dir, 'ext.cnf'), '-out', join(dir, 'server.pem')])
  // The server reads its key as the postgres OS user and wants it private.
  const pgUid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim())
  const pgGid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim())
  for (const f of ['server.key', 'server.pem']) chownSync(join(dir, f), pgUid, pgGid)
  execFileSync('chmod', ['600', join(dir, 'server.key')])
  await cluster.admin(`alter system set ssl_cert_file = '${join(dir, 'server.pem')}'; alter system set ssl_key_file = '${join(dir, 'server.key')}'; alter system set ssl = on;`)
  // Only TLS connections for the SCRAM user from now on.
  const hba = join(cluster.dataDir, 'pg_hba.conf')
  execFileSync('sed', ['-i', 's/^host\\(\\s\\+all\\s\\+scram_user\\)/hostssl\\1/', hba])
  await cluster.admin('select pg_reload_conf()')
  for (let i = 0; i < 100 && (await cluster.admin('show ssl')).trim() !== 'on'; i++) await new Promise((r) => setTimeout(r, 50))
  process.env.AGW_TLS_TEST_PW = cluster.users.scram.password
  const target = `host: 127.0.0.1, port: ${cluster.port}, database: app, user: ${cluster.users.scram.user}, password: env:AGW_TLS_TEST_PW`
  gw = await startTestGateway(`
identity:
  issuers: [{ issuer: ${idp.issuer}, audience: agw }]
connections:
  - { name: tls, type: postgres, target: { ${target}, tls: { ca: ${join(dir, 'ca.pem')} } }, allow: [agents] }
  - { name: wrongca, type: postgres, target: { ${target}, tls: { ca: ${join(dir, 'other.pem')} } }, allow: [agents] }
  - { name: plain, type: postgres, target: { ${target} }, allow: [agents] }
`)
  delete process.env.AGW_TLS_TEST_PW
  env = { AGW_GATEWAY: gw.url, AGW_TOKEN: await idp.agentToken() }
}, 120_000)

afterAll(async () => {
  await gw?.stop()
  await cluster?.stop()
})

it('connects to the target over TLS, verifying its certificate', async () => {
  const r = await runAgw(['exec', '-c', 'tls', '--', 'psql', '-At', '-c', 'select ssl from pg_stat_ssl where pid = pg_backend_pid()'], env)
  expect(r.stderr).toBe('')
  expect(r.stdout).toBe('t\n')
})

it('refuses a target whose certificate the configured CA did not sign (exit 69)', async () => {
  const r = await runAgw(['exec', '-c', 'wrongca', '--', 'psql', '-At', '-c', 'select 1'], env)
  expect(r.code).toBe(69)
  expect(r.stderr).toMatch(/TLS to connection "wrongca".*certificate/)
})

it('without tls the target refuses the plain connection, and the client is told which connection', async () => {
  const r = await runAgw(['exec', '-c', 'plain', '--', 'psql', '-At', '-c', 'select 1'], env)
  expect(r.code).toBe(69)
  expect(r.stderr).toMatch(/connection "plain".*(no pg_hba\.conf entry|SSL off)/)
})
