/**
 * Businesses (the tenants), their users, WhatsApp numbers, API keys and templates.
 *
 * Every tenant table leads its keys with `business_id`, so it can be distributed by business. Lookups that start
 * from a globally unique external id (Meta's phone_number_id in a webhook, an API key's short id) go through small
 * insert-only route tables keyed by that id, which a distributed deployment keeps as reference tables.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE businesses (
      id uuid PRIMARY KEY,
      name text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`
  yield* sql`
    CREATE TABLE users (
      business_id uuid NOT NULL REFERENCES businesses (id),
      id uuid NOT NULL,
      name text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (business_id, id)
    )`
  yield* sql`
    CREATE TABLE whatsapp_numbers (
      business_id uuid NOT NULL REFERENCES businesses (id),
      id uuid NOT NULL,
      provider_phone_number_id text NOT NULL,
      display_phone_number text NOT NULL,
      waba_id text,
      access_token_sealed text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (business_id, id),
      UNIQUE (business_id, provider_phone_number_id)
    )`
  // A webhook names Meta's phone_number_id and no business. The primary key also keeps two businesses from
  // claiming one number, which would make routing ambiguous.
  yield* sql`
    CREATE TABLE whatsapp_number_routes (
      provider_phone_number_id text PRIMARY KEY,
      business_id uuid NOT NULL REFERENCES businesses (id),
      whatsapp_number_id uuid NOT NULL
    )`
  yield* sql`
    CREATE TABLE api_keys (
      business_id uuid NOT NULL REFERENCES businesses (id),
      id uuid NOT NULL,
      short_id text NOT NULL,
      secret_sha256 bytea NOT NULL,
      name text NOT NULL,
      scopes jsonb NOT NULL,
      user_id uuid,
      created_at timestamptz NOT NULL,
      last_used_at timestamptz,
      revoked_at timestamptz,
      PRIMARY KEY (business_id, id),
      UNIQUE (business_id, short_id),
      FOREIGN KEY (business_id, user_id) REFERENCES users (business_id, id)
    )`
  // An API key names no business either: its short id finds the business, then the key row.
  yield* sql`
    CREATE TABLE api_key_routes (
      short_id text PRIMARY KEY,
      business_id uuid NOT NULL REFERENCES businesses (id),
      api_key_id uuid NOT NULL
    )`
  yield* sql`
    CREATE TABLE templates (
      business_id uuid NOT NULL REFERENCES businesses (id),
      id uuid NOT NULL,
      key text NOT NULL,
      name text NOT NULL,
      language text NOT NULL,
      category text NOT NULL,
      status text NOT NULL,
      parameter_format text NOT NULL,
      components jsonb NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (business_id, id),
      UNIQUE (business_id, key)
    )`
})
