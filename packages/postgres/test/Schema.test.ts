/**
 * The schema itself: migrations are idempotent, every tenant key leads with business_id (so the schema can be
 * distributed by business), the search extensions are there, and a row that does not decode is a StorageError.
 */

import * as SqlClient from "@effect/sql/SqlClient"
import { assert, layer } from "@effect/vitest"
import { ConversationRepository, layerUuidV7, MessageRepository, nextConversationId, StorageError } from "@parley/core"
import { TestData } from "@parley/core/testing"
import { Effect, Layer, Schema } from "effect"
import * as Migrations from "../src/Migrations.js"
import { storage, TestDatabase } from "../src/testing/index.js"

/** Tables that hold one business's data. The others are global: businesses, the two route tables, the inbox, the rate limits. */
const tenantTables = [
  "users",
  "whatsapp_numbers",
  "api_keys",
  "templates",
  "conversations",
  "messages",
  "message_status_events",
  "idempotency_keys",
  "webhook_endpoints",
  "webhook_endpoint_deliveries",
  "webhook_endpoint_attempts"
]

const IndexRow = Schema.Struct({ table_name: Schema.String, index_name: Schema.String, first_column: Schema.String })
const ForeignKeyRow = Schema.Struct({
  table_name: Schema.String,
  constraint_name: Schema.String,
  referenced: Schema.String,
  columns: Schema.String
})

layer(Layer.merge(storage(TestDatabase.pglite), layerUuidV7), { excludeTestServices: true })("Schema", (it) => {
  it.effect("running the migrations again applies nothing", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual(yield* Migrations.run, [])
      const sql = yield* SqlClient.SqlClient
      const applied = yield* sql`SELECT name FROM parley_migrations ORDER BY migration_id`
      assert.deepStrictEqual(
        applied.map((row) => row.name),
        [
          "create_tenancy",
          "create_conversations",
          "create_messages",
          "create_idempotency_keys",
          "create_webhook_inbox",
          "index_pending_outbound",
          "create_webhook_item_failures",
          "create_rate_limit_cells",
          "create_events",
          "add_number_throughput",
          "create_webhook_endpoints",
          "add_number_providers",
          "add_conversation_event_sequence",
          "create_mark_sent"
        ]
      )
    })
  )

  it.effect("every index and primary or unique key of a tenant table leads with business_id", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql`
        SELECT t.relname AS table_name, i.relname AS index_name, a.attname AS first_column
        FROM pg_index x
        JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_class t ON t.oid = x.indrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = 'public'
        JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0]
        WHERE t.relname IN ${sql.in(tenantTables)}`.pipe(Effect.flatMap(Schema.decodeUnknown(Schema.Array(IndexRow))))
      assert.isAbove(rows.length, tenantTables.length)
      assert.deepStrictEqual(
        rows.filter((row) => row.first_column !== "business_id").map((row) => row.index_name),
        []
      )
    })
  )

  it.effect("no foreign key crosses tenants: each references businesses or includes business_id", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql`
        SELECT c.conrelid::regclass::text AS table_name, c.conname AS constraint_name,
          c.confrelid::regclass::text AS referenced,
          (SELECT string_agg(a.attname, ',' ORDER BY a.attnum) FROM pg_attribute a
            WHERE a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)) AS columns
        FROM pg_constraint c
        WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace`.pipe(
        Effect.flatMap(Schema.decodeUnknown(Schema.Array(ForeignKeyRow)))
      )
      assert.isAbove(rows.length, 0)
      const crossing = rows.filter(
        (row) => row.referenced !== "businesses" && !row.columns.split(",").includes("business_id")
      )
      assert.deepStrictEqual(crossing, [])
    })
  )

  it.effect("pg_trgm and btree_gin are installed, so search has its trigram indexes", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql`SELECT extname FROM pg_extension WHERE extname IN ('pg_trgm', 'btree_gin') ORDER BY 1`
      assert.deepStrictEqual(
        rows.map((row) => row.extname),
        ["btree_gin", "pg_trgm"]
      )
    })
  )

  it.effect("a conversation row that does not decode is a StorageError that does not quote the value", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const conversations = yield* ConversationRepository
      const tenant = yield* TestData.seedTenant()
      const id = crypto.randomUUID()
      yield* sql`
        INSERT INTO conversations (business_id, id, whatsapp_number_id, customer_phone, status, mode,
          last_activity_at, created_at)
        VALUES (${tenant.businessId}, ${id}, ${tenant.number.id}, '0800-not-e164', 'open', 'human', now(), now())`
      const error = yield* Effect.flip(conversations.list(tenant.businessId, { limit: 10 }))
      assert.instanceOf(error, StorageError)
      assert.strictEqual(error.operation, "ConversationRepository.list")
      assert.include(error.reason, "customer_phone")
      assert.notInclude(error.reason, "0800-not-e164")
    })
  )

  it.effect("a message row that does not decode is a StorageError", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const conversations = yield* ConversationRepository
      const messages = yield* MessageRepository
      const tenant = yield* TestData.seedTenant()
      const conversation = yield* conversations.findOrCreate(
        TestData.conversation({
          id: yield* nextConversationId,
          businessId: tenant.businessId,
          whatsappNumberId: tenant.number.id
        })
      )
      const id = crypto.randomUUID()
      yield* sql`
        INSERT INTO messages (business_id, id, conversation_id, direction, message_type, delivery_status, content,
          created_at)
        VALUES (${tenant.businessId}, ${id}, ${conversation.id}, 'inbound', 'hologram', 'delivered', '[1,2]', now())`
      const error = yield* Effect.flip(messages.listByConversation(tenant.businessId, conversation.id, { limit: 5 }))
      assert.instanceOf(error, StorageError)
      assert.include(error.reason, "did not decode")
    })
  )
})
