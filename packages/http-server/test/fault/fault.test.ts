/**
 * The fault suite: several Parley processes on one PostgreSQL under a randomized load while a nemesis kills
 * processes, terminates their database connections and makes the Cloud API fail; then the history checker judges
 * what clients were told against what the provider received and what the API returns. See docs/reliability.md.
 *
 *   FAULT_SEED=<seed>       replays a run's schedule (every run prints its seed)
 *   FAULT_DURATION=<secs>   load duration (default 30: the CI run; e.g. 600 for a long run)
 *   FAULT_PROCESSES=<n>     Parley processes (default 2)
 */
import { TestDatabase } from "@parley/postgres/testing"
import { beforeAll, describe, expect, it } from "vitest"
import * as Checker from "./Checker.js"
import type { History } from "./History.js"
import * as Random from "./Random.js"
import { type Figures, run } from "./Run.js"

const integerEnv = (name: string, fallback: number, min: number, max: number) => {
  const raw = process.env[name]?.trim()
  if (raw === undefined || raw === "") return fallback
  const n = Number(raw)
  if (!/^\d+$/.test(raw) || n < min || n > max) throw new Error(`${name} must be an integer from ${min} to ${max}`)
  return n
}

const seed = Random.seedFromEnv()
const durationSeconds = integerEnv("FAULT_DURATION", 30, 5, 3_600)
const processes = integerEnv("FAULT_PROCESSES", 2, 1, 8)
const target = await TestDatabase.resolvePostgres()

/** Startup, the load, the settle phase (up to the 2-minute lease of a killed process's claims) and the reads. */
const budgetMillis = (durationSeconds + 300) * 1_000

const report = (figures: Figures, checks: ReturnType<typeof Checker.all>) => {
  const lines = [
    `fault suite: seed ${figures.seed} (replay with FAULT_SEED=${figures.seed} FAULT_DURATION=${durationSeconds} FAULT_PROCESSES=${processes})`,
    `  ${figures.processes} processes, load ${figures.loadSeconds} s, total ${figures.totalSeconds} s; logs in ${figures.logDir}`,
    `  requests: ${figures.requests.total} (sends ${figures.requests.sends}, webhooks ${figures.requests.webhooks}, reads ${figures.requests.reads})`,
    `  keys ${figures.keys}, inbound messages ${figures.inboundMessages}, status webhooks ${figures.statusWebhooks}`,
    `  faults: ${figures.faults.total} (kill -9 ${figures.faults.kills}, database bursts ${figures.faults.databaseBursts} terminating ${figures.faults.backendsTerminated} connections, provider windows ${figures.faults.providerWindows}: ${JSON.stringify(figures.faults.providerFaults)})`,
    `  ambiguous keys: ${checks.duplicated.figures.ambiguousAccepted} accepted by the provider unbeknown to Parley, ${checks.duplicated.figures.ambiguousNotAccepted} lost before the provider`,
    `  5xx: ${checks.serverErrors.figures.total} (${checks.serverErrors.figures.explained} inside fault windows, ${checks.serverErrors.figures.unexplained} outside)`,
    ...Object.values(checks).map(
      (c) =>
        `  ${c.violations.length === 0 ? "ok  " : "FAIL"} ${c.name}${c.violations.length === 0 ? "" : `: ${c.violations.length} violations`}`
    )
  ]
  console.log(lines.join("\n"))
}

const show = (check: Checker.Check) =>
  check.violations.length === 0
    ? []
    : [
        `${check.name} (seed ${seed}):`,
        ...check.violations.slice(0, 20),
        ...(check.violations.length > 20 ? [`… and ${check.violations.length - 20} more`] : [])
      ]

if (target._tag === "Unavailable") {
  console.warn("fault suite left out: PostgreSQL is unreachable (set CI or TEST_DATABASE_URL to require it)")
} else {
  describe(`fault suite (seed ${seed}, ${durationSeconds} s, ${processes} processes)`, () => {
    let checks: ReturnType<typeof Checker.all>
    let history: History

    beforeAll(async () => {
      const result = await run({
        seed,
        durationMillis: durationSeconds * 1_000,
        processes,
        serverUrl: target.url,
        log: (line) => console.log(`[fault ${seed}] ${line}`)
      })
      history = result.history
      checks = Checker.all(history)
      report(result.figures, checks)
    }, budgetMillis)

    it("ran a load under faults (the run is not vacuous)", () => {
      expect(history.sends.length).toBeGreaterThan(20)
      expect(history.windows.length).toBeGreaterThan(0)
      expect(history.final.length).toBeGreaterThan(0)
    })
    it("no acknowledged send lost", () => expect(show(checks.lost)).toEqual([]))
    it("no duplicate provider send per idempotency key", () => expect(show(checks.duplicated)).toEqual([]))
    it("every send resolved after settling", () => expect(show(checks.resolved)).toEqual([]))
    it("every acknowledged inbound message visible exactly once", () => expect(show(checks.inbound)).toEqual([]))
    it("statuses monotonic", () => expect(show(checks.monotonic)).toEqual([]))
    it("no 5xx outside fault windows, only 502/503 inside", () => expect(show(checks.serverErrors)).toEqual([]))
    it("no process exiting by itself", () => expect(show(checks.exits)).toEqual([]))
    it("every stored message has its events exactly once in the feed", () => expect(show(checks.events)).toEqual([]))
  })
}
