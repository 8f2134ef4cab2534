/** UUIDv7 (RFC 9562 section 5.7): version and variant bits, time order, uniqueness. */
import { describe, expect, it } from 'vitest'
import { uuidv7 } from '../../src/ids.js'

describe('uuidv7', () => {
  it('has the version 7 and variant 10 bits, and the time in the first 48 bits', () => {
    const now = Date.UTC(2026, 10, 26, 12, 0, 0)
    const id = uuidv7(now)
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBe(now)
  })

  it('is strictly increasing within a millisecond and unique over many ids', () => {
    const now = Date.now()
    const ids = Array.from({ length: 2000 }, () => uuidv7(now))
    expect([...ids].sort()).toEqual(ids)
    expect(new Set(ids).size).toBe(ids.length)
    const many = new Set(Array.from({ length: 50_000 }, () => uuidv7()))
    expect(many.size).toBe(50_000)
  })
})
