/** The gateway config: a bad file is refused with the file, line, key and what is wrong (SPEC section 3). */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadConfig, parseConfig } from '../../../src/config/load.js'
import { AgwError } from '../../../src/errors.js'

const BASE = `identity:
  issuers:
    - issuer: https://idp.example.com
      audience: agw
`

function refusal(text: string): string {
  try {
    parseConfig(text, 'agw.yaml', '/etc/agw')
  } catch (err) {
    expect(err).toBeInstanceOf(AgwError)
    expect((err as AgwError).code).toBe('bad_input')
    expect((err as AgwError).exitCode).toBe(65)
    return (err as Error).message
  }
  throw new Error('the config was accepted')
}

describe('parseConfig', () => {
  it('accepts the SPEC example and fills defaults', () => {
    process.env.TEST_PG_PASSWORD = 's3cret'
    const c = parseConfig(
      `${BASE}storage: sqlite:./agw.db
connections:
  - name: pg-prod
    type: postgres
    target: { host: db.internal, port: 5432, database: app, user: agw, password: env:TEST_PG_PASSWORD }
    allow: [agents, sre]
    rules:
      - { match: { statement: [DROP, TRUNCATE, ALTER] }, action: deny, message: schema changes go through migrations }
      - { match: { statement: [DELETE, UPDATE], where: absent }, action: deny }
      - { match: { statement: [INSERT, UPDATE, DELETE] }, action: review, reviewers: [sre], timeout: 10m }
    masking:
      columns: [password, ssn, "*_token", api_key]
      detectors: [email, credit_card]
      style: redact
`,
      'agw.yaml',
      '/etc/agw',
    )
    expect(c.listen).toBe('127.0.0.1:8443')
    expect(c.connections[0]?.target.password).toBe('s3cret')
    expect(c.connections[0]?.rules).toHaveLength(3)
    expect(c.encryption.keyFile).toBe('/etc/agw/agw.key')
    expect(JSON.stringify(c.storage)).toContain('/etc/agw/agw.db')
  })

  it('names the line and key of a wrong type', () => {
    const msg = refusal(`${BASE}connections:
  - name: pg
    type: postgres
    target: { host: db, port: "5432", database: app, user: agw }
    allow: [agents]
`)
    expect(msg).toMatch(/agw\.yaml:8: connections\[0\]\.target\.port: .*number/)
  })

  it('names an unknown key, a missing key and a bad enum value', () => {
    expect(refusal(`${BASE}listen: 127.0.0.1:8443\nlisten_typo: 1\n`)).toMatch(/agw\.yaml:6: .*unknown key\(s\) "listen_typo"/)
    expect(refusal(`listen: 127.0.0.1:1\n`)).toMatch(/identity: /)
    expect(refusal(`${BASE}connections:\n  - { name: x, type: oracle, target: { host: h, port: 1 }, allow: [a] }\n`)).toMatch(/connections\[0\]\.type/)
  })

  it('refuses plain HTTP on a non-loopback address, and an http issuer off loopback', () => {
    expect(refusal(`${BASE}listen: 0.0.0.0:8443\n`)).toMatch(/listen: plain HTTP is only allowed on a loopback address/)
    expect(refusal(`identity:\n  issuers: [{ issuer: http://idp.example.com, audience: agw }]\n`)).toMatch(/issuer must use https/)
    expect(() => parseConfig(`${BASE}listen: 0.0.0.0:8443\ntls: { cert: c.pem, key: k.pem }\n`, 'agw.yaml', '/x')).not.toThrow()
  })

  it('reports a missing environment variable for a secret at its line, without the value of others', () => {
    delete process.env.NOPE_NOT_SET
    const msg = refusal(`${BASE}connections:
  - name: pg
    type: postgres
    target: { host: db, port: 5432, database: app, user: agw, password: env:NOPE_NOT_SET }
    allow: [agents]
`)
    expect(msg).toMatch(/agw\.yaml:8: connections\[0\]\.target\.password: environment variable NOPE_NOT_SET is not set/)
  })

  it('reads file: secrets relative to the config file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'agw-cfg-'))
    writeFileSync(join(dir, 'pw.txt'), 'from-file\n')
    writeFileSync(
      join(dir, 'agw.yaml'),
      `${BASE}connections:\n  - { name: pg, type: postgres, target: { host: db, port: 5432, database: app, user: agw, password: "file:pw.txt" }, allow: [a] }\n`,
    )
    expect(loadConfig(join(dir, 'agw.yaml')).config.connections[0]?.target.password).toBe('from-file')
  })

  it('refuses duplicate connection names and a review rule without reviewers', () => {
    const dup = refusal(`${BASE}connections:
  - { name: pg, type: postgres, target: { host: a, port: 1, database: d, user: u }, allow: [a] }
  - { name: pg, type: postgres, target: { host: b, port: 1, database: d, user: u }, allow: [a] }
`)
    expect(dup).toMatch(/agw\.yaml:7: connections\[1\]\.name: duplicate connection name "pg"/)
    const review = refusal(`${BASE}connections:
  - name: pg
    type: postgres
    target: { host: a, port: 1, database: d, user: u }
    allow: [a]
    rules:
      - { match: { statement: [UPDATE] }, action: review }
`)
    expect(review).toMatch(/rules\[0\]\.reviewers: a review rule needs reviewers/)
  })

  it('refuses a rule naming a statement kind, detail or function that can never match, and an unknown detector, at their lines', () => {
    const msg = refusal(`${BASE}connections:
  - name: pg
    type: postgres
    target: { host: a, port: 1, database: d, user: u }
    allow: [a]
    rules:
      - match:
          statement: [DELETE, DROPP]
        action: deny
      - { match: { statement: [CREATE FUNCTON] }, action: deny }
      - { match: { functions: ["pg_read_file()"] }, action: deny }
    masking:
      detectors: [email, credit_crad]
`)
    expect(msg).toMatch(/agw\.yaml:12: connections\[0\]\.rules\[0\]\.match\.statement\[1\]: unknown statement kind "DROPP".*did you mean DROP\?/)
    expect(msg).toMatch(/agw\.yaml:14: connections\[0\]\.rules\[1\]\.match\.statement\[0\]: .*did you mean CREATE FUNCTION\?/)
    expect(msg).toMatch(/agw\.yaml:15: connections\[0\]\.rules\[2\]\.match\.functions\[0\]: function "pg_read_file\(\)" can never match/)
    expect(msg).toMatch(/agw\.yaml:17: connections\[0\]\.masking\.detectors\[1\]: unknown detector "credit_crad"; did you mean credit_card\?/)
    expect(msg).not.toMatch(/"DELETE"/)
  })

  it('accepts statement details in any case and spacing, and schema-qualified function globs', () => {
    expect(() =>
      parseConfig(
        `${BASE}connections:
  - name: pg
    type: postgres
    target: { host: a, port: 1, database: d, user: u }
    allow: [a]
    dangerousFunctions: [pg_catalog.pg_read_file, "dblink*"]
    rules:
      - { match: { statement: [drop  table, Create Function, COPY FROM, DO] }, action: deny }
      - { match: { functions: ["pg_catalog.*"] }, action: deny }
    masking: { detectors: [all] }
`,
        'agw.yaml',
        '/etc/agw',
      ),
    ).not.toThrow()
  })

  it('reports YAML syntax errors with their line', () => {
    expect(refusal(`${BASE}connections: [\n  - {name: x\n`)).toMatch(/invalid YAML in agw\.yaml:\n\s+agw\.yaml:\d+:/)
  })

  it('refuses a missing file with exit code 65', () => {
    expect(() => loadConfig('/nonexistent/agw.yaml')).toThrow(/cannot read config file \/nonexistent\/agw\.yaml: ENOENT/)
  })
})
