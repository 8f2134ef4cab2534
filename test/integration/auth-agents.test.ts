/**
 * Identities that are not people, for CI and agents: AGW_TOKEN (a bearer token from elsewhere,
 * used as is) and AGW_CLIENT_ID / AGW_CLIENT_SECRET (the client-credentials grant against the
 * gateway's identity provider, named by /v1/info). Both through the built CLI, against the real
 * oidc-provider, the gateway and the machine's PostgreSQL.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { AuditEvent } from '../../src/recording/events.js'
import { runAgw, startTestGateway, type RunResult, type TestGateway } from '../support/gateway.js'
import { cliEnv } from '../support/login.js'
import { AGENT_CLIENT, connectTestIssuer } from '../support/oidc.js'

const idp = connectTestIssuer(inject('issuerUrl'))
let gw: TestGateway
let dir: string

beforeAll(async () => {
  gw = await startTestGateway(`
identity:
  issuers: [{ issuer: ${idp.issuer}, audience: agw }]
connections:
  - name: pg
    type: postgres
    target: { host: 127.0.0.1, port: 5432, database: test, user: postgres }
    allow: [agents]
`)
  dir = mkdtempSync(join(tmpdir(), 'agw-agents-'))
})
afterAll(async () => {
  await gw?.stop()
  rmSync(dir, { recursive: true, force: true })
})

function said(r: RunResult): string {
  return r.stderr.replace(/\s+/g, ' ')
}

async function events(type: AuditEvent['type']): Promise<AuditEvent[]> {
  await gw.gateway.events.flush()
  return (await gw.gateway.store.listEvents()).filter((e) => e.type === type)
}

const clientCredentials = () => cliEnv(dir, { AGW_GATEWAY: gw.url, AGW_CLIENT_ID: AGENT_CLIENT.id, AGW_CLIENT_SECRET: AGENT_CLIENT.secret })

describe.each([
  ['AGW_TOKEN', async () => cliEnv(dir, { AGW_GATEWAY: gw.url, AGW_TOKEN: await idp.agentToken() }), 'AGW_TOKEN'],
  ['AGW_CLIENT_ID / AGW_CLIENT_SECRET', async () => clientCredentials(), `client credentials (AGW_CLIENT_ID ${AGENT_CLIENT.id})`],
])('an agent identity through %s', (_name, makeEnv, source) => {
  it('agw connections lists what the agent may use', async () => {
    const r = await runAgw(['connections'], await makeEnv())
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^pg +postgres +test/m)
  })

  it("agw exec -c pg -- psql -At -c 'select 1' prints 1", async () => {
    const r = await runAgw(['exec', '-c', 'pg', '--', 'psql', '-At', '-c', 'select 1'], await makeEnv())
    expect(r.stderr).toBe('')
    expect(r.stdout).toBe('1\n')
    expect(r.code).toBe(0)
  })

  it("the wrapped command gets none of agw's credentials", async () => {
    const r = await runAgw(['exec', '-c', 'pg', '--', 'sh', '-c', 'echo "${AGW_TOKEN:-none} ${AGW_CLIENT_ID:-none} ${AGW_CLIENT_SECRET:-none}"'], await makeEnv())
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toBe('none none none\n')
  })

  it('agw whoami says agent, ci-agent, and where the token came from', async () => {
    const r = await runAgw(['whoami', '--json'], await makeEnv())
    expect(r.stderr).toBe('')
    expect(JSON.parse(r.stdout)).toMatchObject({ kind: 'agent', subject: AGENT_CLIENT.id, clientId: AGENT_CLIENT.id, groups: ['agents'], issuer: idp.issuer, tokenSource: source })
  })
})

describe('client credentials', () => {
  it('the gateway records auth.login and the session as an agent; nothing is written to the config dir', async () => {
    const before = (await events('auth.login')).length
    const r = await runAgw(['exec', '-c', 'pg', '--agent', 'nightly-job', '--', 'psql', '-At', '-c', 'select 2'], clientCredentials())
    expect(r.stdout).toBe('2\n')
    const logins = (await events('auth.login')).slice(before)
    expect(logins).toHaveLength(1) // one token for the session and the tunnel
    expect(logins[0]?.data).toMatchObject({ identityKind: 'agent', subject: AGENT_CLIENT.id, clientId: AGENT_CLIENT.id, groups: ['agents'], issuer: idp.issuer })
    const start = (await events('session.start')).at(-1)
    expect(start?.data).toMatchObject({ agent: 'nightly-job', identityKind: 'agent' })
    expect(readdirSync(dir)).toEqual([])
  })

  it('a wrong secret: exit 77, the provider refusal in one message, the secret nowhere in the output', async () => {
    const r = await runAgw(['connections'], { ...clientCredentials(), AGW_CLIENT_SECRET: 'not-the-secret-4711' })
    expect(r.code).toBe(77)
    expect(said(r)).toContain(`refused the client credentials of ${AGENT_CLIENT.id}: invalid_client`)
    expect(said(r)).toContain('check AGW_CLIENT_ID and AGW_CLIENT_SECRET')
    expect(r.stdout + r.stderr).not.toContain('not-the-secret-4711')
  })

  it('half a credential is bad input (exit 65)', async () => {
    const r = await runAgw(['connections'], { ...clientCredentials(), AGW_CLIENT_SECRET: undefined })
    expect(r.code).toBe(65)
    expect(said(r)).toContain('AGW_CLIENT_ID is set but AGW_CLIENT_SECRET is not')
  })
})
