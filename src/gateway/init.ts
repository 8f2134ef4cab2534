/** `agw gateway init`: a starter config and a master key, never overwriting what exists. */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { AgwError } from '../errors.js'
import { ensureMasterKey } from './keys.js'

export const STARTER_CONFIG = `# agw gateway config. Reference: docs/configuration.md
listen: 127.0.0.1:8443            # plain http only on loopback; set tls.cert/tls.key for anything else
# tls: { cert: ./tls.crt, key: ./tls.key }
identity:
  issuers:
    - issuer: https://idp.example.com   # your OIDC provider
      audience: agw
      groupsClaim: groups
  deviceClient: agw-cli
storage: sqlite:./agw.db
encryption:
  keyFile: ./agw.key               # created (random, mode 0600) on first start when missing
roles:
  auditors: [security]
connections:
  - name: pg
    type: postgres
    target: { host: 127.0.0.1, port: 5432, database: app, user: agw, password: env:PG_PASSWORD }
    allow: [agents, sre]
    rules:
      - { match: { statement: [DROP, TRUNCATE, ALTER] }, action: deny, message: schema changes go through migrations }
audit:
  sinks:
    - { type: file, path: ./audit.jsonl }
`

export function initGateway(dir: string, opts: { force?: boolean } = {}): { config: string; key: string } {
  const base = resolve(dir)
  mkdirSync(base, { recursive: true })
  const config = join(base, 'agw.yaml')
  const key = join(base, 'agw.key')
  if (existsSync(config) && !opts.force) throw new AgwError('bad_input', `${config} exists; pass --force to overwrite it`)
  writeFileSync(config, STARTER_CONFIG, { mode: 0o644 })
  ensureMasterKey(key)
  return { config, key }
}
