/** From verified claims to a Principal (src/identity/claims.ts): pure, table-tested. */
import { describe, expect, it } from 'vitest'
import { principalFromClaims, principalKind, readClaim, toGroups } from '../../../src/identity/claims.js'
import type { ClaimMapping } from '../../../src/identity/claims.js'

const mapping: ClaimMapping = { issuer: 'https://idp.example', groupsClaim: 'groups', subjectClaim: 'sub', emailClaim: 'email', claims: {} }

describe('readClaim', () => {
  it('prefers a literal key with dots (namespaced claims) over a path', () => {
    const payload = { 'https://agw.example/groups': ['a'], https: { '//agw': 'no' } }
    expect(readClaim(payload, 'https://agw.example/groups')).toEqual(['a'])
  })
  it('walks a dotted path into nested objects', () => {
    expect(readClaim({ resource_access: { agw: { roles: ['dba'] } } }, 'resource_access.agw.roles')).toEqual(['dba'])
  })
  it('returns undefined for a missing segment, an array or a primitive on the way', () => {
    expect(readClaim({ a: { b: 1 } }, 'a.c')).toBeUndefined()
    expect(readClaim({ a: [{ b: 1 }] }, 'a.0.b')).toBeUndefined()
    expect(readClaim({ a: 'x' }, 'a.length')).toBeUndefined()
  })
  it('does not read inherited properties', () => {
    expect(readClaim({}, 'constructor')).toBeUndefined()
    expect(readClaim({ a: {} }, 'a.toString')).toBeUndefined()
  })
})

describe('toGroups', () => {
  it.each([
    [undefined, []],
    [null, []],
    ['sre', ['sre']],
    ['', []],
    [['sre', 'sre', 'dba', 3, null, ''], ['sre', 'dba']],
    [{ sre: true }, []],
    [42, []],
  ])('%j -> %j', (value, groups) => {
    expect(toGroups(value)).toEqual(groups)
  })
})

describe('principalKind', () => {
  it.each([
    ['oidc-provider client credentials: sub = client_id', { sub: 'ci-agent', client_id: 'ci-agent' }, 'agent'],
    ['Okta / Hydra client credentials: sub = client_id', { sub: '0oa1', client_id: '0oa1' }, 'agent'],
    ['RFC 9068 token without sub', { client_id: 'ci-agent' }, 'agent'],
    ['Auth0 client credentials', { sub: 'abc@clients', azp: 'abc', gty: 'client-credentials' }, 'agent'],
    ['Entra ID app-only token', { sub: 'f1e2', azp: 'app-id', idtyp: 'app' }, 'agent'],
    ['a person via a device client', { sub: 'alice', client_id: 'agw-cli' }, 'human'],
    ['a person, azp only', { sub: 'alice', azp: 'agw-cli' }, 'human'],
    ['a person, no client id at all', { sub: 'alice' }, 'human'],
  ])('%s', (_name, payload, kind) => {
    const p = payload as Record<string, unknown>
    const sub = typeof p['sub'] === 'string' ? p['sub'] : undefined
    const clientId = (p['client_id'] ?? p['azp']) as string | undefined
    expect(principalKind(p, sub, clientId)).toBe(kind)
  })
})

describe('principalFromClaims', () => {
  it('falls back to client_id as the subject when sub is absent', () => {
    expect(principalFromClaims({ client_id: 'ci-agent', exp: 10 }, mapping)).toEqual({
      kind: 'agent',
      subject: 'ci-agent',
      groups: [],
      issuer: 'https://idp.example',
      clientId: 'ci-agent',
      expiresAt: 10,
    })
  })
  it('explains a token that names nobody', () => {
    expect(principalFromClaims({ exp: 10 }, mapping)).toMatch(/names nobody/)
  })
  it('uses preferred_username as the name when name is absent, and ignores a non-string email', () => {
    const p = principalFromClaims({ sub: 'u1', preferred_username: 'alice', email: ['x'] }, mapping)
    expect(p).toMatchObject({ subject: 'u1', name: 'alice' })
    expect(p).not.toHaveProperty('email')
  })
  it('maps extra claims, stringifying numbers and booleans and skipping objects', () => {
    const p = principalFromClaims(
      { sub: 'repo:acme/app', repository: 'acme/app', run_number: 42, fork: false, nested: { a: 1 } },
      { ...mapping, claims: { repository: 'repository', run: 'run_number', fork: 'fork', nested: 'nested', missing: 'nope' } },
    )
    expect(p).toMatchObject({ claims: { repository: 'acme/app', run: '42', fork: 'false' } })
  })
  it('lets the issuer config force the kind', () => {
    expect(principalFromClaims({ sub: 'repo:acme/app:ref:refs/heads/main' }, { ...mapping, kind: 'agent' })).toMatchObject({ kind: 'agent' })
  })
})
