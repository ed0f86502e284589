/**
 * Handlers of the webhook endpoint API, one implementation for both groups: the admin's (business from the path)
 * and a business's own (business from its API key). Every query is scoped by that business. A URL is checked by
 * the SSRF guard when registered or changed, as it is again before every delivery.
 */
import { HttpApiBuilder } from "@effect/platform"
import { BusinessId } from "@parley/core"
import { Tenancy, WebhookAttempts, WebhookDeliveries, WebhookEndpoints } from "@parley/postgres"
import { Context, DateTime, Duration, Effect, Layer, Option, Redacted, Schema } from "effect"
import { Api } from "./Api.js"
import { toApiError } from "./ErrorMapping.js"
import { CurrentActor } from "./Security.js"
import * as SsrfGuard from "./SsrfGuard.js"
import { EventType } from "./WebhookEndpointsApi.js"

/** The operator's outbound webhook settings, shared by the API (registration checks) and the worker. */
export class WebhookSettings extends Context.Tag("@parley/http-server/WebhookSettings")<
  WebhookSettings,
  SsrfGuard.GuardOptions
>() {}

export const layerSettings = (settings: SsrfGuard.GuardOptions): Layer.Layer<WebhookSettings> =>
  Layer.succeed(WebhookSettings, settings)

const iso = (t: DateTime.Utc | null) => (t === null ? null : DateTime.formatIso(t))

const endpointJson = (e: WebhookEndpoints.WebhookEndpoint) => ({
  id: e.id,
  businessId: e.businessId,
  url: e.url,
  eventTypes: e.eventTypes.filter(isEventType),
  description: e.description,
  enabled: e.enabled,
  disabledReason: e.disabledReason,
  disabledAt: iso(e.disabledAt),
  failingSince: iso(e.failingSince),
  previousSecretExpiresAt: iso(e.previousSecretExpiresAt),
  createdAt: DateTime.formatIso(e.createdAt)
})

const withSecret = (created: WebhookEndpoints.WithSecret) => ({
  ...endpointJson(created.endpoint),
  secret: Redacted.value(created.secret)
})

const isEventType = Schema.is(EventType)

const defaultOverlap = Duration.hours(24)

const decodeBusinessId = Schema.decodeUnknownOption(BusinessId)
const adminBusiness = (raw: string) =>
  Option.match(decodeBusinessId(raw), {
    onNone: () => Effect.fail(toApiError(new Tenancy.BusinessNotFound({ businessId: raw }))),
    onSome: Effect.succeed
  })
const ownBusiness = Effect.map(CurrentActor, (actor) => actor.businessId)

const operations = Effect.gen(function* () {
  const endpoints = yield* WebhookEndpoints.WebhookEndpoints
  const deliveries = yield* WebhookDeliveries.WebhookDeliveries
  const attemptLog = yield* WebhookAttempts.WebhookAttempts
  const settings = yield* WebhookSettings
  const checkUrl = (url: string) => SsrfGuard.check(url, settings).pipe(Effect.mapError(toApiError))

  return {
    create: (
      businessId: BusinessId,
      payload: {
        readonly url: string
        readonly eventTypes?: ReadonlyArray<string> | undefined
        readonly description?: string | undefined
      }
    ) =>
      Effect.gen(function* () {
        yield* checkUrl(payload.url)
        const created = yield* endpoints
          .create(businessId, {
            url: payload.url,
            eventTypes: payload.eventTypes ?? [],
            description: payload.description
          })
          .pipe(Effect.mapError(toApiError))
        return {
          message: "Webhook endpoint created; store its secret now, it is not shown again",
          data: withSecret(created)
        }
      }),
    list: (businessId: BusinessId) =>
      Effect.map(endpoints.list(businessId).pipe(Effect.mapError(toApiError)), (list) => ({
        message: "Webhook endpoints",
        data: list.map(endpointJson)
      })),
    get: (businessId: BusinessId, id: string) =>
      Effect.map(endpoints.get(businessId, id).pipe(Effect.mapError(toApiError)), (e) => ({
        message: "Webhook endpoint",
        data: endpointJson(e)
      })),
    update: (businessId: BusinessId, id: string, changes: WebhookEndpoints.EndpointChanges) =>
      Effect.gen(function* () {
        if (changes.url !== undefined) yield* checkUrl(changes.url)
        const updated = yield* endpoints.update(businessId, id, changes).pipe(Effect.mapError(toApiError))
        return { message: "Webhook endpoint updated", data: endpointJson(updated) }
      }),
    remove: (businessId: BusinessId, id: string) => endpoints.remove(businessId, id).pipe(Effect.mapError(toApiError)),
    rotate: (businessId: BusinessId, id: string, overlapSeconds: number | undefined) =>
      Effect.map(
        endpoints
          .rotateSecret(
            businessId,
            id,
            overlapSeconds === undefined ? defaultOverlap : Duration.seconds(overlapSeconds)
          )
          .pipe(Effect.mapError(toApiError)),
        (rotated) => ({
          message: "Secret rotated; store the new secret now, it is not shown again",
          data: withSecret(rotated)
        })
      ),
    deliveries: (
      businessId: BusinessId,
      id: string,
      params: { readonly limit?: number | undefined; readonly cursor?: string | undefined }
    ) =>
      Effect.map(
        deliveries
          .list(businessId, id, { limit: params.limit ?? 50, cursor: params.cursor })
          .pipe(Effect.mapError(toApiError)),
        (page) => ({
          message: "Webhook deliveries",
          data: page.items.map((item) => ({ ...item })),
          page: { nextCursor: page.nextCursor }
        })
      ),
    attempts: (
      businessId: BusinessId,
      id: string,
      deliveryId: string,
      params: { readonly limit?: number | undefined; readonly cursor?: string | undefined }
    ) =>
      Effect.map(
        attemptLog
          .list(businessId, id, deliveryId, { limit: params.limit ?? 50, cursor: params.cursor })
          .pipe(Effect.mapError(toApiError)),
        (page) => ({
          message: "Webhook delivery attempts",
          data: page.items,
          page: { nextCursor: page.nextCursor }
        })
      ),
    replay: (
      businessId: BusinessId,
      id: string,
      payload: {
        readonly eventId?: string | undefined
        readonly since?: DateTime.Utc | undefined
        readonly until?: DateTime.Utc | undefined
      }
    ) =>
      Effect.gen(function* () {
        // The body's schema admits exactly one of the two forms.
        const target: WebhookDeliveries.ReplayTarget =
          payload.eventId !== undefined
            ? { _tag: "Event", eventId: payload.eventId }
            : {
                _tag: "Range",
                since: payload.since ?? DateTime.unsafeMake(0),
                until: payload.until ?? DateTime.unsafeMake(0)
              }
        const queued = yield* deliveries
          .replay(businessId, id, target, yield* DateTime.now)
          .pipe(Effect.mapError(toApiError))
        return { message: "Replay queued", data: { queued } }
      })
  }
})

export const AdminWebhookEndpointsLive = HttpApiBuilder.group(Api, "adminWebhookEndpoints", (handlers) =>
  Effect.gen(function* () {
    const ops = yield* operations
    return handlers
      .handle("createWebhookEndpoint", ({ path, payload }) =>
        Effect.flatMap(adminBusiness(path.businessId), (b) => ops.create(b, payload))
      )
      .handle("listWebhookEndpoints", ({ path }) => Effect.flatMap(adminBusiness(path.businessId), ops.list))
      .handle("getWebhookEndpoint", ({ path }) =>
        Effect.flatMap(adminBusiness(path.businessId), (b) => ops.get(b, path.endpointId))
      )
      .handle("updateWebhookEndpoint", ({ path, payload }) =>
        Effect.flatMap(adminBusiness(path.businessId), (b) => ops.update(b, path.endpointId, payload))
      )
      .handle("deleteWebhookEndpoint", ({ path }) =>
        Effect.flatMap(adminBusiness(path.businessId), (b) => ops.remove(b, path.endpointId))
      )
      .handle("rotateWebhookSecret", ({ path, payload }) =>
        Effect.flatMap(adminBusiness(path.businessId), (b) => ops.rotate(b, path.endpointId, payload.overlapSeconds))
      )
      .handle("listWebhookDeliveries", ({ path, urlParams }) =>
        Effect.flatMap(adminBusiness(path.businessId), (b) => ops.deliveries(b, path.endpointId, urlParams))
      )
      .handle("listWebhookDeliveryAttempts", ({ path, urlParams }) =>
        Effect.flatMap(adminBusiness(path.businessId), (b) =>
          ops.attempts(b, path.endpointId, path.deliveryId, urlParams)
        )
      )
      .handle("replayWebhookEvents", ({ path, payload }) =>
        Effect.flatMap(adminBusiness(path.businessId), (b) => ops.replay(b, path.endpointId, payload))
      )
  })
)

export const WebhookEndpointsLive = HttpApiBuilder.group(Api, "webhookEndpoints", (handlers) =>
  Effect.gen(function* () {
    const ops = yield* operations
    return handlers
      .handle("createWebhookEndpoint", ({ payload }) => Effect.flatMap(ownBusiness, (b) => ops.create(b, payload)))
      .handle("listWebhookEndpoints", () => Effect.flatMap(ownBusiness, ops.list))
      .handle("getWebhookEndpoint", ({ path }) => Effect.flatMap(ownBusiness, (b) => ops.get(b, path.endpointId)))
      .handle("updateWebhookEndpoint", ({ path, payload }) =>
        Effect.flatMap(ownBusiness, (b) => ops.update(b, path.endpointId, payload))
      )
      .handle("deleteWebhookEndpoint", ({ path }) => Effect.flatMap(ownBusiness, (b) => ops.remove(b, path.endpointId)))
      .handle("rotateWebhookSecret", ({ path, payload }) =>
        Effect.flatMap(ownBusiness, (b) => ops.rotate(b, path.endpointId, payload.overlapSeconds))
      )
      .handle("listWebhookDeliveries", ({ path, urlParams }) =>
        Effect.flatMap(ownBusiness, (b) => ops.deliveries(b, path.endpointId, urlParams))
      )
      .handle("listWebhookDeliveryAttempts", ({ path, urlParams }) =>
        Effect.flatMap(ownBusiness, (b) => ops.attempts(b, path.endpointId, path.deliveryId, urlParams))
      )
      .handle("replayWebhookEvents", ({ path, payload }) =>
        Effect.flatMap(ownBusiness, (b) => ops.replay(b, path.endpointId, payload))
      )
  })
)
