/**
 * Test helpers: a gateway started in-process from YAML (a temp dir for its store and key), and the
 * built CLI run as a child process the way a user runs it.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseConfig } from '../../src/config/load.js'
import type { Gateway } from '../../src/gateway/gateway.js'
import { createGateway } from '../../src/gateway/start.js'
import { silentLogger } from '../../src/log.js'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const AGW_BIN = join(ROOT, 'bin', 'run.js')

export interface TestGateway {
  gateway: Gateway
  url: string
  dir: string
  stop(): Promise<void>
}

/** `yaml` is the config minus `listen`, `storage` and `encryption`, which point into a temp dir. */
export async function startTestGateway(yaml: string): Promise<TestGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'agw-test-'))
  const config = parseConfig(`listen: 127.0.0.1:0\nstorage: sqlite:./agw.db\nencryption: { keyFile: ./agw.key }\n${yaml}`, 'test.yaml', dir)
  const gateway = createGateway(config, { logger: silentLogger })
  const url = await gateway.start()
  return {
    gateway,
    url,
    dir,
    async stop() {
      await gateway.stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

export interface RunResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs the built `agw` with stdin closed (as in CI). */
export function runAgw(args: string[], env: Record<string, string | undefined>, opts: { timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [AGW_BIN, ...args], {
      env: { ...process.env, CI: 'true', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`agw ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`))
    }, opts.timeoutMs ?? 30_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
    child.stdin.end(opts.input ?? '')
  })
}
