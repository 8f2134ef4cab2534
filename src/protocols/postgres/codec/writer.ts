/**
 * Byte-level helpers for the codec: `Writer`, a growable buffer the encoders write into (with
 * length back-patching), and `Reader`, a bounds-checked cursor the decoders read with. Every
 * read past the end, missing string terminator or impossible length becomes
 * AgwError('protocol'), never a RangeError or an out-of-range read.
 */
import { AgwError } from '../../../errors.js'

const INT16_MIN = -0x8000
const INT16_MAX = 0x7fff
const INT32_MIN = -0x80000000
const INT32_MAX = 0x7fffffff

function checkInt(value: number, min: number, max: number, what: string): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new AgwError('protocol', `cannot encode ${what} ${value}: it must be an integer from ${min} to ${max}`)
  }
}

export class Writer {
  private buf: Buffer
  private pos = 0

  constructor(initialSize = 256) {
    this.buf = Buffer.allocUnsafe(Math.max(initialSize, 16))
  }

  get length(): number {
    return this.pos
  }

  private ensure(n: number): void {
    const need = this.pos + n
    if (need <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < need) size *= 2
    const next = Buffer.allocUnsafe(size)
    this.buf.copy(next, 0, 0, this.pos)
    this.buf = next
  }

  /** Starts a message: writes the type byte (when not 0) and a length placeholder; returns the
   * placeholder's offset for `end`. */
  begin(type: number): number {
    if (type !== 0) this.uint8(type)
    const at = this.pos
    this.int32(0)
    return at
  }

  /** Back-patches the length field written by `begin` (the length counts itself, not the type). */
  end(lengthAt: number): this {
    this.buf.writeInt32BE(this.pos - lengthAt, lengthAt)
    return this
  }

  uint8(value: number): this {
    checkInt(value, 0, 0xff, 'byte')
    this.ensure(1)
    this.buf[this.pos++] = value
    return this
  }

  int16(value: number, what = 'Int16'): this {
    checkInt(value, INT16_MIN, INT16_MAX, what)
    this.ensure(2)
    this.pos = this.buf.writeInt16BE(value, this.pos)
    return this
  }

  /** A count or OID-like Int16 field that PostgreSQL reads as unsigned (0..65535). */
  uint16(value: number, what = 'count'): this {
    checkInt(value, 0, 0xffff, what)
    this.ensure(2)
    this.pos = this.buf.writeUInt16BE(value, this.pos)
    return this
  }

  int32(value: number, what = 'Int32'): this {
    checkInt(value, INT32_MIN, INT32_MAX, what)
    this.ensure(4)
    this.pos = this.buf.writeInt32BE(value, this.pos)
    return this
  }

  /** An OID: unsigned 32 bits. */
  uint32(value: number, what = 'OID'): this {
    checkInt(value, 0, 0xffffffff, what)
    this.ensure(4)
    this.pos = this.buf.writeUInt32BE(value, this.pos)
    return this
  }

  /** A NUL-terminated UTF-8 string. A string containing NUL is refused: it would end the field
   * early and let the rest be read as protocol (an injection). */
  cstring(value: string): this {
    if (value.includes('\0')) {
      throw new AgwError('protocol', `cannot encode a string containing a NUL byte: ${JSON.stringify(value.slice(0, 40))}`)
    }
    const n = Buffer.byteLength(value, 'utf8')
    this.ensure(n + 1)
    this.pos += this.buf.write(value, this.pos, n, 'utf8')
    this.buf[this.pos++] = 0
    return this
  }

  bytes(value: Uint8Array): this {
    this.ensure(value.length)
    this.buf.set(value, this.pos)
    this.pos += value.length
    return this
  }

  /** Int32 length (-1 for NULL) followed by the bytes. */
  nullableBytes(value: Uint8Array | null): this {
    if (value === null) return this.int32(-1)
    return this.int32(value.length).bytes(value)
  }

  /** The bytes written so far (a view, not a copy). */
  finish(): Buffer {
    return this.buf.subarray(0, this.pos)
  }
}

/** A bounds-checked cursor over one message body. `what` names the message in error messages. */
export class Reader {
  private pos = 0

  constructor(
    private readonly buf: Buffer,
    private readonly what: string,
  ) {}

  get offset(): number {
    return this.pos
  }

  get remaining(): number {
    return this.buf.length - this.pos
  }

  fail(reason: string): never {
    throw new AgwError('protocol', `malformed ${this.what} message: ${reason}`)
  }

  private need(n: number, field: string): void {
    if (this.buf.length - this.pos < n) {
      this.fail(`${field} needs ${n} bytes at offset ${this.pos} but only ${this.buf.length - this.pos} remain`)
    }
  }

  uint8(field = 'byte'): number {
    this.need(1, field)
    return this.buf[this.pos++] as number
  }

  int16(field = 'Int16'): number {
    this.need(2, field)
    const v = this.buf.readInt16BE(this.pos)
    this.pos += 2
    return v
  }

  /** An Int16 count that PostgreSQL reads as unsigned. */
  uint16(field = 'count'): number {
    this.need(2, field)
    const v = this.buf.readUInt16BE(this.pos)
    this.pos += 2
    return v
  }

  int32(field = 'Int32'): number {
    this.need(4, field)
    const v = this.buf.readInt32BE(this.pos)
    this.pos += 4
    return v
  }

  uint32(field = 'OID'): number {
    this.need(4, field)
    const v = this.buf.readUInt32BE(this.pos)
    this.pos += 4
    return v
  }

  /** A NUL-terminated string, decoded as UTF-8. */
  cstring(field = 'string'): string {
    const end = this.buf.indexOf(0, this.pos)
    if (end === -1) this.fail(`${field} at offset ${this.pos} has no NUL terminator`)
    const s = this.buf.toString('utf8', this.pos, end)
    this.pos = end + 1
    return s
  }

  /** `n` bytes as a view into the body (zero copy). */
  bytes(n: number, field = 'bytes'): Buffer {
    this.need(n, field)
    const b = this.buf.subarray(this.pos, this.pos + n)
    this.pos += n
    return b
  }

  /** Everything left, as a view. */
  rest(): Buffer {
    const b = this.buf.subarray(this.pos)
    this.pos = this.buf.length
    return b
  }

  /** Int32 length then that many bytes; -1 means NULL. */
  nullableBytes(field = 'value'): Buffer | null {
    const at = this.pos
    const len = this.int32(`${field} length`)
    if (len === -1) return null
    if (len < 0) this.fail(`${field} at offset ${at} has negative length ${len}`)
    return this.bytes(len, field)
  }

  /** Checks that there are at least `count * minSize` bytes left, so a huge count is refused
   * before an array of that size is built. */
  checkCount(count: number, minSize: number, field: string): void {
    if (count < 0) this.fail(`${field} count ${count} is negative`)
    if (count * minSize > this.remaining) {
      this.fail(`${field} count ${count} needs at least ${count * minSize} bytes but only ${this.remaining} remain`)
    }
  }

  /** `count` items read by `item`, each at least `minSize` bytes (checked before building). */
  list<T>(count: number, minSize: number, field: string, item: (index: number) => T): T[] {
    this.checkCount(count, minSize, field)
    const out = new Array<T>(count)
    for (let i = 0; i < count; i++) out[i] = item(i)
    return out
  }

  /** Int16 count then that many Int16 format codes. */
  formats(field: string): number[] {
    return this.list(this.uint16(`${field} count`), 2, field, () => this.int16(field))
  }

  /** Strings until an empty one (the SASL mechanism list, startup parameters). */
  cstringList(field: string): string[] {
    const out: string[] = []
    for (let s = this.cstring(field); s !== ''; s = this.cstring(field)) out.push(s)
    return out
  }

  /** The body must be fully consumed: trailing bytes mean a malformed or smuggled message. */
  end(): void {
    if (this.pos !== this.buf.length) this.fail(`${this.buf.length - this.pos} unexpected trailing bytes`)
  }
}

/** Reads a whole body with `read`, then checks that nothing is left over. */
export function readAll<T>(body: Buffer, what: string, read: (r: Reader) => T): T {
  const r = new Reader(body, what)
  const value = read(r)
  r.end()
  return value
}

/** A whole message `type + Int32 length + body` in one exactly sized allocation (CopyData and
 * the empty messages, where a growable writer would only add a copy). */
export function encodeRaw(type: number, body?: Uint8Array): Buffer {
  const n = body ? body.length : 0
  if (n > 0x7fffffff - 4) throw new AgwError('protocol', `cannot encode a message body of ${n} bytes`)
  const out = Buffer.allocUnsafe(5 + n)
  out[0] = type
  out.writeInt32BE(4 + n, 1)
  if (body) out.set(body, 5)
  return out
}
