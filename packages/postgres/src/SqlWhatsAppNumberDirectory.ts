/**
 * `WhatsAppNumberDirectory` over a `SqlClient`. Access tokens (and API key secrets) are decrypted on the way out; a token that does not
 * open (wrong key configured) is a `StorageError`, never a crash. `findById` (the send path) is served from a
 * per-process cache, bounded in staleness (internal/numberCache.ts).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { type BusinessId, type ProviderName, WhatsAppNumberDirectory, type WhatsAppNumberId } from "@parley/core"
import { Array as Arr, Effect, Layer, Option, Schema } from "effect"
import * as NumberCache from "./internal/numberCache.js"
import { storage } from "./internal/storage.js"
import * as Numbers from "./internal/whatsappNumbers.js"
import { Secrets } from "./Secrets.js"

const RouteRow = Schema.Struct({ business_id: Schema.String, whatsapp_number_id: Schema.String })
const decodeRouteRows = Schema.decodeUnknown(Schema.Array(RouteRow))

export const make = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const secrets = yield* Secrets
  const columns = sql.literal(Numbers.columns)

  const select = (businessId: string, id: string, operation: string) =>
    sql`SELECT ${columns} FROM whatsapp_numbers WHERE business_id = ${businessId} AND id = ${id}`.pipe(
      Effect.flatMap(Numbers.decode(secrets, operation)),
      Effect.map(Arr.head)
    )

  // Every send reads its number: from the process's cache (internal/numberCache.ts says how stale it may be).
  const findById = (businessId: BusinessId, id: WhatsAppNumberId) =>
    NumberCache.cached(sql, secrets, businessId, id, select(businessId, id, "WhatsAppNumberDirectory.findById")).pipe(
      storage("WhatsAppNumberDirectory.findById")
    )

  // Two keyed reads rather than a join: the route (a small global table) names the business, and the number is
  // then read within it, which is what a distributed deployment can route to one node.
  const findByProviderId = (providerPhoneNumberId: string, provider: ProviderName = "whatsapp_cloud") =>
    Effect.gen(function* () {
      const routes = yield* sql`
        SELECT business_id, whatsapp_number_id FROM whatsapp_number_routes
        WHERE provider = ${provider} AND provider_phone_number_id = ${providerPhoneNumberId}`.pipe(
        Effect.flatMap(decodeRouteRows)
      )
      const route = routes[0]
      if (route === undefined) return Option.none()
      return yield* select(route.business_id, route.whatsapp_number_id, "WhatsAppNumberDirectory.findByProviderId")
    }).pipe(storage("WhatsAppNumberDirectory.findByProviderId"))

  return WhatsAppNumberDirectory.of({ findById, findByProviderId })
})

export const layer: Layer.Layer<WhatsAppNumberDirectory, never, SqlClient.SqlClient | Secrets> = Layer.effect(
  WhatsAppNumberDirectory,
  make
)
