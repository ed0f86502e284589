/**
 * Idempotency records, one per (business, Idempotency-Key). The fingerprint is stored as its SHA-256: a request
 * body can be long, and equality is all that is asked of it.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE idempotency_keys (
      business_id uuid NOT NULL REFERENCES businesses (id),
      key text NOT NULL,
      fingerprint_sha256 bytea NOT NULL,
      locked_until timestamptz NOT NULL,
      expires_at timestamptz NOT NULL,
      message_id uuid,
      outcome jsonb,
      created_at timestamptz NOT NULL,
      completed_at timestamptz,
      PRIMARY KEY (business_id, key)
    )`
  // The reaper walks businesses and deletes each one's expired range through this index.
  yield* sql`
    CREATE INDEX idempotency_keys_expiry_idx
      ON idempotency_keys (business_id, expires_at)`
})
