// SCRAM-SHA-256: RFC 5802 section 5 (the exchange), RFC 7677 section 3 (the SHA-256 test vector).
// MD5: PostgreSQL protocol documentation, "AuthenticationMD5Password".
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { AgwError } from '../../../../src/errors.js'
import { ScramClient, ScramServer, md5PasswordResponse, saslprep } from '../../../../src/protocols/postgres/auth.js'

const RFC7677 = {
  username: 'user',
  password: 'pencil',
  clientNonce: 'rOprNGfwEbeRWgbNEkqO',
  serverNonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
  salt: 'W22ZaJ0SNY7soEsUEjb6gQ==',
  clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal:
    'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
}

function expectAgwError(fn: () => unknown, code: AgwError['code']): void {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(AgwError)
    expect((err as AgwError).code).toBe(code)
    return
  }
  expect.fail(`expected AgwError(${code})`)
}

/** A client that has sent client-first for the RFC vector, ready for server-first. */
function rfcClient(): ScramClient {
  const client = new ScramClient(RFC7677.password, { nonce: RFC7677.clientNonce, username: RFC7677.username })
  client.clientFirstMessage()
  return client
}

const server = new ScramServer('s3cret-one-time', { iterations: 4096 })

/** Runs psql's side (our client) against our server; returns what the server decided. */
function roundTrip(clientPassword: string, srv = server): { ok: boolean; client: ScramClient; serverFinal?: string } {
  const client = new ScramClient(clientPassword)
  const exchange = srv.start()
  const serverFirst = exchange.handleClientFirst('SCRAM-SHA-256', Buffer.from(client.clientFirstMessage()))
  const result = exchange.handleClientFinal(Buffer.from(client.handleServerFirst(serverFirst)))
  return result.ok ? { ok: true, client, serverFinal: result.serverFinal } : { ok: false, client }
}

describe('ScramClient: RFC 7677 test vector', () => {
  it('produces the RFC client-first and client-final messages and accepts the server signature', () => {
    const client = new ScramClient(RFC7677.password, { nonce: RFC7677.clientNonce, username: RFC7677.username })
    expect(client.clientFirstMessage()).toBe(RFC7677.clientFirst)
    expect(client.handleServerFirst(RFC7677.serverFirst)).toBe(RFC7677.clientFinal)
    expect(() => client.verifyServerFinal(RFC7677.serverFinal)).not.toThrow()
  })

  it('sends an empty username and a random nonce by default, as libpq does', () => {
    const first = new ScramClient('pw').clientFirstMessage()
    expect(first).toMatch(/^n,,n=,r=[A-Za-z0-9+/]{24}$/)
    expect(new ScramClient('pw').clientFirstMessage()).not.toBe(first)
  })
})

describe('ScramServer: RFC 7677 test vector', () => {
  it('produces the RFC server-first and server-final messages', () => {
    const srv = new ScramServer(RFC7677.password, { salt: Buffer.from(RFC7677.salt, 'base64') })
    const exchange = srv.start({ serverNonce: RFC7677.serverNonce })
    expect(exchange.mechanisms).toEqual(['SCRAM-SHA-256'])
    expect(exchange.handleClientFirst('SCRAM-SHA-256', Buffer.from(RFC7677.clientFirst))).toBe(RFC7677.serverFirst)
    expect(exchange.handleClientFinal(Buffer.from(RFC7677.clientFinal))).toEqual({ ok: true, serverFinal: RFC7677.serverFinal })
  })
})

describe('client against server', () => {
  it('authenticates both ways with the right password, many connections on one verifier', () => {
    for (let i = 0; i < 3; i++) {
      const { ok, client, serverFinal } = roundTrip('s3cret-one-time')
      expect(ok).toBe(true)
      expect(() => client.verifyServerFinal(serverFinal as string)).not.toThrow()
    }
  })

  it('refuses a wrong password', () => {
    expect(roundTrip('s3cret-one-timE').ok).toBe(false)
  })

  it('uses the iteration count and salt the server sends', () => {
    const srv = new ScramServer('pw', { iterations: 1 })
    const exchange = srv.start()
    const client = new ScramClient('pw')
    const serverFirst = exchange.handleClientFirst('SCRAM-SHA-256', Buffer.from(client.clientFirstMessage()))
    expect(serverFirst).toMatch(/,s=[A-Za-z0-9+/]{22}==,i=1$/)
    const result = exchange.handleClientFinal(Buffer.from(client.handleServerFirst(serverFirst)))
    expect(result.ok).toBe(true)
  })

  it('normalises non-ASCII passwords the same way on both sides (SASLprep)', () => {
    // U+FF50 FULLWIDTH p and U+00A0 NO-BREAK SPACE: NFKC and mapping turn them into 'p' and ' '.
    const srv = new ScramServer('\uff50ass\u00a0word')
    expect(roundTrip('pass word', srv).ok).toBe(true)
  })

  it('rejects a client that asked for SCRAM-SHA-256-PLUS or another mechanism', () => {
    const client = new ScramClient('pw')
    expectAgwError(() => server.start().handleClientFirst('SCRAM-SHA-256-PLUS', Buffer.from(client.clientFirstMessage())), 'protocol')
    expectAgwError(() => server.start().handleClientFirst('SCRAM-SHA-1', Buffer.from('n,,n=,r=abc')), 'protocol')
  })
})

describe('ScramClient refuses a bad server', () => {
  it('fails on a tampered server signature', () => {
    const client = rfcClient()
    client.handleServerFirst(RFC7677.serverFirst)
    const signature = Buffer.from(RFC7677.serverFinal.slice(2), 'base64')
    signature[0] = (signature[0] as number) ^ 1
    const tampered = `v=${signature.toString('base64')}`
    expectAgwError(() => client.verifyServerFinal(tampered), 'unauthenticated')
  })

  it('fails on a server signature from a server that does not know the password', () => {
    const impostor = new ScramServer('not-the-password')
    const client = new ScramClient('the-password')
    const exchange = impostor.start()
    const serverFirst = exchange.handleClientFirst('SCRAM-SHA-256', Buffer.from(client.clientFirstMessage()))
    expect(exchange.handleClientFinal(Buffer.from(client.handleServerFirst(serverFirst)))).toEqual({ ok: false })
    // An impostor can only guess the signature; any guess fails.
    expectAgwError(() => client.verifyServerFinal('v=' + Buffer.alloc(32).toString('base64')), 'unauthenticated')
  })

  it("fails on the server's e= error", () => {
    const client = rfcClient()
    client.handleServerFirst(RFC7677.serverFirst)
    expectAgwError(() => client.verifyServerFinal('e=invalid-proof'), 'unauthenticated')
  })

  it('fails when the server nonce does not extend the client nonce', () => {
    expectAgwError(() => rfcClient().handleServerFirst('r=XXXrOprNGfwEbeRWgbNEkqO123,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096'), 'protocol')
    // Echoing the client nonce alone: the server contributed nothing.
    expectAgwError(() => rfcClient().handleServerFirst('r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096'), 'protocol')
  })

  it.each([
    ['empty', ''],
    ['attributes out of order', 's=W22ZaJ0SNY7soEsUEjb6gQ==,r=rOprNGfwEbeRWgbNEkqOabc,i=4096'],
    ['missing iterations', 'r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ=='],
    ['trailing attribute', 'r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,x=1'],
    ['mandatory extension', 'm=ext,r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096'],
    ['salt not base64', 'r=rOprNGfwEbeRWgbNEkqOabc,s=not*base64,i=4096'],
    ['empty salt', 'r=rOprNGfwEbeRWgbNEkqOabc,s=,i=4096'],
    ['zero iterations', 'r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0'],
    ['negative iterations', 'r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-1'],
    ['too many iterations', 'r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=10000000'],
    ['iterations not a number', 'r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4k'],
    ['non-printable nonce', 'r=rOprNGfwEbeRWgbNEkqO\u0001,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096'],
  ])('rejects a malformed server-first-message: %s', (_name, serverFirst) => {
    expectAgwError(() => rfcClient().handleServerFirst(serverFirst), 'protocol')
  })

  it.each([
    ['empty', ''],
    ['unknown attribute', 'x=abc'],
    ['not base64', 'v=***'],
    ['trailing attribute', `${RFC7677.serverFinal},x=1`],
  ])('rejects a malformed server-final-message: %s', (_name, serverFinal) => {
    const client = rfcClient()
    client.handleServerFirst(RFC7677.serverFirst)
    expect(() => client.verifyServerFinal(serverFinal)).toThrow(AgwError)
  })

  it('refuses steps out of order, and any step after a failure', () => {
    const client = new ScramClient('pw')
    expectAgwError(() => client.handleServerFirst(RFC7677.serverFirst), 'protocol')
    const failed = rfcClient()
    expectAgwError(() => failed.handleServerFirst('garbage'), 'protocol')
    expectAgwError(() => failed.verifyServerFinal(RFC7677.serverFinal), 'protocol')
  })
})

describe('ScramServer refuses a bad client', () => {
  it.each([
    ['channel binding required (p=)', 'p=tls-server-end-point,,n=,r=abc'],
    ['authorization identity', 'n,a=admin,n=,r=abc'],
    ['no gs2 header', 'n=,r=abc'],
    ['missing nonce', 'n,,n='],
    ['nonce with a non-printable byte', 'n,,n=,r=ab\u0001c'],
    ['mandatory extension', 'n,,m=ext,n=,r=abc'],
    ['empty', ''],
  ])('rejects a malformed client-first-message: %s', (_name, clientFirst) => {
    expectAgwError(() => server.start().handleClientFirst('SCRAM-SHA-256', Buffer.from(clientFirst)), 'protocol')
  })

  it('accepts the y flag (client supports channel binding, thinks the server does not)', () => {
    const exchange = server.start()
    expect(exchange.handleClientFirst('SCRAM-SHA-256', Buffer.from('y,,n=,r=abc'))).toMatch(/^r=abc/)
  })

  function clientFinalCase(mutate: (clientFinal: string) => string): () => unknown {
    return () => {
      const client = new ScramClient('s3cret-one-time')
      const exchange = server.start()
      const serverFirst = exchange.handleClientFirst('SCRAM-SHA-256', Buffer.from(client.clientFirstMessage()))
      return exchange.handleClientFinal(Buffer.from(mutate(client.handleServerFirst(serverFirst))))
    }
  }

  it.each([
    ['no proof', (m: string) => m.slice(0, m.indexOf(',p='))],
    ['short proof', (m: string) => m.replace(/,p=.*/, ',p=AAAA')],
    ['proof not base64', (m: string) => m.replace(/,p=.*/, ',p=*')],
    ['different channel binding', (m: string) => m.replace('c=biws', 'c=eSws')],
    ['different nonce', (m: string) => m.replace(/,r=[^,]+/, ',r=abc')],
    ['garbage', () => 'garbage'],
  ])('rejects a malformed client-final-message: %s', (_name, mutate) => {
    expectAgwError(clientFinalCase(mutate), 'protocol')
  })

  it('says no (without throwing) to a wrong proof', () => {
    const flipProofBit = (m: string): string => {
      const proof = Buffer.from(m.slice(m.indexOf(',p=') + 3), 'base64')
      proof[0] = (proof[0] as number) ^ 1
      return `${m.slice(0, m.indexOf(',p='))},p=${proof.toString('base64')}`
    }
    expect(clientFinalCase(flipProofBit)()).toEqual({ ok: false })
  })

  it('refuses messages out of order', () => {
    expectAgwError(() => server.start().handleClientFinal(Buffer.from(RFC7677.clientFinal)), 'protocol')
  })

  it('refuses an unusable iteration count', () => {
    expectAgwError(() => new ScramServer('pw', { iterations: 0 }), 'bad_input')
  })
})

describe('saslprep', () => {
  it('leaves ASCII alone, control characters included (as PostgreSQL does)', () => {
    expect(saslprep('pencil\u0007').toString('utf8')).toBe('pencil\u0007')
  })

  it('maps non-ASCII spaces to a space, drops B.1 characters, normalises with NFKC', () => {
    expect(saslprep('a\u00a0b\u00adc\uff44\u2168').toString('utf8')).toBe('a bcdIX')
  })

  it('falls back to the raw bytes on a prohibited character', () => {
    expect(saslprep('\uff50\u0007').toString('utf8')).toBe('\uff50\u0007')
    expect(saslprep('\uff50\ue000').toString('utf8')).toBe('\uff50\ue000')
  })

  it('applies the bidi rule (RandALCat strings must not mix with LCat and must start and end RandAL)', () => {
    expect(saslprep('\u05d0\uff11\u05d1').toString('utf8')).toBe('\u05d01\u05d1')
    expect(saslprep('\u05d0a\uff11').toString('utf8')).toBe('\u05d0a\uff11')
  })
})

describe('md5PasswordResponse', () => {
  it("computes 'md5' + md5(md5(password + user) + salt)", () => {
    const salt = Buffer.from([0x01, 0xfe, 0x7f, 0x80])
    const md5 = (data: Buffer | string): string => createHash('md5').update(data).digest('hex')
    const expected = 'md5' + md5(Buffer.concat([Buffer.from(md5('secretalice')), salt]))
    expect(md5PasswordResponse('alice', 'secret', salt)).toBe(expected)
    expect(expected).toMatch(/^md5[0-9a-f]{32}$/)
  })

  it('rejects a salt that is not 4 bytes', () => {
    expectAgwError(() => md5PasswordResponse('alice', 'secret', Buffer.alloc(3)), 'protocol')
  })
})
