/**
 * Conversations, with the indexes the inbox list needs: one keyset index per filter, and trigram indexes for
 * search on the customer's name and phone.
 *
 * pg_trgm and btree_gin are contrib extensions, trusted since PostgreSQL 13 (a database owner may create them);
 * PGlite bundles both. btree_gin lets the trigram indexes lead with `business_id` like every other index, so a
 * search only ever walks one business's entries.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE EXTENSION IF NOT EXISTS pg_trgm`
  yield* sql`CREATE EXTENSION IF NOT EXISTS btree_gin`
  yield* sql`
    CREATE TABLE conversations (
      business_id uuid NOT NULL,
      id uuid NOT NULL,
      whatsapp_number_id uuid NOT NULL,
      customer_phone text,
      customer_user_id text,
      customer_name text,
      status text NOT NULL CHECK (status IN ('open', 'pending_customer', 'resolved')),
      mode text NOT NULL CHECK (mode IN ('ai', 'human')),
      unread_count integer NOT NULL DEFAULT 0 CHECK (unread_count >= 0),
      assigned_user_id uuid,
      last_inbound_at timestamptz,
      last_outbound_at timestamptz,
      last_activity_at timestamptz NOT NULL,
      created_at timestamptz NOT NULL,
      PRIMARY KEY (business_id, id),
      FOREIGN KEY (business_id, whatsapp_number_id) REFERENCES whatsapp_numbers (business_id, id),
      FOREIGN KEY (business_id, assigned_user_id) REFERENCES users (business_id, id),
      CHECK (customer_phone IS NOT NULL OR customer_user_id IS NOT NULL)
    )`
  // One conversation per number and customer: these make findOrCreate safe under concurrency.
  yield* sql`
    CREATE UNIQUE INDEX conversations_customer_phone_key
      ON conversations (business_id, whatsapp_number_id, customer_phone)`
  yield* sql`
    CREATE UNIQUE INDEX conversations_customer_user_key
      ON conversations (business_id, whatsapp_number_id, customer_user_id)`
  // Keyset pagination, newest activity first, unfiltered and per filter.
  yield* sql`
    CREATE INDEX conversations_activity_idx
      ON conversations (business_id, last_activity_at DESC, id DESC)`
  yield* sql`
    CREATE INDEX conversations_status_activity_idx
      ON conversations (business_id, status, last_activity_at DESC, id DESC)`
  yield* sql`
    CREATE INDEX conversations_mode_activity_idx
      ON conversations (business_id, mode, last_activity_at DESC, id DESC)`
  yield* sql`
    CREATE INDEX conversations_assignee_activity_idx
      ON conversations (business_id, assigned_user_id, last_activity_at DESC, id DESC)`
  yield* sql`
    CREATE INDEX conversations_name_trgm_idx
      ON conversations USING gin (business_id, customer_name gin_trgm_ops)`
  // E.164 is "+" and digits, so a digit substring of the phone is a substring of this column.
  yield* sql`
    CREATE INDEX conversations_phone_trgm_idx
      ON conversations USING gin (business_id, customer_phone gin_trgm_ops)`
})
