/**
 * The framing loop: bytes in, whole messages out (the pg-protocol `parse(buffer, callback)`
 * shape). Sans-I/O: feed it whatever the socket delivered, in any split.
 *
 * Hot path rules: a message that lies wholly inside the pushed chunk is handed out as a view
 * (`raw` and `body` are subarrays of the chunk, no allocation). A message that spans chunks gets
 * its length checked as soon as its header is known, then exactly one buffer of its size, filled
 * as chunks arrive. Views alias the socket's chunk: a consumer that keeps a frame after the
 * callback keeps that chunk alive (copy when retaining a small part of a large chunk for long).
 *
 * PostgreSQL documentation: "Message Formats" (every message but the startup-phase ones is
 * Byte1 type, Int32 length including itself, body), "Start-up" (the first message of a
 * connection, and the one after a refused SSLRequest / GSSENCRequest, has no type byte).
 */
import { AgwError } from '../../../errors.js'
import { DEFAULT_MAX_MESSAGE_SIZE, MAX_STARTUP_PACKET_LENGTH, describeType } from './constants.js'

export interface Frame {
  /** Message type byte; 0 for an untyped startup-phase message (Startup, SSLRequest, GSSENCRequest, CancelRequest). */
  type: number
  /** Payload after the type byte and Int32 length. */
  body: Buffer
  /** The whole message (type + length + body): a view of the pushed chunk when it lies wholly inside it. */
  raw: Buffer
}

export interface FramerOptions {
  /** The first message is untyped (a framer for the client side of a server). Default false. */
  startup?: boolean
  /** Largest accepted length field, in bytes. Default 1 GiB. */
  maxMessageSize?: number
}

const TYPED_HEADER = 5
const UNTYPED_HEADER = 4
/** An untyped message carries at least its length and a protocol version / request code. */
const MIN_STARTUP_LENGTH = 8

export class MessageFramer {
  private startup: boolean
  private readonly maxMessageSize: number
  /** Header bytes of a message whose header was split across chunks (fixed, allocated once). */
  private readonly header = Buffer.alloc(TYPED_HEADER)
  private headerFilled = 0
  /** The message being assembled across chunks, and how much of it has arrived. */
  private pending: Buffer | null = null
  private pendingFilled = 0
  private pendingType = 0
  private pendingHeaderSize = 0
  private failed: AgwError | null = null

  constructor(opts: FramerOptions = {}) {
    this.startup = opts.startup ?? false
    this.maxMessageSize = opts.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE
  }

  /** Bytes held for an incomplete message. */
  get buffered(): number {
    return this.pending ? this.pendingFilled : this.headerFilled
  }

  /**
   * The next message is untyped again: call it after answering 'N' to an SSLRequest or
   * GSSENCRequest. It may be called from inside the `onFrame` callback; the rest of the chunk
   * then frames as untyped.
   */
  expectStartup(): void {
    if (this.buffered !== 0) {
      // The client pipelined bytes after its SSLRequest/GSSENCRequest without waiting for the
      // answer; they were framed as typed messages and cannot be reinterpreted.
      throw new AgwError('protocol', 'the client sent data before the answer to its encryption request')
    }
    this.startup = true
  }

  /**
   * Frames `chunk`, calling `onFrame` for every complete message, in order. A protocol error
   * (bad length) throws AgwError('protocol'); the framer then refuses further input. When
   * `onFrame` throws, the rest of the chunk is dropped and the error propagates.
   */
  push(chunk: Buffer, onFrame: (frame: Frame) => void): void {
    if (this.failed) throw this.failed
    let offset = 0
    const size = chunk.length
    while (offset < size) {
      if (this.pending) {
        offset = this.fillPending(chunk, offset, onFrame)
        continue
      }
      const headerSize = this.startup ? UNTYPED_HEADER : TYPED_HEADER
      if (this.headerFilled > 0 || size - offset < headerSize) {
        // A header split across chunks: gather it in the fixed header buffer.
        const n = Math.min(headerSize - this.headerFilled, size - offset)
        chunk.copy(this.header, this.headerFilled, offset, offset + n)
        this.headerFilled += n
        offset += n
        if (this.headerFilled < headerSize) return
        const length = this.checkLength(this.header, 0)
        this.startPending(this.header.subarray(0, headerSize), length)
        this.headerFilled = 0
        continue
      }
      const length = this.checkLength(chunk, offset)
      const total = length + headerSize - 4
      if (size - offset >= total) {
        const type = this.startup ? 0 : (chunk[offset] as number)
        const raw = chunk.subarray(offset, offset + total)
        offset += total
        this.startup = false
        onFrame({ type, body: raw.subarray(headerSize), raw })
      } else {
        this.startPending(chunk.subarray(offset, offset + headerSize), length)
        offset += headerSize
      }
    }
  }

  /** Validates the length field of the header at `at` (before anything is allocated). */
  private checkLength(buf: Buffer, at: number): number {
    if (this.startup) {
      const length = buf.readUInt32BE(at)
      if (length < MIN_STARTUP_LENGTH || length > MAX_STARTUP_PACKET_LENGTH) {
        this.fail(`invalid startup packet length ${length} (must be ${MIN_STARTUP_LENGTH} to ${MAX_STARTUP_PACKET_LENGTH} bytes)${sniff(buf.subarray(at, at + 4))}`)
      }
      return length
    }
    const type = buf[at] as number
    const length = buf.readUInt32BE(at + 1)
    if (length < 4) this.fail(`message ${describeType(type)} has invalid length ${length} (less than 4)`)
    if (length > this.maxMessageSize) {
      this.fail(`message ${describeType(type)} length ${length} exceeds the limit of ${this.maxMessageSize} bytes`)
    }
    return length
  }

  /** Allocates the one buffer for a message that spans chunks and copies its header in. */
  private startPending(header: Buffer, length: number): void {
    const headerSize = header.length
    this.pendingType = this.startup ? 0 : (header[0] as number)
    this.pendingHeaderSize = headerSize
    this.pending = Buffer.allocUnsafe(length + headerSize - 4)
    header.copy(this.pending, 0)
    this.pendingFilled = headerSize
  }

  private fillPending(chunk: Buffer, offset: number, onFrame: (frame: Frame) => void): number {
    const pending = this.pending as Buffer
    const n = Math.min(pending.length - this.pendingFilled, chunk.length - offset)
    chunk.copy(pending, this.pendingFilled, offset, offset + n)
    this.pendingFilled += n
    if (this.pendingFilled === pending.length) {
      this.pending = null
      this.pendingFilled = 0
      this.startup = false
      onFrame({ type: this.pendingType, body: pending.subarray(this.pendingHeaderSize), raw: pending })
    }
    return offset + n
  }

  private fail(message: string): never {
    this.pending = null
    this.pendingFilled = 0
    this.headerFilled = 0
    this.failed = new AgwError('protocol', message)
    throw this.failed
  }
}

/** A hint for the commonest way to get here: something that is not PostgreSQL at all. */
function sniff(first: Buffer): string {
  if (first[0] === 0x16 && first[1] === 0x03) {
    return '; the peer started a TLS handshake without an SSLRequest (direct TLS / sslnegotiation=direct is not supported here)'
  }
  const text = first.toString('latin1')
  if (/^[A-Z]{3,4} ?$/.test(text)) {
    return `; the peer sent ${JSON.stringify(text)}, which looks like an HTTP request, not the PostgreSQL protocol`
  }
  if (/^SSH-/.test(text)) return '; the peer sent an SSH banner, not the PostgreSQL protocol'
  return '; the peer does not speak the PostgreSQL protocol'
}
