/**
 * How slices add up: the rate is answers over the slices' own time, percentiles are nearest-rank over every
 * request of every slice (not an average of per-slice percentiles), CPU is per request answered or failed, and RSS
 * is the largest seen.
 */
import { describe, expect, it } from "vitest"
import { combine, type Slice } from "../src/Load.js"

const slice = (overrides: Partial<Slice>): Slice => ({
  ok: 0,
  non2xx: 0,
  errors: 0,
  seconds: 1,
  latencies: [],
  cpuMs: 0,
  databaseCpuMs: 0,
  rssMaxMb: 0,
  startedAt: 0,
  cpuBefore: 0,
  sampleFailures: [],
  ...overrides
})

describe("combine", () => {
  it("adds slices of one side into one rate, one latency distribution and one CPU cost", () => {
    const fast = slice({
      ok: 90,
      non2xx: 10,
      seconds: 2,
      cpuMs: 100,
      databaseCpuMs: 40,
      rssMaxMb: 120,
      latencies: [1, 2, 3, 4]
    })
    const slow = slice({
      ok: 60,
      seconds: 3,
      cpuMs: 200,
      databaseCpuMs: 80,
      rssMaxMb: 150,
      latencies: Array.from({ length: 96 }, () => 50)
    })
    const combined = combine([fast, slow])
    expect(combined.ok).toBe(150)
    expect(combined.failed).toBe(10)
    expect(combined.requestsPerSecond).toBe(30)
    // 100 latencies: four fast ones, then 96 of 50 ms. Nearest rank: the 50th is 50, the 99th is 50, the 4th is 4.
    expect(combined.p50).toBe(50)
    expect(combined.p99).toBe(50)
    expect(combined.cpuMsPerRequest).toBe(300 / 160)
    expect(combined.databaseCpuMsPerRequest).toBe(120 / 160)
    expect(combined.rssMaxMb).toBe(150)
  })

  it("PostgreSQL's CPU is reported only when every slice could read it (a remote database has none here)", () => {
    const combined = combine([slice({ ok: 10, databaseCpuMs: 50 }), slice({ ok: 10, databaseCpuMs: undefined })])
    expect(combined.databaseCpuMsPerRequest).toBeNaN()
    expect(combined.cpuMsPerRequest).toBe(0)
  })

  it("p50 of a uniform spread is its middle and p99 its top percent", () => {
    const latencies = Array.from({ length: 1000 }, (_, i) => 1000 - i)
    const combined = combine([slice({ ok: 1000, latencies })])
    expect(combined.p50).toBe(500)
    expect(combined.p99).toBe(990)
  })

  it("no answers: no rate and no percentiles, rather than zeros that look like figures", () => {
    const combined = combine([slice({})])
    expect(combined.requestsPerSecond).toBe(0)
    expect(combined.p50).toBeNaN()
    expect(combined.cpuMsPerRequest).toBeNaN()
  })
})
