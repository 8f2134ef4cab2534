/**
 * Masking of what the server sends, message by message (streaming: one DataRow or CopyData at a
 * time, nothing buffered). A result gets a plan when its shape is known (RowDescription, or the
 * COPY's column list): which columns are masked whole (column rules, directly or through the
 * parse tree), which are searched by content (every text value, when detectors or column rules
 * are on). A row with nothing to mask is forwarded as its original bytes; a value is decoded only
 * when it passes the detectors' cheap necessary conditions.
 *
 * Binary-format values: a masked column of a text-like type (text, varchar, char, name, json,
 * xml, bytea) gets the mask as its bytes, jsonb gets it as a JSON string; any other type gets
 * NULL, because no other value of the type would be honest and a wrong length breaks the client.
 * Content detectors read binary values of text-like types (and jsonb) only; numbers, dates and the
 * like in binary are not searched by content. Binary COPY: masked columns become NULL; content is
 * not searched.
 */
import type { Derived, MaskCounts, Masker, OutputInfo } from '../../policy/index.js'
import { encodeDataRow, forEachDataRowValue, type RowDescriptionField } from './codec/index.js'

/** Type OIDs whose binary form is the UTF-8 text itself. */
const TEXT_LIKE = new Set([25, 1043, 1042, 19, 114, 142, 705, 18])
const BYTEA = 17
const JSONB = 3802
/**
 * Types whose text form no detector can match (booleans, small integers, floats, dates and times,
 * UUIDs): their values are not searched by content. int8 and numeric are (a card number fits).
 */
const INERT = new Set([16, 21, 23, 26, 700, 701, 1082, 1083, 1114, 1184, 1186, 1266, 2950])

export const enum Col {
  Pass = 0,
  Content = 1,
  Whole = 2,
}

export interface RowPlan {
  cols: Col[]
  names: string[]
  formats: number[]
  types: number[]
  /** Some column is masked whole. */
  whole: boolean
  /** Text values are searched by content. */
  content: boolean
}

/** Names masked in this statement: the connection's tainted names plus the statement's derived columns computed from masked ones (to a fixed point). */
export function taintedNames(masker: Masker, outputs: readonly OutputInfo[], connection: Set<string>): Set<string> {
  const out = new Set(connection)
  if (!masker.columnsOn) return out
  const masked = (n: string) => out.has(n) || masker.isMaskedColumn(n)
  const derived: Derived[] = outputs.flatMap((o) => [...o.derived, ...o.targets.filter((t) => !t.star).map((t) => ({ name: t.name, refs: t.refs, wholeRow: t.wholeRow }))])
  for (let changed = true, rounds = 0; changed && rounds < 32; rounds++) {
    changed = false
    for (const d of derived) {
      if (out.has(d.name) || masked(d.name)) continue
      if (d.wholeRow || d.refs.some(masked)) {
        out.add(d.name)
        changed = true
      }
    }
  }
  return out
}

/**
 * Which result columns are masked whole. `outputs` are the statement's possible output analyses
 * (several when a prepared name may stand for several definitions; none when unknown).
 */
export function wholeColumns(names: readonly string[], outputs: readonly OutputInfo[], masker: Masker, tainted: Set<string>): boolean[] {
  const m = names.length
  const byName = names.map((n) => masker.isMaskedColumn(n) || tainted.has(n.toLowerCase()))
  if (!masker.columnsOn) return byName
  const masked = (r: string) => tainted.has(r) || masker.isMaskedColumn(r)
  const out = [...byName]
  for (const o of outputs) {
    const t = o.targets
    // A `*` carries what it reads only when it may hold function output (a function in FROM fed a masked column).
    const taint = t.map((x) => x.wholeRow || x.refs.some(masked))
    const first = t.findIndex((x) => x.star)
    if (first < 0) {
      if (t.length !== m) {
        // The shape does not line up with the result: anything tainted masks everything.
        if (taint.some(Boolean)) out.fill(true)
        continue
      }
      taint.forEach((v, i) => v && (out[i] = true))
      continue
    }
    let last = -1
    t.forEach((x, i) => x.star && (last = i))
    for (let i = 0; i < first && i < m; i++) if (taint[i]) out[i] = true
    const tail = t.length - 1 - last
    for (let j = 0; j < tail && j < m; j++) if (taint[t.length - 1 - j]) out[m - 1 - j] = true
    if (taint.slice(first, last + 1).some(Boolean)) for (let i = first; i < m - tail; i++) out[i] = true
  }
  return out
}

export function rowPlan(fields: readonly RowDescriptionField[], formats: readonly number[] | undefined, outputs: readonly OutputInfo[], masker: Masker, tainted: Set<string>): RowPlan {
  const names = fields.map((f) => f.name)
  const whole = wholeColumns(names, outputs, masker, tainted)
  const content = masker.detectorsOn || masker.columnsOn
  const fmt = fields.map((f, i) => (formats ? formatAt(formats, i) : f.format))
  return {
    cols: whole.map((w, i) => (w ? Col.Whole : content && !INERT.has(fields[i]?.typeOid ?? 0) ? Col.Content : Col.Pass)),
    names,
    formats: fmt,
    types: fields.map((f) => f.typeOid),
    whole: whole.some(Boolean),
    content,
  }
}

function formatAt(formats: readonly number[], i: number): number {
  if (formats.length === 0) return 0
  if (formats.length === 1) return formats[0] as number
  return formats[i] ?? 0
}

/** The mask of a whole value in its wire format; null for SQL NULL. */
function wholeValue(v: Buffer, format: number, type: number, name: string, masker: Masker, counts: MaskCounts): Buffer | null {
  if (format === 0 || TEXT_LIKE.has(type) || type === BYTEA) return Buffer.from(masker.column(v.toString('utf8'), name, counts), 'utf8')
  if (type === JSONB) return Buffer.concat([Buffer.from([1]), Buffer.from(JSON.stringify(masker.column(v.subarray(1).toString('utf8'), name, counts)), 'utf8')])
  counts.column(name)
  return null
}

/** Content masking of one value; undefined when unchanged. */
function contentValue(v: Buffer, format: number, type: number, masker: Masker, counts: MaskCounts): Buffer | undefined {
  // Fast path: the value read as latin1 (no decoding) against the detectors' necessary conditions.
  if (!masker.mayNeed(v.toString('latin1'), v)) return undefined
  if (format === 0 || TEXT_LIKE.has(type)) {
    const s = v.toString('utf8')
    const m = masker.text(s, counts)
    return m === undefined ? undefined : Buffer.from(m, 'utf8')
  }
  if (type === JSONB && v[0] === 1) {
    const m = masker.text(v.toString('utf8', 1), counts)
    return m === undefined ? undefined : Buffer.concat([Buffer.from([1]), Buffer.from(m, 'utf8')])
  }
  return undefined
}

/** Masks one DataRow body; returns the new message, or undefined to forward the original bytes. */
export function maskDataRow(body: Buffer, plan: RowPlan, masker: Masker, counts: MaskCounts): Buffer | undefined {
  if (!plan.whole) {
    if (!plan.content) return undefined
    // First pass without allocating: does any value pass the detectors' necessary conditions?
    let need = false
    forEachDataRowValue(body, (i, v) => {
      if (!need && v !== null && plan.cols[i] !== Col.Pass && masker.mayNeed(v.toString('latin1'), v)) need = true
    })
    if (!need) return undefined
  }
  let changed = false
  const values: (Buffer | null)[] = []
  forEachDataRowValue(body, (i, v) => {
    if (v === null) {
      values.push(null)
      return
    }
    const col = plan.cols[i] ?? (plan.content ? Col.Content : Col.Pass)
    const format = plan.formats[i] ?? 0
    const type = plan.types[i] ?? 0
    if (col === Col.Whole) {
      values.push(wholeValue(v, format, type, plan.names[i] ?? `column ${i + 1}`, masker, counts))
      changed = true
    } else if (col === Col.Content) {
      const m = contentValue(v, format, type, masker, counts)
      if (m) changed = true
      values.push(m ?? v)
    } else values.push(v)
  })
  return changed ? encodeDataRow(values) : undefined
}

// ---------------- COPY out ----------------

export interface CopyPlan {
  format: 'text' | 'csv' | 'binary'
  delimiter: string
  /** The first text/csv line is the header (column names). */
  header: boolean
  /** Columns masked whole, by position; undefined until known (header) or when unknowable. */
  whole: boolean[] | undefined
  /** Every column is masked whole (positions unknown, column rules on): fail closed. */
  all: boolean
  names: string[]
  content: boolean
  /** The binary COPY header has been passed. */
  started: boolean
}

/**
 * A COPY text line into its fields, escapes kept: the server writes a delimiter inside a value as
 * backslash + delimiter (copyto.c, CopyAttributeOutText), so a field ends only at an unescaped one.
 */
function splitCopyText(line: string, delim: string): string[] {
  if (!line.includes('\\')) return line.split(delim)
  const out: string[] = []
  let start = 0
  for (let i = 0; i < line.length; i++) {
    const c = line[i]
    if (c === '\\') i++
    else if (c === delim) {
      out.push(line.slice(start, i))
      start = i + 1
    }
  }
  out.push(line.slice(start))
  return out
}

function splitCsv(line: string, delim: string): { fields: string[]; quoted: boolean[] } | undefined {
  const fields: string[] = []
  const quoted: boolean[] = []
  let i = 0
  const n = line.length
  for (;;) {
    if (line[i] === '"') {
      let v = ''
      i++
      for (;;) {
        if (i >= n) return undefined
        const c = line[i] as string
        if (c === '"') {
          if (line[i + 1] === '"') {
            v += '"'
            i += 2
            continue
          }
          i++
          break
        }
        v += c
        i++
      }
      fields.push(v)
      quoted.push(true)
    } else {
      let j = line.indexOf(delim, i)
      if (j < 0) j = n
      fields.push(line.slice(i, j))
      quoted.push(false)
      i = j
    }
    if (i >= n) return { fields, quoted }
    if (line.startsWith(delim, i)) i += delim.length
    else return undefined
  }
}

const COPY_ESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\' }

function unescapeCopyText(s: string): string {
  return s.includes('\\') ? s.replace(/\\(.)/g, (_, c: string) => COPY_ESCAPES[c] ?? c) : s
}

/** Delimiters that no detector pattern uses (lookarounds treat them as a boundary). */
const SAFE_DELIMITERS = new Set(['\t', ',', '|', ';'])

/** Masks one COPY OUT data message (one row); undefined to forward it unchanged. */
export function maskCopyData(data: Buffer, plan: CopyPlan, masker: Masker, counts: MaskCounts): Buffer | undefined {
  if (plan.format === 'binary') return maskCopyBinary(data, plan, counts)
  // Fast path (most rows of a bulk COPY): no column masked whole, and the line as it stands passes
  // no detector's necessary condition. Exact only when every field appears in the line unchanged
  // and the delimiter cannot take part in a pattern: no escapes (backslash), no CSV quoting. The
  // bytes are read as latin1 (a copy, no UTF-8 decoding): the detectors' patterns are ASCII.
  if (!plan.header && !plan.all && !(plan.whole?.some(Boolean) ?? false) && SAFE_DELIMITERS.has(plan.delimiter)) {
    const raw = data.toString('latin1')
    const end = raw.endsWith('\r\n') ? raw.length - 2 : raw.endsWith('\n') ? raw.length - 1 : raw.length
    const line = end === raw.length ? raw : raw.slice(0, end)
    if (!line.includes('\\') && !(plan.format === 'csv' && line.includes('"')) && (!plan.content || !masker.mayNeed(line, data))) return undefined
  }
  const text = data.toString('utf8')
  const eol = text.endsWith('\r\n') ? '\r\n' : text.endsWith('\n') ? '\n' : ''
  const line = text.slice(0, text.length - eol.length)
  if (plan.header) {
    plan.header = false
    const names = plan.format === 'csv' ? (splitCsv(line, plan.delimiter)?.fields ?? []) : splitCopyText(line, plan.delimiter)
    if (plan.whole === undefined && masker.columnsOn && names.length > 0) {
      plan.names = names
      plan.whole = names.map((n) => masker.isMaskedColumn(n))
      plan.all = false
    }
    return undefined
  }
  const whole = (i: number) => plan.all || (plan.whole?.[i] ?? false)
  const name = (i: number) => plan.names[i] ?? `column ${i + 1}`
  // Field by field: content masks see one value each (a JSON column is read as JSON, not the whole line).
  let out: string
  if (plan.format === 'csv') {
    const parsed = splitCsv(line, plan.delimiter)
    if (!parsed) return Buffer.from(masker.column(line, 'row', counts) + eol, 'utf8')
    out = parsed.fields
      .map((f, i) => {
        const quoted = parsed.quoted[i] as boolean
        if (!quoted && f === '') return f
        const v = whole(i) ? masker.column(f, name(i), counts) : plan.content ? (masker.text(f, counts) ?? f) : f
        if (v === f) return quoted ? `"${f.replace(/"/g, '""')}"` : f
        return quoted || /[",\r\n]/.test(v) || v.includes(plan.delimiter) ? `"${v.replace(/"/g, '""')}"` : v
      })
      .join(plan.delimiter)
  } else {
    const fields = splitCopyText(line, plan.delimiter)
    // A row that does not split into the columns agw expects is not understood: masked whole.
    if (plan.names.length > 0 && fields.length !== plan.names.length) return Buffer.from(masker.column(line, 'row', counts) + eol, 'utf8')
    out = fields
      .map((f, i) => {
        if (f === '\\N') return f
        const plain = unescapeCopyText(f)
        const v = whole(i) ? masker.column(plain, name(i), counts) : plan.content ? masker.text(plain, counts) : undefined
        return v === undefined ? f : escapeCopyText(v, plan.delimiter)
      })
      .join(plan.delimiter)
  }
  if (out === line) return undefined
  return Buffer.from(out + eol, 'utf8')
}

function escapeCopyText(s: string, delim: string): string {
  let out = s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t')
  if (delim !== '\t' && delim !== '\\') out = out.split(delim).join(`\\${delim}`)
  return out
}

const PGCOPY_SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1')

function maskCopyBinary(data: Buffer, plan: CopyPlan, counts: MaskCounts): Buffer | undefined {
  if (!plan.all && !(plan.whole?.some(Boolean) ?? false)) return undefined
  let pos = 0
  const pieces: Buffer[] = []
  if (!plan.started) {
    if (data.length < 19 || !data.subarray(0, 11).equals(PGCOPY_SIGNATURE)) throw new Error('binary COPY data without its header')
    const ext = data.readUInt32BE(15)
    pos = 19 + ext
    pieces.push(data.subarray(0, pos))
    plan.started = true
  }
  while (pos < data.length) {
    const n = data.readInt16BE(pos)
    pieces.push(data.subarray(pos, pos + 2))
    pos += 2
    if (n === -1) continue
    for (let i = 0; i < n; i++) {
      const len = data.readInt32BE(pos)
      if (len >= 0 && pos + 4 + len > data.length) throw new Error('binary COPY row spans messages')
      if (len >= 0 && (plan.all || plan.whole?.[i])) {
        counts.column(plan.names[i] ?? `column ${i + 1}`)
        const nul = Buffer.alloc(4)
        nul.writeInt32BE(-1)
        pieces.push(nul)
      } else pieces.push(data.subarray(pos, pos + 4 + Math.max(0, len)))
      pos += 4 + Math.max(0, len)
    }
  }
  return Buffer.concat(pieces)
}

// ---------------- notices, errors, notifications ----------------

/** Error and notice fields that carry text a value can appear in. */
const TEXT_FIELDS = ['M', 'D', 'H', 'W', 'q'] as const

/**
 * Masks the text of an ErrorResponse / NoticeResponse. `hot` is set when the statement that caused
 * it reads masked columns: then values quoted in the message (`invalid input syntax ...: "hunter2"`)
 * and unique-violation details (`Key (password)=(...)`) are masked too, except quoted names the
 * statement itself uses; `whole` (a DO block reading masked columns, whose RAISE may print them)
 * masks the message and detail entirely.
 */
export function maskFields(fields: Record<string, string>, masker: Masker, counts: MaskCounts, hot: { identifiers: Set<string>; whole: boolean } | undefined): Record<string, string> | undefined {
  let changed = false
  const out: Record<string, string> = { ...fields }
  for (const k of TEXT_FIELDS) {
    const v = fields[k]
    if (v === undefined) continue
    let s = v
    if (hot) {
      if (hot.whole && (k === 'M' || k === 'D' || k === 'W')) s = masker.column(s, 'message', counts)
      else {
        s = s.replace(/Key \(([^)]*)\)=\((.*)\)/g, (all, cols: string, vals: string) =>
          cols.split(',').some((c) => masker.isMaskedColumn(c.trim().replace(/"/g, ''))) ? `Key (${cols})=(${masker.column(vals, cols, counts)})` : all,
        )
        s = s.replace(/"((?:[^"]|"")*)"/g, (all, inner: string) => (hot.identifiers.has(inner.toLowerCase()) ? all : `"${masker.column(inner, 'message', counts)}"`))
      }
    }
    s = masker.text(s, counts) ?? s
    if (s !== v) {
      out[k] = s
      changed = true
    }
  }
  return changed ? out : undefined
}
