/**
 * The nemesis: every kind of fault once in a random order, then one at random every 0.5–3 seconds. It kills a
 * process with SIGKILL and starts it again 0.5–3 seconds later (never more than one down at a time), terminates
 * every database connection of the test database but its own for 0.3–2.5 seconds, and makes the Cloud API fail for
 * 1–4 seconds. Each fault is recorded as a window, which the checker uses to judge the 5xx answers.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"
import { ambiguousFaults, type FaultyUpstream, providerFaults } from "./FaultyUpstream.js"
import type { FaultWindow } from "./History.js"
import type { Pool } from "./Processes.js"
import type { Random } from "./Random.js"

export interface NemesisOptions {
  readonly clock: () => number
  readonly log: (line: string) => void
  readonly processes: Pool
  readonly upstream: FaultyUpstream
  /** A connection to the test database, the nemesis's own. */
  readonly sql: SqlClient.SqlClient
  /**
   * No fault that can leave a send's outcome unknown (a kill, a termination, a provider fault that loses the
   * answer) starts after this: such a send takes the service's timeouts to settle.
   */
  readonly hardFaultsUntil: number
  /** No fault starts after this. */
  readonly until: number
}

type Action = "kill" | "database" | "provider"

const sleep = (millis: number) => new Promise<void>((resolve) => setTimeout(resolve, millis))

export class Nemesis {
  readonly windows: Array<FaultWindow> = []
  kills = 0
  databaseBursts = 0
  backendsTerminated = 0
  providerWindows = 0
  /** The end of the last fault that could leave a send's outcome unknown or a claim held. */
  lastAmbiguityAt = Number.NEGATIVE_INFINITY
  readonly #options: NemesisOptions
  readonly #restarts: Array<Promise<void>> = []

  constructor(options: NemesisOptions) {
    this.#options = options
  }

  async run(random: Random): Promise<void> {
    const { clock, until, hardFaultsUntil, processes } = this.#options
    const first: Array<Action> = ["kill", "database", "provider"]
    for (let i = first.length - 1; i > 0; i--) {
      const j = random.int(0, i)
      ;[first[i], first[j]] = [first[j] as Action, first[i] as Action]
    }
    while (clock() < until) {
      await sleep(random.int(500, 3_000))
      if (clock() >= until) break
      const roll = random.next()
      const wanted: Action = first.shift() ?? (roll < 0.3 ? "kill" : roll < 0.6 ? "database" : "provider")
      const anyDown = Array.from({ length: processes.size }, (_, i) => i).some((i) => !processes.isUp(i))
      const hard = clock() < hardFaultsUntil
      if (wanted === "kill" && hard && !anyDown && processes.size > 1) await this.#kill(random)
      else if (wanted === "database" && hard) await this.#terminateConnections(random)
      else await this.#failProvider(random, hard)
    }
  }

  /** Waits for the restarts under way; the provider's faults are off. */
  async stopped(): Promise<void> {
    await Promise.all(this.#restarts)
    this.#options.upstream.active = undefined
  }

  async #kill(random: Random) {
    const { clock, log, processes } = this.#options
    const slot = random.int(0, processes.size - 1)
    const downFor = random.int(500, 3_000)
    const start = clock()
    this.lastAmbiguityAt = start
    this.kills++
    await processes.kill(slot)
    log(`nemesis: kill -9 process ${slot} at ${start} ms`)
    this.#restarts.push(
      (async () => {
        await sleep(downFor)
        await processes.start(slot).catch((e: unknown) => log(`restart of ${slot} failed: ${String(e)}`))
        this.windows.push({ kind: "process", slot, start, end: clock(), detail: `kill -9, down ${downFor} ms` })
      })()
    )
  }

  #terminateNow(): Promise<number> {
    const sql = this.#options.sql
    return Effect.runPromise(
      Effect.map(
        sql<{ readonly n: number }>`
          SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid()`,
        (rows) => rows[0]?.n ?? 0
      )
    ).catch(() => 0)
  }

  async #terminateConnections(random: Random) {
    const { clock } = this.#options
    const start = clock()
    const length = random.int(300, 2_500)
    this.databaseBursts++
    while (clock() < start + length) {
      this.backendsTerminated += await this.#terminateNow()
      await sleep(random.int(50, 400))
    }
    this.windows.push({ kind: "database", slot: null, start, end: clock(), detail: "pg_terminate_backend" })
    this.lastAmbiguityAt = clock()
  }

  async #failProvider(random: Random, ambiguousToo: boolean) {
    const { clock, upstream } = this.#options
    const kinds = ambiguousToo ? providerFaults : providerFaults.filter((f) => !ambiguousFaults.has(f))
    const faults = Array.from({ length: random.int(1, 3) }, () => random.pick(kinds))
    const probability = 0.4 + random.next() * 0.6
    const start = clock()
    this.providerWindows++
    upstream.active = { faults, probability }
    await sleep(random.int(1_000, 4_000))
    upstream.active = undefined
    this.windows.push({
      kind: "provider",
      slot: null,
      start,
      end: clock(),
      detail: `${[...new Set(faults)].join(", ")} for ${Math.round(probability * 100)}% of sends`
    })
    if (faults.some((f) => ambiguousFaults.has(f))) this.lastAmbiguityAt = clock()
  }
}
