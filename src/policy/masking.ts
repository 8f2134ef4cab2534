/**
 * Masking of values: by column name (globs over result column names and JSON keys) and by content
 * (detectors). Styles: redact (`[redacted]`, `[redacted:email]`), partial (enough to recognise,
 * e.g. `************1111`, `a***@example.com`), hash (`[email:3f2a9b1c0d4e]`: an HMAC-SHA256 of the
 * value under a per-gateway key, so equal values get equal masks and joins still line up).
 *
 * Masks use only letters, digits and `[ ] : * @ . -`: never a quote, backslash, comma, tab or
 * newline, so a masked value stays valid inside JSON, COPY text and CSV, arrays and records.
 */
import { createHmac } from 'node:crypto'
import { detectorGate, detectorsFor, findAll, type Detector } from './detectors.js'
import { globRegExp } from './rules.js'

export type MaskStyle = 'redact' | 'partial' | 'hash'

export interface MaskingConfig {
  columns: readonly string[]
  detectors: readonly string[]
  style: MaskStyle
}

/** What was masked, for the `masking.applied` event. */
export class MaskCounts {
  detectors: Record<string, number> = {}
  columns: Record<string, number> = {}
  total = 0

  detector(name: string): void {
    this.detectors[name] = (this.detectors[name] ?? 0) + 1
    this.total++
  }

  column(name: string): void {
    this.columns[name] = (this.columns[name] ?? 0) + 1
    this.total++
  }
}

interface Span {
  start: number
  end: number
  replacement: string
}

const HASH_HEX = 12

export class Masker {
  readonly style: MaskStyle
  /** Column rules are configured. */
  readonly columnsOn: boolean
  /** Content detectors are configured. */
  readonly detectorsOn: boolean
  private readonly columnRe: RegExp | undefined
  /** JSON (or hstore) keys that are masked column names, escaped or not: `"password":`, `\"ssn\":`, `"api_key"=>`. */
  private readonly keyRe: RegExp | undefined
  private readonly detectors: Detector[]
  private readonly key: Buffer

  constructor(cfg: MaskingConfig, hashKey: Buffer) {
    this.style = cfg.style
    this.key = hashKey
    this.detectors = detectorsFor(cfg.detectors)
    this.columnsOn = cfg.columns.length > 0
    this.detectorsOn = this.detectors.length > 0
    const globs = cfg.columns.map((c) => globRegExp(c).source.slice(1, -1))
    if (this.columnsOn) {
      this.columnRe = new RegExp(`^(?:${globs.join('|')})$`, 'i')
      const inKey = globs.map((g) => g.replace(/\.\*/g, '[^"\\\\]*').replace(/(?<!\\)\.(?!\*)/g, '[^"\\\\]'))
      this.keyRe = new RegExp(`"(?:${inKey.join('|')})\\\\?"\\s*(?::|=>)`, 'i')
    }
    this.gates = this.detectors.map(detectorGate)
  }

  /** Per detector, a necessary condition: a text that passes none (and has no masked key) needs no masking. */
  private readonly gates: Array<(text: string, bytes?: Uint8Array) => boolean>

  /** The detectors that may match `text` (their gates pass). */
  private candidates(text: string): Detector[] {
    const out: Detector[] = []
    for (let i = 0; i < this.gates.length; i++) if ((this.gates[i] as (t: string) => boolean)(text)) out.push(this.detectors[i] as Detector)
    return out
  }

  /** Whether a result column of this name is masked by the column rules. */
  isMaskedColumn(name: string): boolean {
    return this.columnRe !== undefined && this.columnRe.test(name)
  }

  /**
   * Cheap test on any text (or UTF-8 bytes read as latin1): false means no detector or masked key
   * can be in it. `bytes`: the same value as bytes, when the caller has them (some gates are faster on them).
   */
  mayNeed(text: string, bytes?: Uint8Array): boolean {
    // A masked JSON key is quoted: no '"', no key (one memchr, where the regex costs a microsecond per kB).
    if (this.keyRe && text.includes('"') && this.keyRe.test(text)) return true
    for (const g of this.gates) if (g(text, bytes)) return true
    return false
  }

  private hash(value: string): string {
    return createHmac('sha256', this.key).update(value).digest('hex').slice(0, HASH_HEX)
  }

  /** The mask for the whole value of a masked column. */
  column(value: string, column: string, counts: MaskCounts | undefined): string {
    counts?.column(column)
    switch (this.style) {
      case 'redact':
        return '[redacted]'
      case 'hash':
        return `[hash:${this.hash(value)}]`
      case 'partial':
        return value.length >= 8 ? `****${value.slice(-4)}` : '****'
    }
  }

  private detected(value: string, d: Detector): string {
    switch (this.style) {
      case 'redact':
        return `[redacted:${d.name}]`
      case 'hash':
        return `[${d.name}:${this.hash(value)}]`
      case 'partial':
        return d.partial(value)
    }
  }

  /**
   * Masks a text value by content: masked JSON keys (row_to_json, json_agg ...) and detector hits.
   * Returns undefined when nothing in it needs masking.
   */
  text(value: string, counts: MaskCounts | undefined): string | undefined {
    // Each detector's necessary condition is checked once: the ones that pass are searched in full.
    const keyHit = this.keyRe?.test(value) ?? false
    const detectors = this.candidates(value)
    if (!keyHit && detectors.length === 0) return undefined
    const spans: Span[] = []
    if (keyHit) {
      const whole = this.jsonSpans(value, spans, counts)
      if (whole !== undefined) return whole
    }
    if (detectors.length > 0) {
      for (const f of findAll(value, detectors)) {
        if (spans.some((s) => f.start < s.end && f.end > s.start)) continue
        counts?.detector(f.detector.name)
        spans.push({ start: f.start, end: f.end, replacement: this.detected(f.value, f.detector) })
      }
    }
    if (spans.length === 0) return undefined
    spans.sort((a, b) => a.start - b.start)
    let out = ''
    let at = 0
    for (const s of spans) {
      out += value.slice(at, s.start) + s.replacement
      at = s.end
    }
    return out + value.slice(at)
  }

  /**
   * Masks the values of masked keys in JSON text. Text that is not JSON but shows a masked key
   * (a json[] array literal, hstore) is masked whole: returns that mask.
   */
  private jsonSpans(value: string, spans: Span[], counts: MaskCounts | undefined): string | undefined {
    const found = jsonKeyValues(value, (k) => this.isMaskedColumn(k))
    if (found === undefined) {
      const key = (this.keyRe as RegExp).exec(value)?.[0].replace(/[\\"]|\s*(?::|=>)$/g, '') ?? 'json'
      return this.column(value, key, counts)
    }
    for (const f of found) {
      if (spans.some((s) => f.start >= s.start && f.end <= s.end)) continue
      for (let i = spans.length - 1; i >= 0; i--) {
        const s = spans[i] as Span
        if (s.start >= f.start && s.end <= f.end) spans.splice(i, 1)
      }
      const raw = value.slice(f.start, f.end)
      const plain = raw.startsWith('"') ? safeJsonString(raw) : raw
      spans.push({ start: f.start, end: f.end, replacement: `"${this.column(plain, f.key, counts)}"` })
    }
    return undefined
  }
}

function safeJsonString(raw: string): string {
  try {
    return JSON.parse(raw) as string
  } catch {
    return raw
  }
}

interface KeyValue {
  start: number
  end: number
  key: string
}

/** The value spans of object keys for which `masked(key)` holds; undefined when `s` is not JSON. */
export function jsonKeyValues(s: string, masked: (key: string) => boolean): KeyValue[] | undefined {
  const n = s.length
  const out: KeyValue[] = []
  let i = 0
  const ws = (): void => {
    while (i < n) {
      const c = s.charCodeAt(i)
      if (c === 32 || c === 9 || c === 10 || c === 13) i++
      else break
    }
  }
  const string = (): string | undefined => {
    const start = i
    let plain = true
    i++
    while (i < n) {
      const c = s.charCodeAt(i)
      if (c === 34) {
        i++
        if (plain) return s.slice(start + 1, i - 1)
        try {
          return JSON.parse(s.slice(start, i)) as string
        } catch {
          return undefined
        }
      }
      if (c === 92) {
        plain = false
        i += 2
        continue
      }
      if (c < 32) return undefined
      i++
    }
    return undefined
  }
  const literal = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y
  const value = (depth: number): boolean => {
    if (depth > 256) return false
    ws()
    const c = s[i]
    if (c === '{') {
      i++
      ws()
      if (s[i] === '}') {
        i++
        return true
      }
      for (;;) {
        ws()
        if (s[i] !== '"') return false
        const k = string()
        if (k === undefined) return false
        ws()
        if (s[i] !== ':') return false
        i++
        ws()
        const start = i
        if (!value(depth + 1)) return false
        if (masked(k)) out.push({ start, end: i, key: k })
        ws()
        if (s[i] === ',') {
          i++
          continue
        }
        if (s[i] === '}') {
          i++
          return true
        }
        return false
      }
    }
    if (c === '[') {
      i++
      ws()
      if (s[i] === ']') {
        i++
        return true
      }
      for (;;) {
        if (!value(depth + 1)) return false
        ws()
        if (s[i] === ',') {
          i++
          continue
        }
        if (s[i] === ']') {
          i++
          return true
        }
        return false
      }
    }
    if (c === '"') return string() !== undefined
    literal.lastIndex = i
    const m = literal.exec(s)
    if (!m) return false
    i += m[0].length
    return true
  }
  if (!value(0)) return undefined
  ws()
  return i === n ? out : undefined
}
