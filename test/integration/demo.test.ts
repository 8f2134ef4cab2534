/** `agw demo` on this machine, as the README's first command runs it: no setup, exit 0, a tour that shows its points. */
import { expect, it } from 'vitest'
import { runAgw } from '../support/gateway.js'

it('runs the tour and exits 0', async () => {
  const r = await runAgw(['demo'], {}, { timeoutMs: 150_000 })
  expect(r.stderr).toBe('')
  expect(r.code).toBe(0)
  expect(r.stdout).toContain('The agent reads customer data')
  expect(r.stdout).toContain('What the gateway recorded')
  expect(r.stdout).toMatch(/query\.result\s+SELECT 3, 3 row\(s\)/)
  expect(r.stdout).toMatch(/session\.end\s+ended, exit code 0/)
}, 180_000)
