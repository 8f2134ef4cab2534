/** Small address helpers shared by the gateway and the CLI. */
import { isIP } from 'node:net'

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase()
  if (h === 'localhost' || h === '::1') return true
  if (isIP(h) === 4) return h.startsWith('127.')
  return h === '0:0:0:0:0:0:0:1'
}

export function splitHostPort(hostPort: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(hostPort)
  if (!m) throw new Error(`expected HOST:PORT, got "${hostPort}"`)
  return { host: (m[1] ?? m[2]) as string, port: Number(m[3]) }
}
