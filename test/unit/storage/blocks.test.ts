/** How a batch is cut into payload blocks (src/storage/blocks.ts, ADR 0015). */
import { describe, expect, it } from 'vitest'
import { BLOCK_MAX, BLOCK_MEMBER_MAX, BLOCK_SPAN, decodeRef, encodeRef, planBlocks } from '../../../src/storage/blocks.js'

const firsts = (plans: ReturnType<typeof planBlocks>) => plans.flatMap((p, i) => (p.kind === 'first' ? [[i, p.members.length]] : []))

describe('planBlocks', () => {
  it('groups by key in batch order; a key seen once, or a large payload, is sealed on its own', () => {
    const plans = planBlocks(['a', 'b', 'a', 'c', 'a', 'b'], ['1', '2', '3', '4', 'x'.repeat(BLOCK_MEMBER_MAX + 1), '6'])
    expect(plans).toEqual([
      { kind: 'first', members: [0, 2] },
      { kind: 'first', members: [1, 5] },
      { kind: 'member', first: 0, line: 1 },
      { kind: 'own' },
      { kind: 'own' },
      { kind: 'member', first: 1, line: 1 },
    ])
  })

  it('closes a block at BLOCK_MAX bytes and at BLOCK_SPAN events', () => {
    const big = 'y'.repeat(BLOCK_MEMBER_MAX)
    const bySize = planBlocks(Array(40).fill('k'), Array(40).fill(big))
    const perBlock = Math.floor(BLOCK_MAX / BLOCK_MEMBER_MAX)
    expect(firsts(bySize)).toEqual([[0, perBlock], [perBlock, perBlock], [2 * perBlock, 40 - 2 * perBlock]])
    const bySpan = planBlocks(Array(2500).fill('k'), Array(2500).fill('{}'))
    expect(firsts(bySpan)).toEqual([[0, BLOCK_SPAN], [BLOCK_SPAN, BLOCK_SPAN], [2 * BLOCK_SPAN, 500]])
  })

  it('references round-trip, and anything else is not one', () => {
    expect(decodeRef(encodeRef(2 ** 40 + 7, 999))).toEqual({ firstSeq: 2 ** 40 + 7, line: 999 })
    expect(decodeRef(Buffer.alloc(11))).toBeUndefined()
    expect(decodeRef(Buffer.alloc(40, 1))).toBeUndefined()
  })
})
