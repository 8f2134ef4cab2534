// Content detectors: for each one, values it must find (the exact part it masks) and look-alikes
// it must leave alone. Test card numbers are the networks' published test numbers; the IBANs are
// the ISO 13616 examples; the tokens are made-up values of the documented shapes.
import { describe, expect, it } from 'vitest'
import { DETECTOR_NAMES, DETECTORS, detectorsFor, findAll, ibanValid, luhn } from '../../../src/policy/index.js'
import { detectorGate, hasDigitRun, hasDigitRunBytes, rarestChar } from '../../../src/policy/detectors.js'

const T: Record<string, { hits: [string, string][]; misses: string[] }> = {
  email: {
    hits: [
      ['write to ada@example.com today', 'ada@example.com'],
      ['"first.last+tag@mail.co.uk"', 'first.last+tag@mail.co.uk'],
      ['{"email":"bob@corp.example"}', 'bob@corp.example'],
    ],
    misses: ['user@localhost', 'not an @ sign', 'a@b', 'version 1.2@3.4', '@example.com', 'foo@.com'],
  },
  credit_card: {
    hits: [
      ['card 4111111111111111 on file', '4111111111111111'],
      ['4111 1111 1111 1111', '4111 1111 1111 1111'],
      ['5500-0000-0000-0004', '5500-0000-0000-0004'],
      ['amex 378282246310005', '378282246310005'],
      ['{6011111111111117}', '6011111111111117'],
    ],
    misses: ['4111111111111112', '1234567890123456', '0000000000000000', 'order 1700000000000 ms', '4111 1111-1111 1111', '2024-01-15 10:30:00', '192.168.100.100'],
  },
  iban: {
    hits: [
      ['pay to GB82WEST12345698765432 please', 'GB82WEST12345698765432'],
      ['DE89 3704 0044 0532 0130 00', 'DE89 3704 0044 0532 0130 00'],
    ],
    misses: ['GB82WEST12345698765433', 'DE00 1234 5678 9012 3456 78', 'AB12CDEFGHIJKLMNOP'],
  },
  us_ssn: {
    hits: [['ssn 123-45-6789.', '123-45-6789']],
    misses: ['000-12-3456', '666-12-3456', '912-34-5678', '123-00-4567', '123-45-0000', '2024-01-15', '123456789', '1-123-45-6789-1'],
  },
  phone: {
    hits: [
      ['call +1 415 555 0132 now', '+1 415 555 0132'],
      ['+442079460958', '+442079460958'],
      ['(415) 555-0132', '(415) 555-0132'],
      ['415-555-0132', '415-555-0132'],
    ],
    misses: ['2024-01-15', '10:30:00', '192.168.100.1000', 'version 1.2.3', '+12', 'id 4155550132', 'v1.415.555.0132'],
  },
  aws_access_key: {
    hits: [['key AKIAIOSFODNN7EXAMPLE in config', 'AKIAIOSFODNN7EXAMPLE'], ['ASIAY34FZKBOKMUTVV7A', 'ASIAY34FZKBOKMUTVV7A']],
    misses: ['AKIAIOSFODNN7EXAMPL', 'XAKIAIOSFODNN7EXAMPLE', 'AKIAiosfodnn7example'],
  },
  aws_secret_key: {
    hits: [['secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY end', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY']],
    misses: ['da39a3ee5e6b4b0d3255bfef95601890afd80709', 'a'.repeat(40), 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEYS'],
  },
  github_token: {
    hits: [
      ['token ghp_abcdefghijklmnopqrstuvwxyz0123456789 here', 'ghp_abcdefghijklmnopqrstuvwxyz0123456789'],
      ['github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz', 'github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz'],
    ],
    misses: ['ghp_short', 'ghx_abcdefghijklmnopqrstuvwxyz0123456789', 'the ghp_ prefix'],
  },
  slack_token: {
    hits: [
      ['xoxb-123456789012-1234567890123-abcdefghijklmnop', 'xoxb-123456789012-1234567890123-abcdefghijklmnop'],
      ['https://hooks.slack.com/services/T000/B000/XXXX', 'https://hooks.slack.com/services/T000/B000/XXXX'],
    ],
    misses: ['xoxb-', 'xoxz-123456789012', 'slack.com/services'],
  },
  stripe_key: {
    hits: [['sk_live_4eC39HqLyjWDarjtT1zdp7dc', 'sk_live_4eC39HqLyjWDarjtT1zdp7dc'], ['rk_test_4eC39HqLyjWDarjtT1zdp7dc', 'rk_test_4eC39HqLyjWDarjtT1zdp7dc']],
    misses: ['pk_live_4eC39HqLyjWDarjtT1zdp7dc', 'sk_live_short', 'ask_live_4eC39HqLyjWDarjtT1zdp7dc'],
  },
  google_token: {
    hits: [['AIzaSyA-1234567890abcdefghijklmnopqrstu', 'AIzaSyA-1234567890abcdefghijklmnopqrstu'], ['ya29.a0AfH6SMBexampleexampleexample', 'ya29.a0AfH6SMBexampleexampleexample']],
    misses: ['AIzaShort', 'ya29.short'],
  },
  jwt: {
    hits: [
      ['Authorization: eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U'],
    ],
    misses: ['eyJhbGciOiJIUzI1NiJ9', 'eyJ.eyJ.x', 'theyJunk.eyJunk'],
  },
  private_key: {
    hits: [
      ['-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----', '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----'],
      ['{"k":"-----BEGIN RSA PRIVATE KEY-----\\nMIIE\\n-----END RSA PRIVATE KEY-----"}', '-----BEGIN RSA PRIVATE KEY-----\\nMIIE\\n-----END RSA PRIVATE KEY-----'],
      ['-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk', '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk'],
    ],
    misses: ['-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----', '-----BEGIN CERTIFICATE-----\nMIIB'],
  },
  bearer_token: {
    hits: [['Authorization: Bearer abcdef0123456789abcdef', 'abcdef0123456789abcdef'], ['bearer  tok_ABCDEFGHIJKLMNOP==', 'tok_ABCDEFGHIJKLMNOP==']],
    misses: ['Bearer short', 'the bearer of bad news', 'Bearer'],
  },
  password: {
    hits: [
      ['password=hunter2', 'hunter2'],
      ['db_password: "s3cr3t!"', 's3cr3t!'],
      ['{"api_key": "abc123def"}', 'abc123def'],
      ['postgres://app:pa55word@db:5432/app', 'pa55word'],
      ['AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI', 'wJalrXUtnFEMI'],
      ['client_secret = xyz789', 'xyz789'],
    ],
    misses: ['password', 'password reset requested', '{"token": null}', 'passwordless=true', 'tokens are nice', 'https://example.com/path'],
  },
}

describe('detectors', () => {
  it('covers every detector', () => {
    expect(Object.keys(T).sort()).toEqual([...DETECTOR_NAMES].sort())
  })

  for (const name of DETECTOR_NAMES) {
    describe(name, () => {
      const d = DETECTORS[name]!
      it.each(T[name]!.hits)('finds it in %j', (text, value) => {
        expect(findAll(text, [d]).map((f) => f.value)).toEqual([value])
      })
      it.each(T[name]!.misses.map((m) => [m]))('leaves %j alone', (text) => {
        expect(findAll(text, [d])).toEqual([])
      })
      it('has a hint that every hit passes (the fast path never skips a hit)', () => {
        const hint = new RegExp(d.hint)
        for (const [text] of T[name]!.hits) expect(hint.test(text)).toBe(true)
      })
      it('has a gate (its literals, or its hint) that every hit passes', () => {
        const gate = detectorGate(d)
        for (const [text] of T[name]!.hits) expect(gate(text as string)).toBe(true)
      })
    })
  }
})

describe('gates look for the rarest character of a literal first', () => {
  it('picks the character least common in ordinary text', () => {
    expect(rarestChar('eyJ')).toBe('J')
    expect(rarestChar('earer')).toBe('r')
    expect(rarestChar('-----BEGIN ')).toBe('-')
    expect(rarestChar('@')).toBe('@')
  })
  it('still passes a hit hidden in text full of the literal\'s first character', () => {
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZ2VudCJ9.c2lnbmF0dXJl'
    const gate = detectorGate(DETECTORS.jwt!)
    expect(gate(`${'e'.repeat(500)} ${jwt} ${'ee'.repeat(200)}`)).toBe(true)
    expect(gate(`${'e'.repeat(500)} eyj ${'J'.repeat(3)}`)).toBe(false)
  })
})

describe('checksums', () => {
  it('Luhn', () => {
    expect(luhn('4111111111111111')).toBe(true)
    expect(luhn('4111111111111112')).toBe(false)
    expect(luhn('79927398713')).toBe(true)
  })
  it('IBAN mod 97', () => {
    expect(ibanValid('GB82 WEST 1234 5698 7654 32')).toBe(true)
    expect(ibanValid('GB82 WEST 1234 5698 7654 33')).toBe(false)
    expect(ibanValid('FR14 2004 1010 0505 0001 3M02 606')).toBe(true)
  })
})

describe('detectorsFor', () => {
  it('takes `all` and refuses unknown names, listing the known ones', () => {
    expect(detectorsFor(['all']).length).toBe(DETECTOR_NAMES.length)
    expect(() => detectorsFor(['emails'])).toThrow(/unknown detector "emails"; known: email, /)
  })
  it('reports overlapping hits once (a bearer JWT is one secret)', () => {
    const text = 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N'
    const found = findAll(text, detectorsFor(['bearer_token', 'jwt']))
    expect(found).toHaveLength(1)
  })
})


describe('hasDigitRun (the card number prefilter)', () => {
  it('finds a run of digits, spaces and dashes wherever it sits', () => {
    const runs = ['4111111111111111', '4111 1111 1111 1111', '4111-1111-1111-1', '1234567890123']
    for (const r of runs) {
      for (let pad = 0; pad < 30; pad++) {
        expect(hasDigitRun(`${'x'.repeat(pad)}${r}`, 13)).toBe(true)
        expect(hasDigitRun(`${'x'.repeat(pad)}${r}${'y'.repeat(pad)}`, 13)).toBe(true)
      }
    }
  })
  it('is false without one, however many digits there are', () => {
    expect(hasDigitRun('123456789012', 13)).toBe(false)
    expect(hasDigitRun('12345678901a2345678901b2345678901c', 13)).toBe(false)
    expect(hasDigitRun('827ccb0eea8a706c4c34a16891f84e7b'.repeat(31), 13)).toBe(false)
    expect(hasDigitRun('', 13)).toBe(false)
  })
  it('over UTF-8 bytes finds what it finds in the text', () => {
    const text = 'é'.repeat(20) + '4111 1111 1111 1111 ü'
    expect(hasDigitRunBytes(Buffer.from(text, 'utf8'), 13)).toBe(true)
    expect(hasDigitRunBytes(Buffer.from('é1234567890ü12', 'utf8'), 13)).toBe(false)
  })
  it('agrees with a plain scan on random text', () => {
    const alphabet = '0123456789 -ab'
    let seed = 7
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
    for (let t = 0; t < 2000; t++) {
      const text = Array.from({ length: 1 + Math.floor(rand() * 60) }, () => alphabet[Math.floor(rand() * alphabet.length)]).join('')
      expect(hasDigitRun(text, 13)).toBe(/[0-9 -]{13}/.test(text))
      expect(hasDigitRunBytes(Buffer.from(text), 13)).toBe(/[0-9 -]{13}/.test(text))
    }
  })
})
