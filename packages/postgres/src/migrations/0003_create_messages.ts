/**
 * Messages, and the log of provider status events (which also parks statuses that arrive before their message
 * has a provider id).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE messages (
      business_id uuid NOT NULL,
      id uuid NOT NULL,
      conversation_id uuid NOT NULL,
      direction text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
      message_type text NOT NULL,
      text text,
      template jsonb,
      media jsonb,
      content jsonb,
      reply_to_provider_message_id text,
      delivery_status text NOT NULL CHECK (delivery_status IN ('pending', 'sent', 'delivered', 'read', 'failed')),
      provider_message_id text,
      failure_code integer,
      failure_title text,
      created_at timestamptz NOT NULL,
      recorded_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (business_id, id),
      FOREIGN KEY (business_id, conversation_id) REFERENCES conversations (business_id, id)
    )`
  // Inbound dedupe (a redelivered webhook inserts nothing) and the lookup of status updates.
  yield* sql`
    CREATE UNIQUE INDEX messages_provider_message_key
      ON messages (business_id, provider_message_id)`
  yield* sql`
    CREATE INDEX messages_conversation_created_idx
      ON messages (business_id, conversation_id, created_at DESC, id DESC)`
  // markRead touches only the conversation's unread inbound messages, not its whole history.
  yield* sql`
    CREATE INDEX messages_unread_inbound_idx
      ON messages (business_id, conversation_id)
      WHERE direction = 'inbound' AND delivery_status IN ('pending', 'sent', 'delivered')`
  // Every status the provider reported, once per (message, status); `parked` while no message has the provider id.
  yield* sql`
    CREATE TABLE message_status_events (
      business_id uuid NOT NULL,
      provider_message_id text NOT NULL,
      status text NOT NULL,
      occurred_at timestamptz NOT NULL,
      failure_code integer,
      failure_title text,
      message_id uuid,
      parked boolean NOT NULL,
      received_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (business_id, provider_message_id, status)
    )`
})
