/**
 * `UserDirectory` over a `SqlClient`.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { type BusinessId, UserDirectory, type UserId } from "@parley/core"
import { Effect, Layer } from "effect"
import { storage } from "./internal/storage.js"

export const make = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const exists = (businessId: BusinessId, userId: UserId) =>
    sql`SELECT 1 AS found FROM users WHERE business_id = ${businessId} AND id = ${userId}`.pipe(
      Effect.map((rows) => rows.length > 0),
      storage("UserDirectory.exists")
    )
  return UserDirectory.of({ exists })
})

export const layer: Layer.Layer<UserDirectory, never, SqlClient.SqlClient> = Layer.effect(UserDirectory, make)
