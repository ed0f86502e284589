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
  type WhatsAppNumber,
  WhatsAppNumberDirectory,
  WhatsAppNumberId,
  WhatsAppNumberNotFound
} from "@parley/core"
import { ApiKeys, Tenancy } from "@parley/postgres"
import { NumberThroughput, TemplateSync } from "@parley/whatsapp-cloud"
import { DateTime, Effect, Option, Redacted, Schema } from "effect"
import { Api } from "./Api.js"
import { toApiError } from "./ErrorMapping.js"
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

export const numberJson = (number: WhatsAppNumber) => ({
  id: number.id,
  businessId: number.businessId,
  phoneNumberId: number.providerPhoneNumberId,
  displayPhoneNumber: number.displayPhoneNumber,
  wabaId: number.wabaId,
  messagesPerSecond: number.messagesPerSecond
})

export const AdminHandlersLive = HttpApiBuilder.group(Api, "admin", (handlers) =>
  Effect.gen(function* () {
    const tenancy = yield* Tenancy.Tenancy
    const apiKeys = yield* ApiKeys.ApiKeys
    const numbers = yield* WhatsAppNumberDirectory
    const templateSync = yield* TemplateSync.TemplateSync
    const webhookProcessor = yield* WebhookProcessor
    const throughput = yield* NumberThroughput.NumberThroughput

    /**
     * Takes the throughput Meta reports for the number when it reports a tier. Meta being unreachable or refusing
     * leaves the number as it is: its stored rate is a safe one (the standard tier unless someone set another).
     */
    const readThroughput = (number: WhatsAppNumber) =>
      throughput.read(number).pipe(
        Effect.catchAll((error) =>
          Effect.as(
            Effect.logWarning("could not read the number's throughput from Meta; it keeps its rate").pipe(
              Effect.annotateLogs({ whatsappNumberId: number.id, error: error._tag })
            ),
            Option.none<number>()
          )
        ),
        Effect.flatMap((tier) =>
          Option.isNone(tier) || tier.value === number.messagesPerSecond
            ? Effect.succeed(number)
            : tenancy.setMessagesPerSecond(number.businessId, number.id, tier.value)
        )
      )

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
          const number = yield* tenancy
            .addWhatsAppNumber({
              businessId,
              providerPhoneNumberId: payload.phoneNumberId,
              displayPhoneNumber: payload.displayPhoneNumber,
              wabaId: payload.wabaId ?? null,
              accessToken: Redacted.make(payload.accessToken),
              messagesPerSecond: payload.messagesPerSecond
            })
            .pipe(Effect.mapError(toApiError))
          // An operator's rate is taken as given; otherwise the number gets the tier Meta reports.
          const registered =
            payload.messagesPerSecond === undefined
              ? yield* readThroughput(number).pipe(Effect.mapError(toApiError))
              : number
          // Changes Meta sent for this number before it was registered were kept aside: the worker replays them now.
          yield* webhookProcessor.wake
          return { message: "WhatsApp number added", data: numberJson(registered) }
        })
      )
      .handle("updateWhatsAppNumber", ({ path, payload }) =>
        Effect.gen(function* () {
          const businessId = yield* businessIdOf(path.businessId)
          const id = yield* Option.match(decodeNumberId(path.whatsappNumberId), {
            onNone: () => Effect.fail(new WhatsAppNumberNotFound({ whatsappNumberId: path.whatsappNumberId })),
            onSome: Effect.succeed
          })
          const number = yield* tenancy.setMessagesPerSecond(businessId, id, payload.messagesPerSecond)
          return { message: "WhatsApp number updated", data: numberJson(number) }
        }).pipe(Effect.mapError(toApiError))
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
          // Meta upgrades numbers on its own: a sync also takes the tier it reports now.
          const synced = yield* readThroughput(number)
          const result = yield* templateSync.sync(synced)
          return {
            message: "Templates synced",
            data: {
              upserted: result.upserted.map(templateJson),
              skipped: result.skipped.map((s) => ({ name: s.name, language: s.language, reason: s.reason })),
              messagesPerSecond: synced.messagesPerSecond
            }
          }
        }).pipe(Effect.mapError(toApiError))
      )
  })
)
