/**
 * The store's cryptography, in one place (docs/operations.md "Keys", ADR 0010):
 *
 *   master key (encryption.keyFile, 32 bytes)
 *     └─ KEK = HKDF-SHA256(master, info "agw kek v1")          never stored
 *          ├─ wraps a data key per session (and per UTC day for events without a session)
 *          ├─ wraps the gateway's Ed25519 checkpoint signing key
 *          └─ wraps the search key (the blind index HMAC key)
 *
 * Everything is AES-256-GCM with a random 96-bit nonce; the stored form is nonce ‖ ciphertext ‖ tag.
 * Additional authenticated data binds every ciphertext to what it belongs to (the key's purpose and
 * id for wrapped keys, the event id for payloads), so blobs cannot be swapped between rows.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto'
import { AgwError } from '../errors.js'

const NONCE = 12
const TAG = 16

/** The master key and what is derived from it. */
export class MasterKey {
  /** Short public fingerprint: names which master key wrapped a blob (safe to show and store). */
  readonly id: string
  private readonly kek: Buffer

  constructor(key: Buffer) {
    if (key.length !== 32) throw new AgwError('bad_input', 'the master key must be 32 bytes')
    this.kek = Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'agw kek v1', 32))
    this.id = createHash('sha256').update('agw key id v1').update(key).digest('hex').slice(0, 16)
  }

  /** Wraps key material for `purpose`/`id` (AAD), e.g. ('data', sessionId). */
  wrap(purpose: string, id: string, material: Buffer): Buffer {
    return seal(this.kek, material, wrapAad(purpose, id))
  }

  unwrap(purpose: string, id: string, wrapped: Buffer): Buffer {
    try {
      return open(this.kek, wrapped, wrapAad(purpose, id))
    } catch {
      throw new AgwError(
        'bad_input',
        `cannot unwrap the ${purpose} key ${id} with master key ${this.id}: the store was written with another master key, or the key row was altered`,
      )
    }
  }
}

function wrapAad(purpose: string, id: string): Buffer {
  return Buffer.from(`agw.wrap.v1|${purpose}|${id}`, 'utf8')
}

// Random nonces drawn from a pool: one call into the CSPRNG per 1024 nonces instead of one each
// (a small randomBytes() costs more than the AES-GCM of a typical event).
let noncePool = Buffer.alloc(0)
let nonceAt = 0

function freshNonce(): Buffer {
  if (nonceAt + NONCE > noncePool.length) {
    noncePool = randomBytes(NONCE * 1024)
    nonceAt = 0
  }
  const n = noncePool.subarray(nonceAt, nonceAt + NONCE)
  nonceAt += NONCE
  return n
}

/** AES-256-GCM: nonce ‖ ciphertext ‖ tag. */
export function seal(key: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  const nonce = freshNonce()
  const c = createCipheriv('aes-256-gcm', key, nonce)
  c.setAAD(aad)
  const body = c.update(plaintext)
  const final = c.final()
  return Buffer.concat([nonce, body, final, c.getAuthTag()])
}

/** Opens what `seal` made; throws on any change to the blob or the AAD. */
export function open(key: Buffer, blob: Buffer, aad: Buffer): Buffer {
  if (blob.length < NONCE + TAG) throw new Error('ciphertext too short')
  const d = createDecipheriv('aes-256-gcm', key, blob.subarray(0, NONCE))
  d.setAAD(aad)
  d.setAuthTag(blob.subarray(blob.length - TAG))
  return Buffer.concat([d.update(blob.subarray(NONCE, blob.length - TAG)), d.final()])
}

export function newDataKey(): Buffer {
  return randomBytes(32)
}

/** Encrypts an event payload (UTF-8 JSON) under its data key, bound to the event id. */
export function sealPayload(dataKey: Buffer, eventId: string, json: string): Buffer {
  return seal(dataKey, Buffer.from(json, 'utf8'), Buffer.from(eventId, 'utf8'))
}

export function openPayload(dataKey: Buffer, eventId: string, blob: Buffer): string {
  return open(dataKey, blob, Buffer.from(eventId, 'utf8')).toString('utf8')
}

/**
 * Encrypts the payloads of several events of one data key as one block (docs/adr/0015): their JSON,
 * one per line (JSON text never holds a raw newline), bound to the first event's id. One AES-GCM per
 * block instead of one per event.
 */
export function sealBlock(dataKey: Buffer, firstEventId: string, payloads: string[]): Buffer {
  return seal(dataKey, Buffer.from(payloads.join('\n'), 'utf8'), blockAad(firstEventId))
}

/** The payloads of a block, in order; throws on any change to the blob or a wrong first event. */
export function openBlock(dataKey: Buffer, firstEventId: string, blob: Buffer): string[] {
  return open(dataKey, blob, blockAad(firstEventId)).toString('utf8').split('\n')
}

function blockAad(firstEventId: string): Buffer {
  return Buffer.from(`agw.block.v1|${firstEventId}`, 'utf8')
}

// ---- the gateway's checkpoint signing key (Ed25519) ----

export interface SigningKey {
  /** hex SHA-256 of the raw public key, first 16 hex digits. */
  id: string
  publicKey: KeyObject
  privateKey: KeyObject
  /** Raw 32-byte public key. */
  publicRaw: Buffer
}

export function rawPublicKey(pub: KeyObject): Buffer {
  const jwk = pub.export({ format: 'jwk' }) as { x?: string }
  return Buffer.from(jwk.x ?? '', 'base64url')
}

export function signingKeyId(publicRaw: Buffer): string {
  return createHash('sha256').update(publicRaw).digest('hex').slice(0, 16)
}

export function generateSigningKey(): SigningKey {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519')
  const publicRaw = rawPublicKey(publicKey)
  return { id: signingKeyId(publicRaw), publicKey, privateKey, publicRaw }
}

/** The private key as PKCS#8 DER, to be wrapped by the master key. */
export function exportSigningKey(k: SigningKey): Buffer {
  return k.privateKey.export({ format: 'der', type: 'pkcs8' })
}

export function importSigningKey(pkcs8: Buffer): SigningKey {
  const privateKey = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })
  const publicKey = createPublicKey(privateKey)
  const publicRaw = rawPublicKey(publicKey)
  return { id: signingKeyId(publicRaw), publicKey, privateKey, publicRaw }
}

export function publicKeyFromRaw(raw: Buffer): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' })
}

export function signMessage(k: SigningKey, message: Buffer): Buffer {
  return sign(null, message, k.privateKey)
}

export function verifyMessage(publicKey: KeyObject, message: Buffer, signature: Buffer): boolean {
  try {
    return verify(null, message, publicKey, signature)
  } catch {
    return false
  }
}

// ---- the blind index (ADR 0011) ----

// eslint-disable-next-line no-control-regex -- terminal escape sequences are control characters
const ANSI = /\u001b(?:\[[0-?]*[ -/]*[@-~]|\][^\u0007\u001b]*(?:\u0007|\u001b\\)|[@-Z\\-_])/g
const WORD = /[\p{L}\p{N}_]+/gu

/**
 * Words of a text as the search index sees them: terminal escape sequences removed, lower-cased,
 * runs of letters, digits and `_`, 1 to 64 characters (longer runs are cut).
 */
export function words(text: string): string[] {
  const clean = text.includes('\u001b') ? text.replace(ANSI, ' ') : text
  const out: string[] = []
  for (const m of clean.toLowerCase().matchAll(WORD)) out.push(m[0].length > 64 ? m[0].slice(0, 64) : m[0])
  return out
}

/**
 * Keyed, deterministic word tokens: HMAC-SHA256(searchKey, word), first 80 bits as 20 hex digits.
 * The index holds only these, so the store file never holds the words themselves. A bounded cache
 * keeps the cost per repeated word to a Map lookup.
 */
export class BlindIndex {
  private readonly cache = new Map<string, string>()

  constructor(private readonly key: Buffer) {}

  token(word: string): string {
    let t = this.cache.get(word)
    if (t === undefined) {
      t = createHmac('sha256', this.key).update(word, 'utf8').digest('hex').slice(0, 20)
      if (this.cache.size >= 100_000) this.cache.clear()
      this.cache.set(word, t)
    }
    return t
  }

  /** The token document for a text (space-separated tokens, word order kept for phrase queries). */
  document(text: string): string {
    return words(text)
      .map((w) => this.token(w))
      .join(' ')
  }

  /**
   * An FTS5 MATCH expression for a user's query: words are ANDed; a "quoted phrase" must appear as
   * those words in that order. Returns undefined when the query has no words.
   */
  matchExpression(query: string): string | undefined {
    const parts: string[] = []
    const phrase = /"([^"]*)"/g
    let rest = query
    for (const m of query.matchAll(phrase)) {
      const toks = words(m[1] ?? '').map((w) => this.token(w))
      if (toks.length > 0) parts.push(`"${toks.join(' ')}"`)
      rest = rest.replace(m[0], ' ')
    }
    for (const w of words(rest)) parts.push(`"${this.token(w)}"`)
    return parts.length > 0 ? parts.join(' AND ') : undefined
  }
}
