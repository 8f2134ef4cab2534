/**
 * `agw demo` on this machine, as the README's first command runs it: no setup, exit 0, and a tour
 * that shows its points through the real `agw exec`: a masked SELECT, a denied DROP, an UPDATE held
 * until a scripted reviewer approves it (seen in `agw reviews`), then the recording.
 */
import { expect, it } from 'vitest'
import { runAgw } from '../support/gateway.js'

it('runs the tour and exits 0', async () => {
  const r = await runAgw(['demo'], {}, { timeoutMs: 150_000 })
  expect(r.stderr).toBe('')
  expect(r.code).toBe(0)
  const out = r.stdout

  // Masked: the agent sees the masks, never the card numbers or emails.
  expect(out).toContain('The agent reads customer data')
  expect(out).toMatch(/Ada Lovelace \| a\*\*\*@example\.com \| \*\*\*\*1111/)
  expect(out).not.toContain('4111 1111 1111 1111')
  expect(out).not.toContain('ada@example.com')

  // Denied, with the rule's message and SQLSTATE 42501; the session goes on.
  expect(out).toContain('ERROR:  42501: agw denied DROP TABLE on connection "customers" by rule "no-schema-changes": schema changes go through migrations')

  // Held, listed for the reviewer, approved, then run.
  const id = /agw: held for review ([0-9a-f-]{36}) by rule writes-need-review; waiting for sre — Ctrl-C cancels/.exec(out)?.[1]
  expect(id).toBeDefined()
  const listing = out.slice(out.indexOf('$ agw reviews'), out.indexOf('$ agw review approve'))
  expect(listing).toContain('Waiting for your decision (1)')
  expect(listing).toMatch(new RegExp(`${id}\\s+customers\\s+writes-need-review\\s+demo-agent \\(agent\\)\\s+expires in`))
  expect(out).toContain(`agw: review ${id} approved by dana@example.com: one upgrade for a paying customer, ticket CS-1042; running the statement`)
  expect(out.indexOf('UPDATE 1')).toBeGreaterThan(out.indexOf('$ agw review approve'))
  expect(out).toMatch(/1 \| Ada Lovelace \| enterprise/)

  // The recording: one session that tells the story.
  expect(out).toContain('What the gateway recorded (1 session')
  expect(out).toMatch(/masking\.applied\s+masked 6 value\(s\)/)
  expect(out).toMatch(/query\.result\s+SELECT 3, 3 row\(s\): \["1","Ada Lovelace","a\*\*\*@example\.com","\*\*\*\*1111","pro"\]/)
  expect(out).toMatch(/query\.denied\s+drop table orders/)
  expect(out).toMatch(new RegExp(`review\\.requested\\s+${id} by rule writes-need-review, for sre`))
  expect(out).toMatch(new RegExp(`review\\.approved\\s+${id} by dana@example\\.com`))
  expect(out).toMatch(/session\.end\s+ended, exit code 0/)
}, 180_000)
