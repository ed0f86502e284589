/**
 * The state of the shared rate limits (a number's messages per second, Meta's pair rate, an API key's requests per
 * minute): one row per limited key, so every Parley process on the database draws from the same allowance.
 *
 * Keys are stored as their SHA-256 (a pair key names a customer's phone number). Times are milliseconds on the
 * database's clock, so processes on hosts whose clocks disagree still agree on the schedule. The table is UNLOGGED:
 * the state is worth seconds, and losing it in a crash only restarts every key at rest, which is cheaper than
 * writing every grant to the WAL. A low fillfactor keeps the per-grant updates HOT (no index covers the times).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE UNLOGGED TABLE rate_limit_cells (
      key_sha256 bytea PRIMARY KEY,
      tat double precision NOT NULL,
      paused_until double precision NOT NULL,
      touched_at double precision NOT NULL
    ) WITH (fillfactor = 50)`
})
