/**
 * Summarises a V8 CPU profile (`node --cpu-prof`, a .cpuprofile JSON file): self time by function
 * and by area (agw module, dependency, Node core, GC), so the next optimisation is aimed, not guessed.
 */
import { readFileSync } from 'node:fs'

interface CallFrame {
  functionName: string
  url: string
  lineNumber: number
}

interface ProfileNode {
  id: number
  callFrame: CallFrame
}

export interface CpuProfile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
  startTime: number
  endTime: number
}

export interface ProfileEntry {
  name: string
  ms: number
  /** Share of the busy (non-idle) time, percent. */
  percent: number
}

export interface ProfileSummary {
  wallMs: number
  busyMs: number
  topFunctions: ProfileEntry[]
  areas: ProfileEntry[]
}

const SPECIAL = new Set(['(idle)', '(program)', '(garbage collector)', '(root)'])

/** Where a frame's code lives: "agw src/protocols/postgres/proxy", "ws", "node streams", "GC" ... */
export function areaOf(frame: CallFrame): string {
  const { url, functionName } = frame
  if (functionName === '(garbage collector)') return 'GC'
  if (functionName === '(program)') return 'V8/native (unattributed)'
  // libuv stream writes (writeBuffer, writev, writeUtf8String ...): one system call each.
  if (url === '' && /^write(Buffer|v|Latin1String|Utf8String|AsciiString|Ucs2String)$/.test(functionName)) return 'socket writes (native)'
  if (url === '') return functionName ? `native: ${functionName}` : 'native'
  const nm = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)
  if (nm) return nm[1] as string
  const agw = /\/(?:dist\/)?((?:src|commands)\/.+?)\.(?:js|ts)$/.exec(url)
  if (agw) return `agw ${agw[1]}`
  const core = /^node:(?:internal\/)?([a-z_]+)/.exec(url)
  if (core) return `node ${core[1]}`
  return url
}

function shortUrl(url: string): string {
  const nm = url.lastIndexOf('/node_modules/')
  if (nm >= 0) return url.slice(nm + '/node_modules/'.length)
  const src = /\/((?:dist\/)?(?:src|commands)\/.+)$/.exec(url)
  if (src) return src[1] as string
  return url.replace(/^file:\/\//, '')
}

export function summarizeProfile(profile: CpuProfile, top = 15): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const selfUs = new Map<number, number>()
  // timeDeltas[i] is the time before sample i; attribute it to that sample's node.
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i] as number
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
  }
  const fn = new Map<string, number>()
  const area = new Map<string, number>()
  let busy = 0
  for (const [id, us] of selfUs) {
    const node = byId.get(id)
    if (!node) continue
    const f = node.callFrame
    if (f.functionName === '(idle)') continue
    busy += us
    const key = SPECIAL.has(f.functionName) || f.url === '' ? f.functionName || '(anonymous native)' : `${f.functionName || '(anonymous)'} ${shortUrl(f.url)}:${f.lineNumber + 1}`
    fn.set(key, (fn.get(key) ?? 0) + us)
    const a = areaOf(f)
    area.set(a, (area.get(a) ?? 0) + us)
  }
  const entries = (m: Map<string, number>, n: number): ProfileEntry[] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({ name, ms: us / 1000, percent: busy > 0 ? (100 * us) / busy : 0 }))
  return { wallMs: (profile.endTime - profile.startTime) / 1000, busyMs: busy / 1000, topFunctions: entries(fn, top), areas: entries(area, top) }
}

export function readProfile(file: string): CpuProfile {
  return JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
}
