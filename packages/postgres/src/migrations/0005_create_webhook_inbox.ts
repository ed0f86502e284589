/**
 * The durable webhook inbox: every signed delivery is stored before Parley answers 200, then processed.
 *
 * A delivery is not tenant data yet (one POST may carry several numbers, routed only once parsed), so these tables
 * are keyed by the body's SHA-256, which is also the dedupe key for Meta's retries.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE webhook_deliveries (
      body_sha256 bytea PRIMARY KEY,
      body bytea NOT NULL,
      received_at timestamptz NOT NULL,
      attempts integer NOT NULL DEFAULT 0,
      locked_until timestamptz,
      last_error text,
      processed_at timestamptz
    )`
  yield* sql`
    CREATE INDEX webhook_deliveries_unprocessed_idx
      ON webhook_deliveries (received_at)
      WHERE processed_at IS NULL`
  yield* sql`
    CREATE INDEX webhook_deliveries_processed_idx
      ON webhook_deliveries (processed_at)
      WHERE processed_at IS NOT NULL`
  // Changes for a phone_number_id no business owns: kept aside (answering non-200 would only make Meta retry).
  yield* sql`
    CREATE TABLE unrouted_webhooks (
      provider_phone_number_id text NOT NULL,
      delivery_sha256 bytea NOT NULL,
      payload jsonb NOT NULL,
      received_at timestamptz NOT NULL,
      PRIMARY KEY (provider_phone_number_id, delivery_sha256)
    )`
})
