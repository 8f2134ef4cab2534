/**
 * `agw gateway init` and `agw gateway start` as an operator runs them: the starter config, a
 * refused config (exit 65, with the file, line and key), and a gateway that serves /healthz and
 * stops cleanly on SIGTERM.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import { AGW_BIN, runAgw } from '../support/gateway.js'

it('init writes a starter config and a private master key, and refuses to overwrite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'agw-init-'))
  const r = await runAgw(['gateway', 'init', '--dir', dir], {})
  expect(r.code).toBe(0)
  expect(readFileSync(join(dir, 'agw.yaml'), 'utf8')).toContain('connections:')
  expect(statSync(join(dir, 'agw.key')).mode & 0o777).toBe(0o600)
  const again = await runAgw(['gateway', 'init', '--dir', dir], {})
  expect(again.code).toBe(65)
  expect(again.stderr).toMatch(/exists; pass --force/)
})

it('start refuses a bad config with exit 65, naming the line, the key and the missing secret', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'agw-start-'))
  await runAgw(['gateway', 'init', '--dir', dir], {})
  const r = await runAgw(['gateway', 'start', '--config', join(dir, 'agw.yaml')], { PG_PASSWORD: undefined })
  expect(r.code).toBe(65)
  expect(r.stderr).toMatch(/agw\.yaml:\d+: connections\[0\]\.target\.password: environment variable PG_PASSWORD is not set/)
  writeFileSync(join(dir, 'bad.yaml'), 'identity:\n  issuers: [{ issuer: https://idp.example.com, audience: agw }]\nlisten: 127.0.0.1:notaport\n')
  const bad = await runAgw(['gateway', 'start', '--config', join(dir, 'bad.yaml')], {})
  expect(bad.code).toBe(65)
  expect(bad.stderr).toMatch(/bad\.yaml:3: listen: expected HOST:PORT/)
})

it('start refuses a rule naming a statement kind that does not exist, with exit 65, the line and the nearest kind', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'agw-kind-'))
  writeFileSync(
    join(dir, 'agw.yaml'),
    [
      'identity:',
      '  issuers: [{ issuer: https://idp.example.com, audience: agw }]',
      'connections:',
      '  - name: pg',
      '    type: postgres',
      '    target: { host: 127.0.0.1, port: 5432, database: app, user: agw }',
      '    allow: [agents]',
      '    rules:',
      '      - { match: { statement: [DROPP] }, action: deny }',
      '',
    ].join('\n'),
  )
  const r = await runAgw(['gateway', 'start', '--config', join(dir, 'agw.yaml')], {})
  expect(r.code).toBe(65)
  expect(r.stderr).toMatch(/agw\.yaml:9: connections\[0\]\.rules\[0\]\.match\.statement\[0\]: unknown statement kind "DROPP".*did you mean DROP\?/)
})

it('start serves /healthz and /v1/info, and stops cleanly on SIGTERM', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'agw-run-'))
  writeFileSync(
    join(dir, 'agw.yaml'),
    'listen: 127.0.0.1:0\nidentity:\n  issuers: [{ issuer: https://idp.example.com, audience: agw }]\n  deviceClient: agw-cli\nstorage: sqlite:./agw.db\n',
  )
  const child = spawn(process.execPath, [AGW_BIN, 'gateway', 'start', '--config', join(dir, 'agw.yaml')], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  await expect.poll(() => stderr).toMatch(/agw gateway listening on http:\/\/127\.0\.0\.1:\d+/)
  const url = /listening on (http:\/\/\S+)/.exec(stderr)?.[1] as string
  expect(await (await fetch(`${url}/healthz`)).json()).toMatchObject({ status: 'ok' })
  expect(await (await fetch(`${url}/v1/info`)).json()).toMatchObject({ issuer: 'https://idp.example.com', deviceClientId: 'agw-cli', audience: 'agw' })
  const denied = await fetch(`${url}/v1/connections`)
  expect(denied.status).toBe(401)
  child.kill('SIGTERM')
  expect(await exited).toBe(0)
  expect(statSync(join(dir, 'agw.key')).mode & 0o777).toBe(0o600)
})

it('a usage error (unknown flag, a flag without its value) exits 65 with an agw: line, not oclif\'s 2', async () => {
  const unknown = await runAgw(['sessions', 'list', '--bogus'], {})
  expect(unknown.code).toBe(65)
  expect(unknown.stderr).toContain('agw: Nonexistent flag: --bogus')
  const noValue = await runAgw(['sessions', 'list', '--limit'], {})
  expect(noValue.code).toBe(65)
  expect(noValue.stderr).toContain('agw: Flag --limit expects a value')
})
