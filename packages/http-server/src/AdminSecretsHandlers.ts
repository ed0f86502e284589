/**
 * The admin endpoints for secrets: replace a number's Meta access token, and re-seal every stored token under the
 * current secret key after a rotation. Ids in paths that are not UUIDs are simply not found.
 */
import { HttpApiBuilder } from "@effect/platform"
import { BusinessId, WhatsAppNumberDirectory, WhatsAppNumberId, WhatsAppNumberNotFound } from "@parley/core"
import { SecretRotation, Tenancy } from "@parley/postgres"
import { Effect, Option, Redacted, Schema } from "effect"
import { numberJson } from "./AdminHandlersLive.js"
import { Api } from "./Api.js"
import { toApiError } from "./ErrorMapping.js"

const decodeBusinessId = Schema.decodeUnknownOption(BusinessId)
const decodeNumberId = Schema.decodeUnknownOption(WhatsAppNumberId)

export const AdminSecretsLive = HttpApiBuilder.group(Api, "adminSecrets", (handlers) =>
  Effect.gen(function* () {
    const tenancy = yield* Tenancy.Tenancy
    const numbers = yield* WhatsAppNumberDirectory
    const rotation = yield* SecretRotation.SecretRotation
    return handlers
      .handle("replaceAccessToken", ({ path, payload }) =>
        Effect.gen(function* () {
          const businessId = yield* Option.match(decodeBusinessId(path.businessId), {
            onNone: () => Effect.fail(new Tenancy.BusinessNotFound({ businessId: path.businessId })),
            onSome: Effect.succeed
          })
          const notFound = new WhatsAppNumberNotFound({ whatsappNumberId: path.whatsappNumberId })
          const id = yield* Option.match(decodeNumberId(path.whatsappNumberId), {
            onNone: () => Effect.fail(notFound),
            onSome: Effect.succeed
          })
          yield* tenancy.replaceAccessToken(businessId, id, Redacted.make(payload.accessToken))
          const number = yield* Effect.flatMap(
            numbers.findById(businessId, id),
            Option.match({ onNone: () => Effect.fail(notFound), onSome: Effect.succeed })
          )
          return { message: "Access token replaced", data: numberJson(number) }
        }).pipe(Effect.mapError(toApiError))
      )
      .handle("resealAccessTokens", () =>
        rotation.reseal.pipe(
          Effect.map((result) => ({
            message:
              result.resealed === 0
                ? "Every stored access token is already sealed under the current key"
                : "Access tokens re-sealed under the current key: the previous keys can be retired",
            data: result
          })),
          Effect.mapError(toApiError)
        )
      )
  })
)
