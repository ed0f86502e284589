/**
 * Recording events inside the transaction of the change they describe (the transactional outbox), for every write
 * of the repositories: one statement for any number of events, which also sends one NOTIFY per business so that
 * followers on every process wake when the transaction commits (PostgreSQL delivers notifications only on commit,
 * and drops them with a rollback).
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import { type Events, Ids, uuidV7 } from "@parley/core"
import { DateTime, Effect, Option } from "effect"
import { json, toDate } from "./columns.js"

/** The channel followers LISTEN on; the payload is the business id. */
export const channel = "parley_events"

/**
 * Where event ids come from: the host's `Ids` when it provides one to the storage layers, else time-ordered
 * UUIDv7 (the production choice), so the storage layers need nothing more than before.
 */
export const eventIds = Effect.map(
  Effect.serviceOption(Ids),
  Option.getOrElse(() => uuidV7)
)

/**
 * Records `pending` (in order) with ids, the clock's time, and each conversation's next sequences, which the same
 * statement takes by bumping `conversations.event_sequence` (holding the row lock until commit). Must run inside
 * the caller's transaction; a conversation that does not exist fails the statement (the CHECK on `sequence`).
 */
export const recordEvents = (sql: SqlClient.SqlClient, ids: Ids["Type"], pending: ReadonlyArray<Events.PendingEvent>) =>
  Effect.gen(function* () {
    if (pending.length === 0) return
    const now = yield* DateTime.now
    const rows = yield* Effect.forEach(pending, (event, ord) =>
      Effect.map(ids.uuid, (id) => ({
        ord,
        id,
        business_id: event.businessId,
        type: event.type,
        conversation_id: event.conversationId,
        data: event.data
      }))
    )
    // One round trip: the sequences, the rows, and one notification per business (delivered on commit).
    yield* sql`
      WITH input AS (
        SELECT * FROM jsonb_to_recordset(${json(rows)}::jsonb)
          AS x(ord integer, id uuid, business_id uuid, type text, conversation_id uuid, data jsonb)
      ), counts AS (
        SELECT business_id, conversation_id, count(*) AS n FROM input
        WHERE conversation_id IS NOT NULL GROUP BY business_id, conversation_id
      ), bumped AS (
        UPDATE conversations c SET event_sequence = c.event_sequence + counts.n
        FROM counts WHERE c.business_id = counts.business_id AND c.id = counts.conversation_id
        RETURNING c.id, c.event_sequence - counts.n AS base
      ), inserted AS (
        INSERT INTO events (id, business_id, type, conversation_id, sequence, occurred_at, data)
        SELECT i.id, i.business_id, i.type, i.conversation_id,
          b.base + row_number() OVER (PARTITION BY i.conversation_id ORDER BY i.ord),
          ${toDate(now)}::timestamptz, i.data
        FROM input i LEFT JOIN bumped b ON b.id = i.conversation_id
        ORDER BY i.ord
        RETURNING 1
      )
      SELECT pg_notify(${channel}, business_id::text) FROM (SELECT DISTINCT business_id FROM input) AS businesses`
  })
