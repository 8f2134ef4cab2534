/**
 * Content detectors: personal data and secrets found by their shape, checked where a checksum
 * exists (Luhn for card numbers, ISO 7064 mod 97 for IBANs). Each detector has a cheap necessary
 * condition (`hint`) used to skip text quickly; only text that passes it is searched in full.
 *
 * Patterns are ASCII: they find the same things in UTF-8 read as latin1, which is how the proxy
 * looks at a value before it decodes it.
 */

export interface Detector {
  name: string
  /** Global regular expression for candidates. */
  pattern: RegExp
  /** A cheap necessary condition on one value: a value without it cannot match. */
  hint: string
  /**
   * A faster necessary condition, checked before `hint`: the value contains one of these strings
   * (a substring search is far cheaper than any regular expression on a long value).
   */
  literals?: readonly string[]
  /**
   * A necessary condition as code, checked before `hint`, for a detector without literals. `bytes`,
   * when given, are the value's bytes (`text` is them read as latin1 or UTF-8).
   */
  prefilter?: (text: string, bytes?: Uint8Array) => boolean
  /** Further check on the candidate (the masked part). */
  validate?: (value: string) => boolean
  /** Capture group holding the part to mask (default: the whole match). */
  group?: number
  /** The partial form: enough to recognise it, not enough to use it. */
  partial: (value: string) => string
}

const DIGIT_OR_SEPARATOR = new Uint8Array(256)
for (const c of '0123456789 -') DIGIT_OR_SEPARATOR[c.charCodeAt(0)] = 1

/**
 * Whether the bytes have `min` consecutive digits, spaces or dashes: a necessary condition of a card
 * number (13 to 19 digits with single separators). UTF-8 or latin1 alike: the runs of ASCII digits,
 * spaces and dashes are those of the decoded text. Any such run covers one of every `min`-th
 * positions, so only those are probed; around a probe that hits, the run is extended to the left,
 * and the one position a run of `min` from there must reach is checked first. On prose this visits
 * a fraction of what the regular expression does (0.6 vs 1.5 µs per kB); bytes, not a string,
 * because typed-array reads are about three times faster than charCodeAt here.
 */
export function hasDigitRunBytes(b: Uint8Array, min: number): boolean {
  const n = b.length
  const t = DIGIT_OR_SEPARATOR
  for (let p = min - 1; p < n; p += min) {
    if (t[b[p] as number] === 0) continue
    let lo = p
    while (lo > 0 && p - lo < min && t[b[lo - 1] as number] === 1) lo--
    const end = lo + min - 1
    if (end >= n) return false
    let whole = true
    for (let k = end; k > p; k--) {
      if (t[b[k] as number] === 0) {
        whole = false
        break
      }
    }
    if (whole) return true
  }
  return false
}

/**
 * hasDigitRunBytes over a string (read as latin1: a character above U+00FF can only add runs, so
 * the condition stays necessary). For callers without the bytes, off the per-row path.
 */
export function hasDigitRun(text: string, min: number): boolean {
  return text.length >= min && hasDigitRunBytes(Buffer.from(text, 'latin1'), min)
}

function digits(s: string): string {
  return s.replace(/\D/g, '')
}

export function luhn(num: string): boolean {
  let sum = 0
  let double = false
  for (let i = num.length - 1; i >= 0; i--) {
    let d = num.charCodeAt(i) - 48
    if (d < 0 || d > 9) return false
    if (double) {
      d *= 2
      if (d > 9) d -= 9
    }
    sum += d
    double = !double
  }
  return sum % 10 === 0
}

/** Issuer prefixes of the card networks (Visa, Mastercard, Amex, Discover, Diners, JCB, UnionPay, Maestro). */
const CARD_PREFIX = /^(4|5[1-5]|2[2-7]|3[47]|3[0689]|6(011|4[4-9]|5|2)|35|5[06-8]|6[37])/

function cardNumber(value: string): boolean {
  const d = digits(value)
  if (d.length < 13 || d.length > 19) return false
  if (/^(\d)\1+$/.test(d)) return false
  // Separators, when present, must be used consistently (one kind).
  const seps = new Set(value.replace(/\d/g, ''))
  if (seps.size > 1) return false
  return CARD_PREFIX.test(d) && luhn(d)
}

export function ibanValid(value: string): boolean {
  const s = value.replace(/ /g, '').toUpperCase()
  if (s.length < 15 || s.length > 34) return false
  const moved = s.slice(4) + s.slice(0, 4)
  let rem = 0
  for (const ch of moved) {
    const code = ch.charCodeAt(0)
    const v = code >= 65 && code <= 90 ? String(code - 55) : ch
    for (const c of v) rem = (rem * 10 + (c.charCodeAt(0) - 48)) % 97
  }
  return rem === 1
}

function keepLast(value: string, n: number, keepSeparators = false): string {
  let seen = 0
  let out = ''
  for (let i = value.length - 1; i >= 0; i--) {
    const ch = value[i] as string
    const isDigit = /[0-9A-Za-z]/.test(ch)
    if (!isDigit && keepSeparators) out = ch + out
    else if (isDigit && seen < n) {
      out = ch + out
      seen++
    } else if (isDigit) out = `*${out}`
  }
  return out
}

function prefixOnly(prefix: RegExp): (v: string) => string {
  return (v) => `${prefix.exec(v)?.[0] ?? ''}****`
}

const SECRET_KEYS = '(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?)'

export const DETECTORS: Readonly<Record<string, Detector>> = {
  email: {
    name: 'email',
    literals: ['@'],
    pattern: /(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9-])/g,
    hint: '@[A-Za-z0-9]',
    partial: (v) => {
      const at = v.indexOf('@')
      return `${v[0]}***${v.slice(at)}`
    },
  },
  credit_card: {
    name: 'credit_card',
    pattern: /(?<![0-9A-Za-z.-])\d(?:[ -]?\d){12,18}(?![0-9A-Za-z]|[.-]\d)/g,
    hint: '(?<![0-9A-Za-z.-])\\d(?:[ -]?\\d){12}',
    prefilter: (text, bytes) => (bytes ? hasDigitRunBytes(bytes, 13) : hasDigitRun(text, 13)),
    validate: cardNumber,
    partial: (v) => keepLast(v, 4, true),
  },
  iban: {
    name: 'iban',
    pattern: /(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])/g,
    hint: '(?<![A-Za-z0-9])[A-Z]{2}\\d{2}',
    validate: ibanValid,
    partial: (v) => `${v.slice(0, 2)}${keepLast(v.slice(2), 4, true)}`,
  },
  us_ssn: {
    name: 'us_ssn',
    literals: ['-'],
    pattern: /(?<![0-9-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![0-9-])/g,
    hint: '-\\d{2}-\\d{4}',
    partial: (v) => `***-**-${v.slice(-4)}`,
  },
  phone: {
    name: 'phone',
    literals: ['+', ' ', '.', '-'],
    pattern: /(?<![\w.+-])(?:\+[1-9](?:[ .-]?\(?\d\)?){7,14}|\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4})(?![\w.-]|\.\d)/g,
    hint: '\\+\\d|[ .-]\\d{3}[ .-]\\d{4}',
    validate: (v) => {
      const n = digits(v).length
      return n >= 10 && n <= 15
    },
    partial: (v) => keepLast(v, 4, true),
  },
  aws_access_key: {
    name: 'aws_access_key',
    literals: ['A'],
    pattern: /(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA|ASCA)[A-Z0-9]{16}(?![A-Z0-9])/g,
    hint: 'A[KSBCGINRP][A-Z]A[A-Z0-9]{16}',
    partial: prefixOnly(/^.{4}/),
  },
  aws_secret_key: {
    name: 'aws_secret_key',
    pattern: /(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/g,
    hint: '(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])',
    // Mixed case and digits: a 40-character hex digest (a git SHA) is not one.
    validate: (v) => /[a-z]/.test(v) && /[A-Z]/.test(v) && /\d/.test(v),
    partial: () => '****',
  },
  github_token: {
    name: 'github_token',
    literals: ['gh', 'github_pat_'],
    pattern: /(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})(?![A-Za-z0-9_])/g,
    hint: 'gh[pousr]_|github_pat_',
    partial: prefixOnly(/^(github_pat_|gh[pousr]_)/),
  },
  slack_token: {
    name: 'slack_token',
    literals: ['xox', 'hooks.slack.com'],
    pattern: /(?<![A-Za-z0-9-])xox[abposre]-[A-Za-z0-9-]{10,}|https:\/\/hooks\.slack\.com\/(?:services|workflows)\/[A-Za-z0-9/_-]+/g,
    hint: 'xox[abposre]-|hooks\\.slack\\.com',
    partial: prefixOnly(/^(xox[a-z]-|https:\/\/hooks\.slack\.com\/)/),
  },
  stripe_key: {
    name: 'stripe_key',
    literals: ['k_live_', 'k_test_', 'whsec_'],
    pattern: /(?<![A-Za-z0-9_])(?:(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,247}|whsec_[A-Za-z0-9]{20,})(?![A-Za-z0-9_])/g,
    hint: '[sr]k_live_|[sr]k_test_|whsec_',
    partial: prefixOnly(/^((sk|rk)_(live|test)_|whsec_)/),
  },
  google_token: {
    name: 'google_token',
    literals: ['AIza', 'ya29.', 'GOCSPX-'],
    pattern: /(?<![A-Za-z0-9_-])(?:AIza[0-9A-Za-z_-]{35}|ya29\.[0-9A-Za-z_-]{20,}|GOCSPX-[0-9A-Za-z_-]{20,})(?![A-Za-z0-9_-])/g,
    hint: 'AIza|ya29\\.|GOCSPX-',
    partial: prefixOnly(/^(AIza|ya29\.|GOCSPX-)/),
  },
  jwt: {
    name: 'jwt',
    literals: ['eyJ'],
    pattern: /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g,
    hint: 'eyJ',
    partial: () => 'eyJ****',
  },
  private_key: {
    name: 'private_key',
    literals: ['-----BEGIN '],
    pattern: /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|$)/g,
    hint: '-----BEGIN ',
    partial: () => '-----BEGIN PRIVATE KEY-----****',
  },
  bearer_token: {
    name: 'bearer_token',
    literals: ['earer'],
    pattern: /(?<![A-Za-z0-9])[Bb]earer[ \t]+([A-Za-z0-9._~+/-]{16,}=*)/g,
    hint: 'earer[ \\t]',
    group: 1,
    partial: () => '****',
  },
  password: {
    name: 'password',
    pattern: new RegExp(
      `(?<![A-Za-z0-9_])[A-Za-z0-9_-]*${SECRET_KEYS}[A-Za-z0-9_-]*["']?[ \\t]*[:=][ \\t]*["']?((?!null\\b|true\\b|false\\b)[^\\s"'&,;{}()\\[\\]]+)|:\\/\\/[^:/\\s@]+:([^@/\\s]+)@`,
      'gi',
    ),
    hint: '[Pp][Aa][Ss][Ss]|[Pp][Ww][Dd]|[Ss][Ee][Cc][Rr][Ee][Tt]|[Tt][Oo][Kk][Ee][Nn]|[Kk][Ee][Yy]|[Cc][Rr][Ee][Dd]|://',
    group: 1,
    partial: () => '****',
  },
}

export const DETECTOR_NAMES = Object.keys(DETECTORS)

/**
 * A detector's cheap necessary condition, as a predicate. Each detector is gated on its own: one
 * alternation of every hint was several times slower on long values (a regex per detector starts
 * with a literal or a small class the engine can scan for).
 */
export function detectorGate(d: Detector): (text: string, bytes?: Uint8Array) => boolean {
  const hint = new RegExp(d.hint)
  const lits = d.literals
  const pre = d.prefilter
  if (pre) return (text, bytes) => pre(text, bytes) && hint.test(text)
  if (!lits) return (text) => hint.test(text)
  // A substring search scans for the needle's first character; where that character is common
  // ('e' of "eyJ" in hex or prose) it stops at every one. Looking for the needle's rarest character
  // first is one memchr over the value, and most values do not have it.
  const rare = lits.map(rarestChar)
  return (text) => {
    for (let i = 0; i < lits.length; i++) {
      if (text.indexOf(rare[i] as string) !== -1 && text.includes(lits[i] as string)) return hint.test(text)
    }
    return false
  }
}

/** Characters of ordinary text and data, the most common first (letter frequencies, then digits and hex). */
const COMMON = ' eatoinsrhldcumfpgwybvkxjqz0123456789'

/** The character of `s` least likely in ordinary text: anything not in COMMON, else the last in it. */
export function rarestChar(s: string): string {
  let best = s[0] as string
  let rank = -1
  for (const ch of s) {
    const r = COMMON.indexOf(ch)
    if (r === -1) return ch
    if (r > rank) {
      rank = r
      best = ch
    }
  }
  return best
}

/** Config names -> detectors; `all` means every one. Throws on an unknown name (with the known ones). */
export function detectorsFor(names: readonly string[]): Detector[] {
  const out = new Map<string, Detector>()
  for (const n of names) {
    if (n === 'all') {
      for (const d of Object.values(DETECTORS)) out.set(d.name, d)
      continue
    }
    const d = DETECTORS[n]
    if (!d) throw new Error(`unknown detector "${n}"; known: ${DETECTOR_NAMES.join(', ')}, all`)
    out.set(n, d)
  }
  return [...out.values()]
}

export interface Found {
  start: number
  end: number
  detector: Detector
  value: string
}

/** Every detector hit in `text`, in order, without overlaps (the earlier, then longer, wins). */
export function findAll(text: string, detectors: readonly Detector[]): Found[] {
  const found: Found[] = []
  for (const d of detectors) {
    d.pattern.lastIndex = 0
    for (let m = d.pattern.exec(text); m; m = d.pattern.exec(text)) {
      let value = m[0]
      let start = m.index
      if (d.group !== undefined) {
        // The password detector has a second form (URL credentials) in group 2.
        const g = m[d.group] ?? m[d.group + 1]
        if (g === undefined) continue
        start = m.index + m[0].lastIndexOf(g)
        value = g
      }
      if (value === '') continue
      if (d.validate && !d.validate(value)) {
        // A failed check at this position may hide a valid candidate starting inside it.
        d.pattern.lastIndex = m.index + 1
        continue
      }
      found.push({ start, end: start + value.length, detector: d, value })
      if (m[0].length === 0) d.pattern.lastIndex++
    }
  }
  if (found.length < 2) return found
  found.sort((a, b) => a.start - b.start || b.end - a.end)
  const out: Found[] = []
  let end = -1
  for (const f of found) {
    if (f.start >= end) {
      out.push(f)
      end = f.end
    }
  }
  return out
}
