/**
 * What a process has cost so far, from Linux's /proc: CPU time (user + system) and resident memory. Read before and
 * after each slice of load, so the CPU per request is the process's own, whatever else runs on the machine.
 */
import { execFileSync } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"

/** Clock ticks per second (`getconf CLK_TCK`, 100 on Linux almost everywhere). */
const ticksPerSecond = (() => {
  try {
    const n = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim())
    return Number.isFinite(n) && n > 0 ? n : 100
  } catch {
    return 100
  }
})()

/** utime + stime of `pid` in milliseconds (fields 14 and 15 of /proc/<pid>/stat, after the command's parentheses). */
export const cpuMillis = (pid: number): number => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  // fields[0] is field 3 (state): utime is field 14, stime field 15.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond
}

/**
 * CPU time (ms) of every local PostgreSQL process so far: utime + stime of each, plus cutime + cstime (the
 * backends that ended, counted by the postmaster that reaped them). `undefined` when this machine runs none
 * (a remote database): the harness then reports no database CPU.
 */
export const postgresCpuMillis = (): number | undefined => {
  let ticks = 0
  let found = false
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    let stat: string
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8")
    } catch {
      continue // ended meanwhile
    }
    if (!stat.includes("(postgres)")) continue
    found = true
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])
  }
  return found ? (ticks * 1000) / ticksPerSecond : undefined
}

/** VmRSS of `pid` in MB. */
export const rssMegabytes = (pid: number): number => {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
  return match?.[1] === undefined ? 0 : Number(match[1]) / 1024
}

/** Samples `pid`'s RSS every `everyMs` until stopped; returns the largest seen. */
export const sampleRss = (pid: number, everyMs = 100): { readonly stop: () => number } => {
  let max = rssMegabytes(pid)
  const timer = setInterval(() => {
    try {
      max = Math.max(max, rssMegabytes(pid))
    } catch {
      // The process ended; the figure so far stands.
    }
  }, everyMs)
  return {
    stop: () => {
      clearInterval(timer)
      try {
        max = Math.max(max, rssMegabytes(pid))
      } catch {
        // as above
      }
      return max
    }
  }
}

/**
 * Waits until `pid` is idle (under 10 % of a core over 250 ms), at most `maxMs`: work left over from one slice
 * (requests still in flight when the load stopped, a queue draining) must not be counted in the next one.
 */
export const settle = async (pid: number, maxMs = 30_000): Promise<void> => {
  const deadline = performance.now() + maxMs
  let before = cpuMillis(pid)
  while (performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 250))
    const now = cpuMillis(pid)
    if (now - before < 25) return
    before = now
  }
}
