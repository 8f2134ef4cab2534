/**
 * Memory and CPU of the processes under test, from /proc (Linux).
 *
 * Peak RSS per measurement: before it, `5` is written to /proc/PID/clear_refs, which resets the
 * kernel's high-water mark (VmHWM) to the current RSS (we run as the processes' owner or root);
 * after it, VmHWM is the true peak of that window. VmRSS is also sampled every `intervalMs`, and
 * the larger of the two is reported, so the figure holds where clear_refs is not permitted.
 * CPU: utime + stime from /proc/PID/stat, in clock ticks (USER_HZ, 100 on Linux).
 */
import { readFileSync, writeFileSync } from 'node:fs'

const USER_HZ = 100

export interface ProcStatus {
  rssKb: number
  hwmKb: number
}

export function parseStatus(text: string): ProcStatus | undefined {
  const rss = /^VmRSS:\s+(\d+)\s+kB/m.exec(text)
  const hwm = /^VmHWM:\s+(\d+)\s+kB/m.exec(text)
  if (!rss || !hwm) return undefined
  return { rssKb: Number(rss[1]), hwmKb: Number(hwm[1]) }
}

export function readStatus(pid: number): ProcStatus | undefined {
  try {
    return parseStatus(readFileSync(`/proc/${pid}/status`, 'utf8'))
  } catch {
    return undefined
  }
}

/** Resets VmHWM to the current RSS. False when the kernel or permissions do not allow it. */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5')
    return true
  } catch {
    return false
  }
}

/** utime + stime in seconds, from the text of /proc/PID/stat. */
export function parseCpuSeconds(stat: string): number | undefined {
  // The command name (field 2) is in parentheses and may hold spaces; fields after it are plain.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const utime = Number(rest[11])
  const stime = Number(rest[12])
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined
  return (utime + stime) / USER_HZ
}

export function cpuSeconds(pid: number): number | undefined {
  try {
    return parseCpuSeconds(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return undefined
  }
}

export interface ProcessUsage {
  /** Resident set size when the window opened, MiB. */
  startRssMb: number
  /** Peak resident set size over the window, MiB. */
  peakRssMb: number
  /** CPU time used in the window divided by its wall time, in percent of one core. */
  cpuPercent: number
  /** True when the peak comes from VmHWM after a reset (exact), false when only from sampling. */
  exactPeak: boolean
}

/** Watches a few processes over one measurement window. */
export class UsageMonitor {
  private readonly peaks = new Map<string, number>()
  private readonly startRss = new Map<string, number>()
  private readonly cpuStart = new Map<string, number>()
  private readonly exact = new Map<string, boolean>()
  private timer: NodeJS.Timeout | undefined
  private started = 0n

  constructor(
    private readonly pids: ReadonlyMap<string, number>,
    private readonly intervalMs = 100,
  ) {}

  start(): void {
    this.started = process.hrtime.bigint()
    for (const [role, pid] of this.pids) {
      this.exact.set(role, resetPeak(pid))
      const rss = readStatus(pid)?.rssKb ?? 0
      this.startRss.set(role, rss)
      this.peaks.set(role, rss)
      this.cpuStart.set(role, cpuSeconds(pid) ?? 0)
    }
    this.timer = setInterval(() => this.sample(), this.intervalMs)
    this.timer.unref()
  }

  private sample(): void {
    for (const [role, pid] of this.pids) {
      const s = readStatus(pid)
      if (s) this.peaks.set(role, Math.max(this.peaks.get(role) ?? 0, s.rssKb))
    }
  }

  stop(): Map<string, ProcessUsage> {
    if (this.timer) clearInterval(this.timer)
    this.sample()
    const wallSec = Number(process.hrtime.bigint() - this.started) / 1e9
    const out = new Map<string, ProcessUsage>()
    for (const [role, pid] of this.pids) {
      const s = readStatus(pid)
      const exact = (this.exact.get(role) ?? false) && s !== undefined
      const peakKb = Math.max(this.peaks.get(role) ?? 0, exact && s ? s.hwmKb : 0)
      const cpu = (cpuSeconds(pid) ?? 0) - (this.cpuStart.get(role) ?? 0)
      out.set(role, { startRssMb: (this.startRss.get(role) ?? 0) / 1024, peakRssMb: peakKb / 1024, cpuPercent: wallSec > 0 ? (100 * cpu) / wallSec : 0, exactPeak: exact })
    }
    return out
  }
}
