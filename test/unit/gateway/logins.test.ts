/** auth.login: once per token, with the identity; a bounded memory of token hashes. */
import { describe, expect, it } from 'vitest'
import { LoginRecorder } from '../../../src/gateway/logins.js'
import type { Principal } from '../../../src/identity/principal.js'
import type { EventLog, NewEvent } from '../../../src/recording/event-log.js'

function recorder(max?: number) {
  const emitted: NewEvent[] = []
  const events = { emit: (e: NewEvent) => emitted.push(e) } as unknown as EventLog
  return { emitted, logins: new LoginRecorder(events, max) }
}

const ALICE: Principal = { kind: 'human', subject: 'alice', email: 'alice@example.com', groups: ['sre'], issuer: 'https://idp', clientId: 'agw-cli', expiresAt: 2_000_000_000 }
const CI: Principal = { kind: 'agent', subject: 'ci-agent', groups: ['agents'], issuer: 'https://idp', clientId: 'ci-agent', claims: { repository: 'acme/app' } }

describe('LoginRecorder', () => {
  it('records auth.login the first time a token is seen, with who it names', () => {
    const { emitted, logins } = recorder()
    expect(logins.seen('token-a', ALICE, { socket: { remoteAddress: '127.0.0.1' }, url: '/v1/whoami?x=1' } as never)).toBe(true)
    expect(logins.seen('token-a', ALICE)).toBe(false)
    expect(emitted).toHaveLength(1)
    expect(emitted[0]).toMatchObject({
      type: 'auth.login',
      actor: { kind: 'human', subject: 'alice', email: 'alice@example.com', issuer: 'https://idp', clientId: 'agw-cli', groups: ['sre'] },
      data: {
        identityKind: 'human',
        subject: 'alice',
        email: 'alice@example.com',
        groups: ['sre'],
        issuer: 'https://idp',
        clientId: 'agw-cli',
        expiresAt: '2033-05-18T03:33:20.000Z',
        remote: '127.0.0.1',
        path: '/v1/whoami',
      },
    })
    expect(logins.seen('token-b', CI)).toBe(true)
    expect(emitted[1]?.data).toMatchObject({ identityKind: 'agent', subject: 'ci-agent', claims: { repository: 'acme/app' } })
  })

  it('never keeps the token itself, only a hash', () => {
    const { emitted, logins } = recorder()
    logins.seen('eyJ.secret-token.sig', ALICE)
    expect(JSON.stringify(emitted)).not.toContain('secret-token')
  })

  it('is bounded: past the bound the token seen longest ago is forgotten, a recent one is not', () => {
    const { emitted, logins } = recorder(2)
    logins.seen('a', ALICE)
    logins.seen('b', ALICE)
    logins.seen('a', ALICE) // a is now the most recent
    logins.seen('c', ALICE) // forgets b
    expect(logins.size).toBe(2)
    expect(logins.seen('a', ALICE)).toBe(false)
    expect(logins.seen('b', ALICE)).toBe(true)
    expect(emitted).toHaveLength(4)
  })
})
