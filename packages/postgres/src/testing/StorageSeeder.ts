/**
 * The core's `StorageSeeder` on a `SqlClient`, for the shared contract suites. Seeding is idempotent (an existing
 * row with the same id is kept), so tests sharing one database may seed the same fixtures.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { StorageSeeder } from "@parley/core/testing"
import { Effect, Layer } from "effect"
import { storage } from "../internal/storage.js"
import * as Numbers from "../internal/whatsappNumbers.js"
import { Secrets } from "../Secrets.js"

export const make = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const secrets = yield* Secrets
  return StorageSeeder.of({
    business: (input) =>
      sql`INSERT INTO businesses (id, name) VALUES (${input.id}, ${input.name}) ON CONFLICT DO NOTHING`.pipe(
        Effect.asVoid,
        storage("StorageSeeder.business")
      ),
    user: (input) =>
      sql`
        INSERT INTO users (business_id, id, name) VALUES (${input.businessId}, ${input.id}, ${input.name})
        ON CONFLICT DO NOTHING`.pipe(Effect.asVoid, storage("StorageSeeder.user")),
    whatsappNumber: (number) =>
      sql
        .withTransaction(Numbers.insert(sql, secrets, number, { ifAbsent: true }))
        .pipe(Effect.asVoid, storage("StorageSeeder.whatsappNumber"))
  })
})

export const layer: Layer.Layer<StorageSeeder, never, SqlClient.SqlClient | Secrets> = Layer.effect(StorageSeeder, make)
