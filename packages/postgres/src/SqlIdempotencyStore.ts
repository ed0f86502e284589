/**
 * `IdempotencyStore` over a `SqlClient`. A claim is `INSERT … ON CONFLICT DO NOTHING`, which alone claims a new
 * key (one statement, no transaction); only the insert or a write under the row's lock (`FOR UPDATE`: an expired
 * record replaced, a dead owner's lease taken over) ever yields `Claimed`, so of any number of concurrent claims,
 * from any number of processes, exactly one is `Claimed`. The stored outcome is the JSON encoding of
 * `Idempotency.Outcome`, or, for a send completed by `MessageRepository.markSent` in the write that marked it, the
 * marked message's row (read back as `Sent`).
 */

import { createHash } from "node:crypto"
import * as SqlClient from "@effect/sql/SqlClient"
import { type BusinessId, Idempotency, IdempotencyStore, MessageId } from "@parley/core"
import { type DateTime, Effect, Layer, Option, Schema } from "effect"
import { Bytes, Integer, json, Timestamp, toDate } from "./internal/columns.js"
import { storedMessage } from "./internal/events.js"
import { prepared } from "./internal/prepared.js"
import { storage } from "./internal/storage.js"

const KeyRow = Schema.Struct({
  fingerprint_sha256: Bytes,
  locked_until: Timestamp,
  expires_at: Timestamp,
  message_id: Schema.NullOr(MessageId),
  outcome: Schema.NullOr(Schema.Unknown)
})
const decodeKeyRows = Schema.decodeUnknown(Schema.Array(KeyRow))
const QuickRow = Schema.Struct({ inserted: Schema.Boolean })
const decodeQuickRows = Schema.decodeUnknown(Schema.Array(QuickRow))
const encodeOutcome = Schema.encode(Idempotency.Outcome)
const decodeOutcome = Schema.decodeUnknown(Idempotency.Outcome)
const CountRow = Schema.Struct({ count: Integer })
const decodeCountRows = Schema.decodeUnknown(Schema.Array(CountRow))

const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest()

const sameBytes = (a: Uint8Array, b: Uint8Array) => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0

const before = (a: DateTime.Utc, b: DateTime.Utc) => a.epochMillis < b.epochMillis

export const make = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient

  const claim = (businessId: BusinessId, key: string, fingerprint: string, times: Idempotency.ClaimTimes) => {
    const digest = sha256(fingerprint)
    const now = toDate(times.now)
    const lockedUntil = toDate(times.lockedUntil)
    const expiresAt = toDate(times.expiresAt)
    const takeOver = sql`
      UPDATE idempotency_keys SET locked_until = ${lockedUntil}
      WHERE business_id = ${businessId} AND key = ${key}`
    // The usual cases in one statement, without a transaction: a new key is inserted (claimed), or the existing
    // row is read. A row read without a lock can be judged when the answer changes nothing (completed, in flight,
    // another request): those facts hold until the record expires, and only an expired record or a lease that ran
    // out is written. Anything else (an expired record, a takeover, or a row this statement could not see: one committed
    // by a concurrent claim after its snapshot) goes to the locked judgement below, as every claim did before.
    const quick = sql`${prepared(sql)}
      WITH inserted AS (
        INSERT INTO idempotency_keys (business_id, key, fingerprint_sha256, locked_until, expires_at, created_at)
        VALUES (${businessId}, ${key}, ${digest}, ${lockedUntil}, ${expiresAt}, ${now})
        ON CONFLICT (business_id, key) DO NOTHING
        RETURNING key
      )
      SELECT true AS inserted, NULL::bytea AS fingerprint_sha256, NULL::timestamptz AS locked_until,
        NULL::timestamptz AS expires_at, NULL::uuid AS message_id, NULL::jsonb AS outcome
      FROM inserted
      UNION ALL
      SELECT false, fingerprint_sha256, locked_until, expires_at, message_id, outcome FROM idempotency_keys
      WHERE business_id = ${businessId} AND key = ${key} AND NOT EXISTS (SELECT 1 FROM inserted)`
    const locked = sql.withTransaction(
      Effect.gen(function* () {
        const inserted = yield* sql`
          INSERT INTO idempotency_keys (business_id, key, fingerprint_sha256, locked_until, expires_at, created_at)
          VALUES (${businessId}, ${key}, ${digest}, ${lockedUntil}, ${expiresAt}, ${now})
          ON CONFLICT (business_id, key) DO NOTHING
          RETURNING key`
        if (inserted.length > 0) return Idempotency.ClaimResult.Claimed()
        const rows = yield* sql`
          SELECT fingerprint_sha256, locked_until, expires_at, message_id, outcome FROM idempotency_keys
          WHERE business_id = ${businessId} AND key = ${key}
          FOR UPDATE`.pipe(Effect.flatMap(decodeKeyRows))
        const row = rows[0]
        // Expired, or reaped between our two statements: the key starts over as a fresh claim.
        if (row === undefined || !before(times.now, row.expires_at)) {
          yield* sql`
            INSERT INTO idempotency_keys (business_id, key, fingerprint_sha256, locked_until, expires_at, created_at)
            VALUES (${businessId}, ${key}, ${digest}, ${lockedUntil}, ${expiresAt}, ${now})
            ON CONFLICT (business_id, key) DO UPDATE SET
              fingerprint_sha256 = EXCLUDED.fingerprint_sha256, locked_until = EXCLUDED.locked_until,
              expires_at = EXCLUDED.expires_at, created_at = EXCLUDED.created_at,
              message_id = NULL, outcome = NULL, completed_at = NULL`
          return Idempotency.ClaimResult.Claimed()
        }
        const settled = yield* judge(row)
        if (Option.isSome(settled)) return settled.value
        // The lease ran out: the owner died. Take the key over; if it had recorded its message, that message may
        // have reached the provider, so the new owner must settle it rather than send again.
        yield* takeOver
        return row.message_id === null
          ? Idempotency.ClaimResult.Claimed()
          : Idempotency.ClaimResult.Abandoned({ messageId: row.message_id })
      })
    )
    /** What an unexpired row answers without writing anything; `None` when its lease ran out (a takeover). */
    const judge = (row: typeof KeyRow.Type) =>
      Effect.gen(function* () {
        if (!sameBytes(row.fingerprint_sha256, digest)) return Option.some(Idempotency.ClaimResult.Mismatch())
        if (row.outcome !== null) {
          // `markSent` completes a send's key with the marked row (internal/sends.ts); `complete`, with the JSON.
          const marked = yield* storedMessage(row.outcome)
          const outcome = Option.isSome(marked)
            ? new Idempotency.Sent({ message: marked.value })
            : yield* decodeOutcome(row.outcome)
          return Option.some(Idempotency.ClaimResult.Completed({ outcome }))
        }
        if (before(times.now, row.locked_until)) return Option.some(Idempotency.ClaimResult.InFlight())
        return Option.none<Idempotency.ClaimResult>()
      })
    return Effect.gen(function* () {
      const rows = yield* quick
      const [first] = yield* decodeQuickRows(rows)
      if (first?.inserted === true) return Idempotency.ClaimResult.Claimed()
      if (first !== undefined) {
        const [row] = yield* decodeKeyRows(rows)
        if (row !== undefined && before(times.now, row.expires_at)) {
          const settled = yield* judge(row)
          if (Option.isSome(settled)) return settled.value
        }
      }
      return yield* locked
    }).pipe(storage("IdempotencyStore.claim"))
  }

  const complete = (businessId: BusinessId, key: string, outcome: Idempotency.Outcome) =>
    Effect.gen(function* () {
      const encoded = yield* encodeOutcome(outcome)
      const messageId = outcome._tag === "Sent" ? outcome.message.id : null
      yield* sql`
        UPDATE idempotency_keys SET
          outcome = ${json(encoded)}::jsonb,
          message_id = COALESCE(${messageId}::uuid, message_id),
          completed_at = now()
        WHERE business_id = ${businessId} AND key = ${key}`
    }).pipe(storage("IdempotencyStore.complete"))

  const release = (businessId: BusinessId, key: string) =>
    sql`DELETE FROM idempotency_keys WHERE business_id = ${businessId} AND key = ${key} AND outcome IS NULL`.pipe(
      Effect.asVoid,
      storage("IdempotencyStore.release")
    )

  // Business by business through (business_id, expires_at): the reaper stays an index range scan per tenant, and
  // the statement distributes like every other one.
  const purgeExpired = (now: DateTime.Utc) =>
    sql`
      WITH purged AS (
        DELETE FROM idempotency_keys k
        USING businesses b
        WHERE k.business_id = b.id AND k.expires_at < ${toDate(now)}
        RETURNING 1
      )
      SELECT count(*)::int AS count FROM purged`.pipe(
      Effect.flatMap(decodeCountRows),
      Effect.map((rows) => rows[0]?.count ?? 0),
      storage("IdempotencyStore.purgeExpired")
    )

  return IdempotencyStore.of({ claim, complete, release, purgeExpired })
})

export const layer: Layer.Layer<IdempotencyStore, never, SqlClient.SqlClient> = Layer.effect(IdempotencyStore, make)
