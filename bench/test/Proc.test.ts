/**
 * The database's CPU as the harness reads it: every local PostgreSQL process, so a statement's work shows up in it
 * (and the figure is absent, not zero, where PostgreSQL runs elsewhere).
 */
import { TestDatabase } from "@parley/postgres/testing"
import pg from "pg"
import { describe, expect, it } from "vitest"
import { cpuMillis, postgresCpuMillis } from "../src/Proc.js"

const target = await TestDatabase.resolvePostgres()
const local = (url: string) => ["127.0.0.1", "localhost", "::1", "[::1]"].includes(new URL(url).hostname)

// PostgreSQL on another machine has no processes here to read: the figure is then absent by design.
describe.runIf(target._tag !== "Unavailable" && local(target.url))("postgresCpuMillis", () => {
  it("grows by the work a statement makes PostgreSQL do, not by this process's own", { timeout: 60_000 }, async () => {
    if (target._tag === "Unavailable") throw new Error("unreachable: the suite is skipped without PostgreSQL")
    const client = new pg.Client({ connectionString: target.url })
    await client.connect()
    try {
      const before = postgresCpuMillis()
      const ownBefore = cpuMillis(process.pid)
      // About a second of one backend's CPU on this machine; the harness reads at 10 ms resolution.
      await client.query("SELECT count(*) FROM generate_series(1, 20000000)")
      const after = postgresCpuMillis()
      const own = cpuMillis(process.pid) - ownBefore
      expect(before).toBeTypeOf("number")
      expect((after ?? 0) - (before ?? 0)).toBeGreaterThan(200)
      expect(own).toBeLessThan(200)
    } finally {
      await client.end()
    }
  })
})
