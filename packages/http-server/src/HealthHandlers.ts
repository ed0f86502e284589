/**
 * `/health` (the process answers) and `/ready` (the database answers within 2 seconds, else 503).
 */
import { HttpApiBuilder } from "@effect/platform"
import * as SqlClient from "@effect/sql/SqlClient"
import { Duration, Effect } from "effect"
import { Api } from "./Api.js"
import { ApiError } from "./ApiError.js"

export const HealthLive = HttpApiBuilder.group(Api, "health", (handlers) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    return handlers
      .handle("health", () => Effect.succeed({ status: "ok" }))
      .handle("ready", () =>
        sql`SELECT 1`.pipe(
          Effect.timeout(Duration.seconds(2)),
          Effect.as({ status: "ready" }),
          Effect.catchAll(() =>
            Effect.fail(
              ApiError.make(503, "database_unavailable", "the database is not reachable", undefined, {
                "retry-after": "5"
              })
            )
          )
        )
      )
  })
)
