/**
 * Webhook items that failed: one row per (delivery, number, item) the database refused, with its attempts and last
 * error. After a bounded number of attempts the item is set aside (`dead_at`, a dead letter) and no longer retried
 * by itself; an operator replays it through the admin API. Other items of the same delivery are never held back.
 *
 * `item_key` names the item inside the delivery's body: `message:<wamid>`, `status:<wamid>:<status>`, or `number`
 * (routing the number's changes itself failed). The delivery's body is kept while any of its items is unresolved.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE webhook_item_failures (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      delivery_sha256 bytea NOT NULL,
      provider_phone_number_id text NOT NULL,
      kind text NOT NULL CHECK (kind IN ('message', 'status', 'number')),
      item_key text NOT NULL,
      attempts integer NOT NULL CHECK (attempts > 0),
      last_error text NOT NULL,
      first_failed_at timestamptz NOT NULL,
      last_failed_at timestamptz NOT NULL,
      dead_at timestamptz,
      resolved_at timestamptz,
      UNIQUE (delivery_sha256, provider_phone_number_id, item_key)
    )`
  // The admin list (newest first, keyset) and the reaper's "still needed" check.
  yield* sql`
    CREATE INDEX webhook_item_failures_listed_idx
      ON webhook_item_failures (first_failed_at DESC, id DESC)`
  yield* sql`
    CREATE INDEX webhook_item_failures_open_idx
      ON webhook_item_failures (delivery_sha256)
      WHERE resolved_at IS NULL`
})
