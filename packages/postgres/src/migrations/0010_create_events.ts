/**
 * The transactional outbox: every event (a message received, sent or re-statused, a conversation created or
 * updated, a template's status changed) is written in the same transaction as the change it describes, so there is
 * no change without its event and no event without its change. The feed, the live stream and the webhook deliveries
 * all read this table.
 *
 * `position` is assigned at INSERT but transactions commit out of order, so a reader that pages on `position` alone
 * could step over a row whose transaction commits late and never see it. Each row also records the id of the
 * transaction that wrote it (`xid`); readers serve only rows whose transaction is older than every transaction still
 * running (`xid < pg_snapshot_xmin(pg_current_snapshot())`) and order by `(xid, position)`, which is then final.
 *
 * `sequence` numbers the events of one conversation (1, 2, 3…) so a consumer can order them and drop stale ones;
 * it is null for events that belong to no conversation (a template's status).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE events (
      position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
      id uuid NOT NULL UNIQUE,
      business_id uuid NOT NULL,
      type text NOT NULL,
      conversation_id uuid,
      sequence bigint,
      occurred_at timestamptz NOT NULL,
      recorded_at timestamptz NOT NULL DEFAULT now(),
      data jsonb NOT NULL,
      CHECK ((conversation_id IS NULL) = (sequence IS NULL))
    )`
  // The feed of one business, in commit-safe order.
  yield* sql`CREATE INDEX events_business_order_idx ON events (business_id, xid, position)`
  // Every business in order: the webhook fan-out and the stream's catch-up across tenants.
  yield* sql`CREATE INDEX events_order_idx ON events (xid, position)`
  // Retention: the reaper deletes by age.
  yield* sql`CREATE INDEX events_recorded_at_idx ON events (recorded_at)`
  yield* sql`
    CREATE UNIQUE INDEX events_conversation_sequence_key
      ON events (business_id, conversation_id, sequence) WHERE conversation_id IS NOT NULL`
})
