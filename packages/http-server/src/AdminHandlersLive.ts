/**
 * The admin endpoints of the standalone service: tenants, numbers, keys and templates. Ids in paths that are not
 * UUIDs are simply not found.
 */
import { HttpApiBuilder } from "@effect/platform"
import {
  ApiKeyId,
  BusinessId,
  type Template,
  UserId,
  WhatsAppNumberDirectory,
  WhatsAppNumberId,
  WhatsAppNumberNotFound
} from "@parley/core"
import { ApiKeys, Tenancy } from "@parley/postgres"
import { TwilioTemplateSync } from "@parley/twilio"
import { TemplateSync } from "@parley/whatsapp-cloud"
import { DateTime, Effect, Option, Redacted, Schema } from "effect"
import { Api } from "./Api.js"
import { toApiError } from "./ErrorMapping.js"
import * as NumberRegistration from "./NumberRegistration.js"
import { WebhookProcessor } from "./WebhookProcessor.js"

const decodeBusinessId = Schema.decodeUnknownOption(BusinessId)
const decodeApiKeyId = Schema.decodeUnknownOption(ApiKeyId)
const decodeUserId = Schema.decodeUnknownOption(UserId)
const decodeNumberId = Schema.decodeUnknownOption(WhatsAppNumberId)

const businessIdOf = (raw: string) =>
  Option.match(decodeBusinessId(raw), {
    onNone: () => Effect.fail(toApiError(new Tenancy.BusinessNotFound({ businessId: raw }))),
    onSome: Effect.succeed
  })

const iso = DateTime.formatIso

export const templateJson = (template: Template) => ({
  id: template.id,
  businessId: template.businessId,
  key: template.key,
  name: template.name,
  language: template.language,
  category: template.category,
  status: template.status,
  parameterFormat: template.parameterFormat,
  components: template.components
})

export { numberJson } from "./NumberRegistration.js"

export const AdminHandlersLive = HttpApiBuilder.group(Api, "admin", (handlers) =>
  Effect.gen(function* () {
    const tenancy = yield* Tenancy.Tenancy
    const apiKeys = yield* ApiKeys.ApiKeys
    const numbers = yield* WhatsAppNumberDirectory
    const templateSync = yield* TemplateSync.TemplateSync
    const twilioTemplateSync = yield* TwilioTemplateSync.TwilioTemplateSync
    const webhookProcessor = yield* WebhookProcessor
    return handlers
      .handle("createBusiness", ({ payload }) =>
        tenancy.createBusiness({ name: payload.name }).pipe(
          Effect.map((business) => ({
            message: "Business created",
            data: { id: business.id, name: business.name, createdAt: iso(business.createdAt) }
          })),
          Effect.mapError(toApiError)
        )
      )
      .handle("createUser", ({ path, payload }) =>
        Effect.gen(function* () {
          const businessId = yield* businessIdOf(path.businessId)
          const user = yield* tenancy.createUser({ businessId, name: payload.name }).pipe(Effect.mapError(toApiError))
          return {
            message: "User created",
            data: { id: user.id, businessId: user.businessId, name: user.name, createdAt: iso(user.createdAt) }
          }
        })
      )
      .handle("createWhatsAppNumber", ({ path, payload }) =>
        Effect.gen(function* () {
          const businessId = yield* businessIdOf(path.businessId)
          const input = yield* NumberRegistration.fromBody(businessId, payload)
          const number = yield* tenancy.addWhatsAppNumber(input).pipe(Effect.mapError(toApiError))
          // Changes Meta sent for this number before it was registered were kept aside: the worker replays them now.
          yield* webhookProcessor.wake
          return { message: "WhatsApp number added", data: NumberRegistration.numberJson(number) }
        })
      )
      .handle("createApiKey", ({ path, payload }) =>
        Effect.gen(function* () {
          const businessId = yield* businessIdOf(path.businessId)
          const userId = payload.userId === undefined ? undefined : Option.getOrUndefined(decodeUserId(payload.userId))
          const created = yield* apiKeys
            .create({ businessId, userId: userId ?? null, name: payload.name ?? "", scopes: payload.scopes })
            .pipe(Effect.mapError(toApiError))
          const key = created.apiKey
          return {
            message: "API key created: store the key now, it is not shown again",
            data: {
              id: key.id,
              businessId: key.businessId,
              userId: key.userId,
              name: key.name,
              shortId: key.shortId,
              scopes: key.scopes,
              createdAt: iso(key.createdAt),
              key: Redacted.value(created.key)
            }
          }
        })
      )
      .handle("revokeApiKey", ({ path }) =>
        Effect.gen(function* () {
          const businessId = yield* businessIdOf(path.businessId)
          const id = yield* Option.match(decodeApiKeyId(path.apiKeyId), {
            onNone: () => Effect.fail(toApiError(new ApiKeys.ApiKeyNotFound({ apiKeyId: path.apiKeyId }))),
            onSome: Effect.succeed
          })
          yield* apiKeys.revoke(businessId, id).pipe(Effect.mapError(toApiError))
        })
      )
      .handle("createTemplate", ({ path, payload }) =>
        Effect.gen(function* () {
          const businessId = yield* businessIdOf(path.businessId)
          const template = yield* tenancy.upsertTemplate({ ...payload, businessId }).pipe(Effect.mapError(toApiError))
          return { message: "Template saved", data: templateJson(template) }
        })
      )
      .handle("syncTemplates", ({ path, payload }) =>
        Effect.gen(function* () {
          const businessId = yield* businessIdOf(path.businessId)
          const notFound = new WhatsAppNumberNotFound({ whatsappNumberId: payload.whatsappNumberId })
          const number = yield* Option.match(decodeNumberId(payload.whatsappNumberId), {
            onNone: () => Effect.fail(notFound),
            onSome: (id) =>
              Effect.flatMap(
                numbers.findById(businessId, id),
                Option.match({ onNone: () => Effect.fail(notFound), onSome: Effect.succeed })
              )
          })
          // Each number's templates come from its provider: Meta's template list, or Twilio's Content API.
          const result =
            number.provider === "twilio" ? yield* twilioTemplateSync.sync(number) : yield* templateSync.sync(number)
          return {
            message: "Templates synced",
            data: {
              upserted: result.upserted.map(templateJson),
              skipped: result.skipped.map((s) => ({ name: s.name, language: s.language, reason: s.reason }))
            }
          }
        }).pipe(Effect.mapError(toApiError))
      )
  })
)
