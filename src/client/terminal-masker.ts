/**
 * The terminal recording's masker: the content detectors (src/policy/detectors.ts) of the
 * connections a run uses, applied to every chunk before it leaves this machine. Column rules do
 * not apply to free text; the gateway masks result rows itself, so what the agent sees of a query
 * is masked already.
 */
import { randomBytes } from 'node:crypto'
import { Masker, type MaskStyle } from '../policy/masking.js'
import { identityMasker, type TextMasker } from './terminal.js'

export interface MaskedConnection {
  detectors?: string[]
  maskStyle?: MaskStyle
}

/** One masker for the run: the union of the connections' detectors; `hash` keyed per run. */
export function terminalMaskerFor(connections: readonly MaskedConnection[]): TextMasker {
  const detectors = [...new Set(connections.flatMap((c) => c.detectors ?? []))]
  if (detectors.length === 0) return identityMasker
  const styles = new Set(connections.filter((c) => c.detectors?.length).map((c) => c.maskStyle ?? 'redact'))
  // Mixed styles: the strictest one.
  const style: MaskStyle = styles.has('redact') || styles.size === 0 ? 'redact' : styles.has('hash') ? 'hash' : 'partial'
  let masker: Masker
  try {
    masker = new Masker({ columns: [], detectors, style }, randomBytes(32))
  } catch {
    // A detector this CLI does not know (a newer gateway): mask with every one it knows.
    masker = new Masker({ columns: [], detectors: ['all'], style }, randomBytes(32))
  }
  return { mask: (text) => masker.text(text, undefined) ?? text }
}
