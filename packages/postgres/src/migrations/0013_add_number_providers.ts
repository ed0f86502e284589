/**
 * A WhatsApp number belongs to one provider: Meta's Cloud API (every number made before this migration) or Twilio.
 * A Twilio number also records its Account SID and, optionally, an API key whose secret is sealed like the access
 * token (bound to the number's business and id, and re-sealed with it on a key rotation).
 *
 * Provider ids are unique per provider, not globally: Meta's `phone_number_id` and Twilio's sender E.164 live in
 * different namespaces, so the route table is keyed by (provider, id). Webhook deliveries and the changes kept aside
 * for an unknown number record the provider too, so the worker decodes each with its provider's decoder.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    ALTER TABLE whatsapp_numbers
      ADD COLUMN provider text NOT NULL DEFAULT 'whatsapp_cloud' CHECK (provider IN ('whatsapp_cloud', 'twilio')),
      ADD COLUMN provider_account_id text,
      ADD COLUMN provider_api_key_sid text,
      ADD COLUMN provider_api_key_secret_sealed text,
      ADD CONSTRAINT whatsapp_numbers_api_key_complete
        CHECK ((provider_api_key_sid IS NULL) = (provider_api_key_secret_sealed IS NULL))`
  yield* sql`ALTER TABLE whatsapp_numbers DROP CONSTRAINT whatsapp_numbers_business_id_provider_phone_number_id_key`
  yield* sql`
    ALTER TABLE whatsapp_numbers
      ADD CONSTRAINT whatsapp_numbers_provider_id_key UNIQUE (business_id, provider, provider_phone_number_id)`
  yield* sql`
    ALTER TABLE whatsapp_number_routes
      ADD COLUMN provider text NOT NULL DEFAULT 'whatsapp_cloud' CHECK (provider IN ('whatsapp_cloud', 'twilio'))`
  yield* sql`ALTER TABLE whatsapp_number_routes DROP CONSTRAINT whatsapp_number_routes_pkey`
  yield* sql`ALTER TABLE whatsapp_number_routes ADD PRIMARY KEY (provider, provider_phone_number_id)`
  yield* sql`
    ALTER TABLE webhook_deliveries
      ADD COLUMN provider text NOT NULL DEFAULT 'whatsapp_cloud' CHECK (provider IN ('whatsapp_cloud', 'twilio'))`
  yield* sql`
    ALTER TABLE unrouted_webhooks
      ADD COLUMN provider text NOT NULL DEFAULT 'whatsapp_cloud' CHECK (provider IN ('whatsapp_cloud', 'twilio'))`
  yield* sql`ALTER TABLE unrouted_webhooks DROP CONSTRAINT unrouted_webhooks_pkey`
  yield* sql`ALTER TABLE unrouted_webhooks ADD PRIMARY KEY (provider, provider_phone_number_id, delivery_sha256)`
})
