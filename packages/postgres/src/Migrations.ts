/**
 * Parley's schema as forward-only migrations, run by `@effect/sql`'s Migrator on any `SqlClient` (PostgreSQL and
 * PGlite alike) and recorded in `parley_migrations`. A released migration is never edited; changes are new files.
 */
import * as Migrator from "@effect/sql/Migrator"
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect, Layer, Schedule } from "effect"
import createTenancy from "./migrations/0001_create_tenancy.js"
import createConversations from "./migrations/0002_create_conversations.js"
import createMessages from "./migrations/0003_create_messages.js"
import createIdempotencyKeys from "./migrations/0004_create_idempotency_keys.js"
import createWebhookInbox from "./migrations/0005_create_webhook_inbox.js"
import indexPendingOutbound from "./migrations/0006_index_pending_outbound.js"
import createWebhookItemFailures from "./migrations/0007_create_webhook_item_failures.js"
import createRateLimitCells from "./migrations/0009_create_rate_limit_cells.js"
import createEvents from "./migrations/0010_create_events.js"
import addNumberThroughput from "./migrations/0011_add_number_throughput.js"
import createWebhookEndpoints from "./migrations/0012_create_webhook_endpoints.js"
import addNumberProviders from "./migrations/0013_add_number_providers.js"
import addConversationEventSequence from "./migrations/0015_add_conversation_event_sequence.js"
import createMarkSent from "./migrations/0016_create_mark_sent.js"

/** The table that records applied migrations (prefixed: the database may be shared with other applications). */
export const table = "parley_migrations"

export const loader = Migrator.fromRecord({
  "0001_create_tenancy": createTenancy,
  "0002_create_conversations": createConversations,
  "0003_create_messages": createMessages,
  "0004_create_idempotency_keys": createIdempotencyKeys,
  "0005_create_webhook_inbox": createWebhookInbox,
  "0006_index_pending_outbound": indexPendingOutbound,
  "0007_create_webhook_item_failures": createWebhookItemFailures,
  "0009_create_rate_limit_cells": createRateLimitCells,
  "0010_create_events": createEvents,
  "0011_add_number_throughput": addNumberThroughput,
  "0012_create_webhook_endpoints": createWebhookEndpoints,
  "0013_add_number_providers": addNumberProviders,
  "0015_add_conversation_event_sequence": addConversationEventSequence,
  "0016_create_mark_sent": createMarkSent
})

/**
 * Applies the pending migrations in one transaction and returns them (`[]` when the schema is current). Safe when
 * several processes start at once: the Migrator locks its table, and the only unguarded step (creating that table
 * the very first time) is retried, since the loser of that race fails with a duplicate-table error.
 */
export const run: Effect.Effect<
  ReadonlyArray<readonly [id: number, name: string]>,
  Migrator.MigrationError | SqlError,
  SqlClient.SqlClient
> = Migrator.make({})({ loader, table }).pipe(
  Effect.retry({ while: (error) => error._tag === "SqlError", schedule: Schedule.spaced("100 millis"), times: 3 })
)

/** Runs the migrations when built; provide it a `SqlClient`. */
export const layer: Layer.Layer<never, Migrator.MigrationError | SqlError, SqlClient.SqlClient> =
  Layer.effectDiscard(run)
