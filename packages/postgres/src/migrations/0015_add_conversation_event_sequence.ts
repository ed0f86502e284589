/**
 * The last event sequence given to each conversation. The statement that records a conversation's events bumps it
 * (`UPDATE … SET event_sequence = event_sequence + n … RETURNING`), which takes the conversation's row lock for
 * the rest of the transaction: concurrent writers on one conversation get consecutive, distinct sequences, and a
 * rolled-back transaction gives its numbers back with its events.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE conversations ADD COLUMN event_sequence bigint NOT NULL DEFAULT 0`
})
