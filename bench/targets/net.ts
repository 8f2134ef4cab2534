import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'

/** A port that was free on 127.0.0.1 a moment ago (for programs that cannot listen on port 0 and report it). */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo
      s.close(() => resolve(port))
    })
  })
}
