/**
 * The sweeper of unconfirmed sends looks, business by business, for outbound messages still `pending` past a
 * cutoff. Few messages are ever pending, so a partial index keeps that a range scan of a tiny index.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE INDEX messages_pending_outbound_idx
      ON messages (business_id, created_at, id)
      WHERE delivery_status = 'pending' AND direction = 'outbound'`
})
