/**
 * PostgreSQL password authentication, as pure functions over strings and buffers (no I/O).
 *
 * - SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL implements it (libpq `fe-auth-scram.c`, backend
 *   `auth-scram.c`): the username in the SCRAM messages is ignored (PostgreSQL takes it from the
 *   startup packet, so clients send `n=`), channel binding is not used (`n,,`), no extensions.
 *   `ScramClient` is the gateway's side towards a target; `ScramServer` is the local agent's side
 *   towards psql (it checks the one-time local password).
 * - MD5 (`AuthenticationMD5Password`): `md5PasswordResponse`.
 * - Cleartext needs no computation: the password goes in a PasswordMessage as is.
 *
 * Message framing (AuthenticationSASL, SASLInitialResponse ...) is the codec's job, not this file's.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto'
import { AgwError } from '../../errors.js'

export const SCRAM_SHA_256 = 'SCRAM-SHA-256'

/** PostgreSQL refuses iteration counts it could not finish; we refuse absurd ones a server sends us. */
const MAX_ITERATIONS = 10_000_000
/** Bytes of randomness in a nonce (libpq and the backend both use 18, i.e. 24 base64 characters). */
const NONCE_BYTES = 18
/** Salt length for verifiers we create (PostgreSQL's SCRAM_DEFAULT_SALT_LEN). */
const SALT_BYTES = 16
const KEY_BYTES = 32

// ---------------------------------------------------------------------------------------------
// SASLprep (RFC 4013), the way PostgreSQL's src/common/saslprep.c does it
// ---------------------------------------------------------------------------------------------

type Ranges = readonly (readonly [number, number])[]

/** C.1.2 non-ASCII space characters: mapped to U+0020. */
const NON_ASCII_SPACE: Ranges = [
  [0x00a0, 0x00a0], [0x1680, 0x1680], [0x2000, 0x200b], [0x202f, 0x202f], [0x205f, 0x205f],
  [0x3000, 0x3000],
]
/** B.1 commonly mapped to nothing: deleted. */
const MAPPED_TO_NOTHING: Ranges = [
  [0x00ad, 0x00ad], [0x034f, 0x034f], [0x1806, 0x1806], [0x180b, 0x180d], [0x200b, 0x200d],
  [0x2060, 0x2060], [0xfe00, 0xfe0f], [0xfeff, 0xfeff],
]
/** C.1.2, C.2.1, C.2.2, C.3, C.4, C.5, C.6, C.7, C.8, C.9: prohibited output. */
const PROHIBITED: Ranges = [
  [0x0000, 0x001f], [0x007f, 0x009f], [0x00a0, 0x00a0], [0x0340, 0x0341], [0x06dd, 0x06dd],
  [0x070f, 0x070f], [0x1680, 0x1680], [0x180e, 0x180e], [0x2000, 0x200f], [0x2028, 0x202f],
  [0x205f, 0x2063], [0x206a, 0x206f], [0x2ff0, 0x2ffb], [0x3000, 0x3000], [0xd800, 0xf8ff],
  [0xfdd0, 0xfdef], [0xfeff, 0xfeff], [0xfff9, 0xffff], [0x1d173, 0x1d17a], [0xe0001, 0xe0001],
  [0xe0020, 0xe007f], [0xf0000, 0x10ffff],
  ...Array.from({ length: 16 }, (_, plane) => [(plane + 1) * 0x10000 + 0xfffe, (plane + 1) * 0x10000 + 0xffff] as const),
]
/**
 * A.1 (unassigned in Unicode 3.2), outside the BMP, exactly. Inside the BMP we approximate A.1 with
 * the current Unicode's unassigned code points (`\p{Cn}`), so a BMP character added after 3.2 is
 * treated as assigned here but as unassigned by PostgreSQL.
 */
const UNASSIGNED_ASTRAL: Ranges = [
  [0x10000, 0x102ff], [0x1031f, 0x1031f], [0x10324, 0x1032f], [0x1034b, 0x103ff], [0x10426, 0x10427],
  [0x1044e, 0x1cfff], [0x1d0f6, 0x1d0ff], [0x1d127, 0x1d129], [0x1d1de, 0x1d3ff], [0x1d7ca, 0x1d7cd],
  [0x1d800, 0x1fffd], [0x2a6d7, 0x2f7ff], [0x2fa1e, 0x2fffd], [0x30000, 0xdfffd], [0xe0000, 0xe0000],
  [0xe0002, 0xe001f], [0xe0080, 0xefffd],
]
/** D.1: characters with bidirectional property R or AL (exact). */
const RAND_AL_CAT: Ranges = [
  [0x05be, 0x05be], [0x05c0, 0x05c0], [0x05c3, 0x05c3], [0x05d0, 0x05ea], [0x05f0, 0x05f4],
  [0x061b, 0x061b], [0x061f, 0x061f], [0x0621, 0x063a], [0x0640, 0x064a], [0x066d, 0x066f],
  [0x0671, 0x06d5], [0x06dd, 0x06dd], [0x06e5, 0x06e6], [0x06fa, 0x06fe], [0x0700, 0x070d],
  [0x0710, 0x0710], [0x0712, 0x072c], [0x0780, 0x07a5], [0x07b1, 0x07b1], [0x200f, 0x200f],
  [0xfb1d, 0xfb1d], [0xfb1f, 0xfb28], [0xfb2a, 0xfb36], [0xfb38, 0xfb3c], [0xfb3e, 0xfb3e],
  [0xfb40, 0xfb41], [0xfb43, 0xfb44], [0xfb46, 0xfbb1], [0xfbd3, 0xfd3d], [0xfd50, 0xfd8f],
  [0xfd92, 0xfdc7], [0xfdf0, 0xfdfc], [0xfe70, 0xfe74], [0xfe76, 0xfefc],
]
/** D.2 (bidirectional property L), approximated: letters and spacing marks outside the RTL scripts. */
const LCAT_APPROX = /[\p{L}\p{Mc}]/u
const RTL_SCRIPT = /[\p{Script=Hebrew}\p{Script=Arabic}\p{Script=Syriac}\p{Script=Thaana}]/u
const UNASSIGNED_NOW = /\p{Cn}/u

function inRanges(cp: number, ranges: Ranges): boolean {
  for (const [lo, hi] of ranges) if (cp >= lo && cp <= hi) return true
  return false
}

function isRandAL(cp: number): boolean {
  return inRanges(cp, RAND_AL_CAT)
}

function isLCat(cp: number): boolean {
  const ch = String.fromCodePoint(cp)
  return !isRandAL(cp) && LCAT_APPROX.test(ch) && !RTL_SCRIPT.test(ch)
}

function isUnassigned(cp: number): boolean {
  return cp > 0xffff ? inRanges(cp, UNASSIGNED_ASTRAL) : UNASSIGNED_NOW.test(String.fromCodePoint(cp))
}

/**
 * The bytes PostgreSQL would feed to PBKDF2 for `password`, mirroring `pg_saslprep` and its callers:
 * - pure ASCII: used as is (PostgreSQL skips SASLprep entirely, control characters included);
 * - otherwise map (C.1.2 to space, B.1 to nothing), normalise with NFKC, then check for prohibited
 *   and unassigned code points and the bidi rule. As in PostgreSQL, those checks run on the mapped
 *   string before normalisation, and an empty mapped string counts as prohibited;
 * - when a check fails, PostgreSQL (client and server alike) falls back to the raw UTF-8 bytes, and
 *   so do we.
 * Known differences, all confined to exotic passwords: A.1 inside the BMP and D.2 (LCat) are
 * approximated (see the tables above), and NFKC comes from Node's ICU, whose Unicode version may
 * differ from the one compiled into the PostgreSQL server. A JS string cannot hold invalid UTF-8,
 * so PostgreSQL's SASLPREP_INVALID_UTF8 case cannot arise here (lone surrogates are prohibited).
 */
export function saslprep(password: string): Buffer {
  const raw = Buffer.from(password, 'utf8')
  if (raw.length === password.length) return raw // pure ASCII: one byte per UTF-16 unit
  const mapped: number[] = []
  for (const ch of password) {
    const cp = ch.codePointAt(0) as number
    if (inRanges(cp, NON_ASCII_SPACE)) mapped.push(0x20)
    else if (!inRanges(cp, MAPPED_TO_NOTHING)) mapped.push(cp)
  }
  if (mapped.length === 0) return raw
  for (const cp of mapped) {
    if (inRanges(cp, PROHIBITED) || isUnassigned(cp)) return raw
  }
  if (mapped.some(isRandAL)) {
    if (mapped.some(isLCat)) return raw
    if (!isRandAL(mapped[0] as number) || !isRandAL(mapped[mapped.length - 1] as number)) return raw
  }
  return Buffer.from(String.fromCodePoint(...mapped).normalize('NFKC'), 'utf8')
}

// ---------------------------------------------------------------------------------------------
// SCRAM primitives
// ---------------------------------------------------------------------------------------------

interface ScramKeys {
  storedKey: Buffer
  serverKey: Buffer
}

function hmac(key: Buffer, data: string | Buffer): Buffer {
  return createHmac('sha256', key).update(data).digest()
}

function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest()
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length)
  for (let i = 0; i < a.length; i++) out[i] = (a[i] as number) ^ (b[i] as number)
  return out
}

/** SaltedPassword, ClientKey, StoredKey, ServerKey (RFC 5802 section 3). */
function deriveKeys(password: Buffer, salt: Buffer, iterations: number): ScramKeys & { clientKey: Buffer } {
  const salted = pbkdf2Sync(password, salt, iterations, KEY_BYTES, 'sha256')
  const clientKey = hmac(salted, 'Client Key')
  const keys = { clientKey, storedKey: sha256(clientKey), serverKey: hmac(salted, 'Server Key') }
  salted.fill(0)
  return keys
}

/** printable = %x21-2B / %x2D-7E (RFC 5802 section 7): any printable ASCII except ','. */
const NONCE_RE = /^[\x21-\x2b\x2d-\x7e]+$/
const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

function newNonce(): string {
  return randomBytes(NONCE_BYTES).toString('base64')
}

function checkNonce(nonce: string, what: string): string {
  if (!NONCE_RE.test(nonce)) throw protocol(`${what} is not a valid SCRAM nonce`)
  return nonce
}

/** Strict base64 (Buffer.from ignores junk); undefined when `text` is not canonical base64. */
function decodeBase64(text: string): Buffer | undefined {
  return text.length > 0 && BASE64_RE.test(text) ? Buffer.from(text, 'base64') : undefined
}

/** `name=value`, checking the attribute name; undefined when absent or named otherwise. */
function attr(part: string | undefined, name: string): string | undefined {
  return part !== undefined && part.startsWith(`${name}=`) ? part.slice(2) : undefined
}

function isExtension(part: string): boolean {
  return /^[A-Za-z]=/.test(part)
}

function protocol(message: string): AgwError {
  return new AgwError('protocol', `SCRAM-SHA-256: ${message}`)
}

// ---------------------------------------------------------------------------------------------
// Client side (gateway -> target)
// ---------------------------------------------------------------------------------------------

export interface ScramClientOptions {
  /** The client nonce; random (18 bytes, base64) unless given. For tests. */
  nonce?: string
  /** The `n=` username; PostgreSQL ignores it and libpq sends it empty. For test vectors. */
  username?: string
}

type ClientState = 'initial' | 'first-sent' | 'final-sent' | 'done' | 'failed'

/** One SCRAM-SHA-256 exchange as a client. Call the three methods once each, in order. */
export class ScramClient {
  readonly mechanism = SCRAM_SHA_256
  private readonly password: Buffer
  private readonly clientNonce: string
  private readonly clientFirstBare: string
  private state: ClientState = 'initial'
  private expectedServerSignature: Buffer = Buffer.alloc(0)

  constructor(password: string, opts: ScramClientOptions = {}) {
    this.password = saslprep(password)
    this.clientNonce = checkNonce(opts.nonce ?? newNonce(), 'the client nonce')
    const username = (opts.username ?? '').replaceAll('=', '=3D').replaceAll(',', '=2C')
    this.clientFirstBare = `n=${username},r=${this.clientNonce}`
  }

  /** The SASLInitialResponse payload: gs2 header `n,,` (no channel binding) and the bare message. */
  clientFirstMessage(): string {
    return this.step('initial', 'first-sent', () => `n,,${this.clientFirstBare}`)
  }

  /** Checks the server-first-message and returns the client-final-message (SASLResponse payload). */
  handleServerFirst(serverFirst: string): string {
    return this.step('first-sent', 'final-sent', () => this.clientFinal(serverFirst))
  }

  /** Checks the server-final-message (AuthenticationSASLFinal payload); throws unless the server proved it knows the password. */
  verifyServerFinal(serverFinal: string): void {
    this.step('final-sent', 'done', () => this.checkServerFinal(serverFinal))
  }

  private clientFinal(serverFirst: string): string {
    const parts = serverFirst.split(',')
    if (attr(parts[0], 'm') !== undefined) throw protocol('the server requires an unsupported extension')
    const nonce = attr(parts[0], 'r')
    const saltText = attr(parts[1], 's')
    const iterText = attr(parts[2], 'i')
    if (nonce === undefined || saltText === undefined || iterText === undefined || parts.length !== 3) {
      throw protocol('malformed server-first-message')
    }
    checkNonce(nonce, 'the server nonce')
    if (!nonce.startsWith(this.clientNonce) || nonce.length === this.clientNonce.length) {
      throw protocol('the server nonce does not extend the client nonce')
    }
    const salt = decodeBase64(saltText)
    if (salt === undefined) throw protocol('the salt in server-first-message is not base64')
    const iterations = /^[1-9][0-9]{0,7}$/.test(iterText) ? Number(iterText) : NaN
    if (!(iterations > 0 && iterations < MAX_ITERATIONS)) {
      throw protocol(`unacceptable iteration count ${JSON.stringify(iterText.slice(0, 20))}`)
    }

    const keys = deriveKeys(this.password, salt, iterations)
    this.password.fill(0)
    const withoutProof = `c=biws,r=${nonce}`
    const authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`
    const proof = xor(keys.clientKey, hmac(keys.storedKey, authMessage))
    this.expectedServerSignature = hmac(keys.serverKey, authMessage)
    return `${withoutProof},p=${proof.toString('base64')}`
  }

  private checkServerFinal(serverFinal: string): void {
    const error = attr(serverFinal, 'e')
    if (error !== undefined) {
      throw new AgwError('unauthenticated', `SCRAM-SHA-256: the server refused the exchange (${error.slice(0, 100)})`)
    }
    const verifier = attr(serverFinal, 'v')
    if (verifier === undefined || verifier.includes(',')) throw protocol('malformed server-final-message')
    const signature = decodeBase64(verifier)
    const expected = this.expectedServerSignature
    if (signature === undefined || signature.length !== expected.length || !timingSafeEqual(signature, expected)) {
      throw new AgwError('unauthenticated', 'SCRAM-SHA-256: the server signature is wrong; the server does not know the password')
    }
  }

  /** Runs one step of the exchange; any failure ends the exchange for good. */
  private step<T>(from: ClientState, to: ClientState, run: () => T): T {
    if (this.state !== from) throw protocol(`unexpected step (exchange is ${this.state})`)
    this.state = 'failed'
    const result = run()
    this.state = to
    return result
  }
}

// ---------------------------------------------------------------------------------------------
// MD5
// ---------------------------------------------------------------------------------------------

/** The PasswordMessage for AuthenticationMD5Password: 'md5' + md5hex(md5hex(password + user) + salt). */
export function md5PasswordResponse(user: string, password: string, salt: Buffer): string {
  if (salt.length !== 4) throw new AgwError('protocol', `MD5 authentication: expected a 4-byte salt, got ${salt.length} bytes`)
  const inner = createHash('md5').update(Buffer.from(password + user, 'utf8')).digest('hex')
  return 'md5' + createHash('md5').update(Buffer.concat([Buffer.from(inner, 'ascii'), salt])).digest('hex')
}

// ---------------------------------------------------------------------------------------------
// Server side (local agent <- psql)
// ---------------------------------------------------------------------------------------------

export interface ScramServerOptions {
  /** PBKDF2 iterations; PostgreSQL's default, 4096, unless given. */
  iterations?: number
  /** The salt; 16 random bytes unless given. For tests. */
  salt?: Buffer
}

/** Per connection: one exchange. Malformed messages throw AgwError('protocol'); a wrong password is `{ ok: false }`. */
export interface ScramServerExchange {
  readonly mechanisms: string[]
  /** `data` is the SASLInitialResponse payload; returns the server-first-message (AuthenticationSASLContinue). */
  handleClientFirst(mechanism: string, data: Buffer): string
  /** `data` is the SASLResponse payload; on success, the server-final-message (AuthenticationSASLFinal). */
  handleClientFinal(data: Buffer): { ok: true; serverFinal: string } | { ok: false }
}

/**
 * A SCRAM-SHA-256 verifier for one password: PBKDF2 runs once, in the constructor; `start()` opens
 * a cheap exchange per connection. Only StoredKey and ServerKey are kept (as a PostgreSQL verifier).
 */
export class ScramServer {
  readonly iterations: number
  readonly salt: Buffer
  private readonly keys: ScramKeys

  constructor(password: string, opts: ScramServerOptions = {}) {
    this.iterations = opts.iterations ?? 4096
    if (!Number.isInteger(this.iterations) || this.iterations <= 0 || this.iterations >= MAX_ITERATIONS) {
      throw new AgwError('bad_input', `SCRAM-SHA-256: iterations must be an integer in 1..${MAX_ITERATIONS - 1}`)
    }
    this.salt = opts.salt ?? randomBytes(SALT_BYTES)
    const { clientKey, storedKey, serverKey } = deriveKeys(saslprep(password), this.salt, this.iterations)
    clientKey.fill(0)
    this.keys = { storedKey, serverKey }
  }

  /** `serverNonce` (the part the server appends) is random unless given. For tests. */
  start(opts: { serverNonce?: string } = {}): ScramServerExchange {
    const serverNonce = checkNonce(opts.serverNonce ?? newNonce(), 'the server nonce')
    return new ServerExchange(this.keys, this.salt, this.iterations, serverNonce)
  }
}

class ServerExchange implements ScramServerExchange {
  readonly mechanisms = [SCRAM_SHA_256]
  private state: 'initial' | 'first-received' | 'done' | 'failed' = 'initial'
  private gs2Header = ''
  private clientFirstBare = ''
  private serverFirst = ''
  private nonce = ''

  constructor(
    private readonly keys: ScramKeys,
    private readonly salt: Buffer,
    private readonly iterations: number,
    private readonly serverNonce: string,
  ) {}

  handleClientFirst(mechanism: string, data: Buffer): string {
    return this.step('initial', 'first-received', () => this.serverFirstFor(mechanism, data))
  }

  handleClientFinal(data: Buffer): { ok: true; serverFinal: string } | { ok: false } {
    return this.step('first-received', 'done', () => this.verifyClientFinal(data))
  }

  private serverFirstFor(mechanism: string, data: Buffer): string {
    if (mechanism === `${SCRAM_SHA_256}-PLUS`) throw protocol('channel binding is not supported on this connection')
    if (mechanism !== SCRAM_SHA_256) throw protocol(`unsupported SASL mechanism ${JSON.stringify(mechanism.slice(0, 40))}`)
    // latin1 keeps the client's bytes exactly, so AuthMessage hashes what the client hashed.
    const message = data.toString('latin1')
    const flag = message[0]
    if (flag === 'p') throw protocol('the client requires channel binding, which is not supported')
    if ((flag !== 'n' && flag !== 'y') || message[1] !== ',') throw protocol('malformed client-first-message (gs2 header)')
    if (message[2] !== ',') {
      throw protocol(message.startsWith('a=', 2) ? 'an authorization identity is not supported' : 'malformed client-first-message (gs2 header)')
    }
    this.gs2Header = message.slice(0, 3)
    this.clientFirstBare = message.slice(3)
    const parts = this.clientFirstBare.split(',')
    if (attr(parts[0], 'm') !== undefined) throw protocol('the client requires an unsupported extension')
    const clientNonce = attr(parts[1], 'r')
    if (attr(parts[0], 'n') === undefined || clientNonce === undefined || !parts.slice(2).every(isExtension)) {
      throw protocol('malformed client-first-message')
    }
    this.nonce = checkNonce(clientNonce, 'the client nonce') + this.serverNonce
    this.serverFirst = `r=${this.nonce},s=${this.salt.toString('base64')},i=${this.iterations}`
    return this.serverFirst
  }

  private verifyClientFinal(data: Buffer): { ok: true; serverFinal: string } | { ok: false } {
    const message = data.toString('latin1')
    const proofAt = message.lastIndexOf(',p=')
    if (proofAt < 0) throw protocol('client-final-message has no proof')
    const withoutProof = message.slice(0, proofAt)
    const parts = withoutProof.split(',')
    const binding = attr(parts[0], 'c')
    const nonce = attr(parts[1], 'r')
    if (binding === undefined || nonce === undefined || !parts.slice(2).every(isExtension)) {
      throw protocol('malformed client-final-message')
    }
    if (binding !== Buffer.from(this.gs2Header, 'latin1').toString('base64')) {
      throw protocol('the channel binding in client-final-message does not match client-first-message')
    }
    if (nonce !== this.nonce) throw protocol('the nonce in client-final-message does not match')
    const proof = decodeBase64(message.slice(proofAt + 3))
    if (proof === undefined || proof.length !== KEY_BYTES) throw protocol('malformed proof in client-final-message')

    const authMessage = Buffer.from(`${this.clientFirstBare},${this.serverFirst},${withoutProof}`, 'latin1')
    const clientKey = xor(proof, hmac(this.keys.storedKey, authMessage))
    if (!timingSafeEqual(sha256(clientKey), this.keys.storedKey)) return { ok: false }
    return { ok: true, serverFinal: `v=${hmac(this.keys.serverKey, authMessage).toString('base64')}` }
  }

  private step<T>(from: ServerExchange['state'], to: ServerExchange['state'], run: () => T): T {
    if (this.state !== from) throw protocol(`unexpected message (exchange is ${this.state})`)
    this.state = 'failed'
    const result = run()
    this.state = to
    return result
  }
}
