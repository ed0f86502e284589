/**
 * Outbound webhooks: the endpoints a business registers, one delivery per (endpoint, event) with its retry state,
 * a log of every attempt, and the fan-out cursor on `events`.
 *
 * Signing secrets are sealed at rest like the access tokens (`Secrets`), bound to the endpoint's business and id.
 * During a rotation the previous secret is kept, sealed too, until `previous_expires_at`: deliveries are signed with
 * both so receivers can switch keys without refusing a retry.
 *
 * Fan-out reads `events` after a cursor in commit-safe order (`(xid, position)` below the snapshot's xmin, see
 * 0010) instead of inserting deliveries in the event's transaction: the write path of a send stays one insert, and
 * an endpoint registered or re-enabled later never changes what a send's transaction does. The cursor is one row
 * locked by the fan-out's transaction, so several processes fan out in turn, never twice.
 *
 * The delivery queue's index leads with business_id like every tenant key; it is partial (`pending` only), so the
 * cross-business claim scans only the deliveries waiting, not the history.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE webhook_endpoints (
      business_id uuid NOT NULL REFERENCES businesses (id),
      id uuid NOT NULL,
      url text NOT NULL,
      event_types text[] NOT NULL DEFAULT '{}',
      description text NOT NULL DEFAULT '',
      secret_sealed text NOT NULL,
      previous_secret_sealed text,
      previous_expires_at timestamptz,
      enabled boolean NOT NULL DEFAULT true,
      disabled_reason text,
      disabled_at timestamptz,
      failing_since timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (business_id, id),
      CHECK ((previous_secret_sealed IS NULL) = (previous_expires_at IS NULL)),
      CHECK (enabled = (disabled_at IS NULL))
    )`
  yield* sql`
    CREATE TABLE webhook_endpoint_deliveries (
      business_id uuid NOT NULL,
      id uuid NOT NULL,
      endpoint_id uuid NOT NULL,
      event_id uuid NOT NULL,
      status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed', 'dead')),
      attempts integer NOT NULL DEFAULT 0,
      -- attempts before the last replay: the retry schedule counts from here
      attempts_base integer NOT NULL DEFAULT 0,
      next_attempt_at timestamptz NOT NULL,
      leased_until timestamptz,
      lease_owner text,
      last_status_code integer,
      last_latency_ms integer,
      last_error text,
      response_excerpt text,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (business_id, id),
      UNIQUE (business_id, endpoint_id, event_id),
      FOREIGN KEY (business_id, endpoint_id) REFERENCES webhook_endpoints (business_id, id) ON DELETE CASCADE
    )`
  yield* sql`
    CREATE INDEX webhook_endpoint_deliveries_due_idx
      ON webhook_endpoint_deliveries (business_id, next_attempt_at) WHERE status = 'pending'`
  // The delivery log of one endpoint, newest first, keyset-paginated on (created_at, id).
  yield* sql`
    CREATE INDEX webhook_endpoint_deliveries_endpoint_idx
      ON webhook_endpoint_deliveries (business_id, endpoint_id, created_at DESC, id DESC)`
  yield* sql`
    CREATE TABLE webhook_endpoint_attempts (
      business_id uuid NOT NULL,
      delivery_id uuid NOT NULL,
      attempt integer NOT NULL,
      started_at timestamptz NOT NULL,
      status_code integer,
      latency_ms integer NOT NULL,
      error text,
      response_excerpt text,
      PRIMARY KEY (business_id, delivery_id, attempt),
      FOREIGN KEY (business_id, delivery_id) REFERENCES webhook_endpoint_deliveries (business_id, id) ON DELETE CASCADE
    )`
  yield* sql`
    CREATE TABLE webhook_fanout_cursor (
      singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
      xid xid8 NOT NULL,
      position bigint NOT NULL
    )`
  yield* sql`INSERT INTO webhook_fanout_cursor (xid, position) VALUES ('0'::xid8, 0)`
})
