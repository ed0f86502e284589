/**
 * The PostgreSQL pool reports its usage as gauges: open, idle and waiting connections, and its size. Runs on the
 * real server (required in CI, like every PostgreSQL suite).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect, Layer, Metric, MetricState } from "effect"
import { describe, expect, it } from "vitest"
import * as PostgresClient from "../src/PostgresClient.js"
import { FreshDatabase, fresh, resolvePostgres } from "../src/testing/TestDatabase.js"

const target = await resolvePostgres()

const gaugeValue = (
  snapshot: ReadonlyArray<{
    metricKey: { name: string; tags: ReadonlyArray<{ key: string; value: string }> }
    metricState: unknown
  }>,
  name: string,
  state?: string
) => {
  const pair = snapshot.find(
    (p) =>
      p.metricKey.name === name &&
      (state === undefined || p.metricKey.tags.some((t) => t.key === "state" && t.value === state))
  )
  return pair !== undefined && MetricState.isGaugeState(pair.metricState) ? Number(pair.metricState.value) : undefined
}

describe.runIf(target._tag !== "Unavailable")("PostgreSQL pool metrics", () => {
  it("reports the pool's size, and its open and idle connections after queries", async () => {
    const client = Layer.unwrapEffect(
      Effect.map(FreshDatabase, (database) => PostgresClient.layer({ url: database.url, maxConnections: 3 }))
    ).pipe(Layer.provideMerge(fresh(target.url)))
    const snapshot = await Effect.runPromise(
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        // Two statements at once need two connections.
        yield* Effect.all([sql`SELECT pg_sleep(0.05)`, sql`SELECT pg_sleep(0.05)`], { concurrency: 2 })
        // The sampler runs at start and then every few seconds; wait for a sample taken after the queries.
        yield* Effect.sleep("5500 millis")
        return yield* Metric.snapshot
      }).pipe(Effect.provide(client), Effect.scoped)
    )
    expect(gaugeValue(snapshot, "parley_db_pool_max_connections")).toBe(3)
    expect(gaugeValue(snapshot, "parley_db_pool_connections", "total")).toBeGreaterThanOrEqual(2)
    expect(gaugeValue(snapshot, "parley_db_pool_connections", "idle")).toBeGreaterThanOrEqual(2)
    expect(gaugeValue(snapshot, "parley_db_pool_connections", "waiting")).toBe(0)
  }, 60_000)
})
