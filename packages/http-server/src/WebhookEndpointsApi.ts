/**
 * The HTTP API of outbound webhook endpoints, twice over the same shapes: for the operator under
 * `/v1/admin/businesses/:businessId/webhook-endpoints` (admin token) and for a business managing its own under
 * `/v1/messaging/webhook-endpoints` (scopes `messaging:webhooks:read` / `messaging:webhooks:write`). Also the
 * OpenAPI 3.1 `webhooks` section: one entry per event type, describing the request Parley sends.
 */
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "@effect/platform"
import { Events } from "@parley/core"
import { JSONSchema, Schema } from "effect"
import { ErrorBody } from "./ApiError.js"
import { Iso, strict } from "./api/common.js"
import { Envelope, PagedEnvelope } from "./Representation.js"
import { AdminAuth, ApiKeyAuth, RequiredScope } from "./Security.js"

/** The event types an endpoint can subscribe to: the core's list, the one source of truth. */
export const EventType = Events.EventType
export type EventType = Events.EventType

const eventDescriptions = {
  "message.received": "A customer's message was stored (`data`: the message and its conversation)",
  "message.sent": "A message was recorded for sending (`data`: the message and its conversation)",
  "message.status_updated": "A message was delivered, read or failed (`data`: the message, with the failure)",
  "conversation.created": "A conversation started (`data`: the conversation)",
  "conversation.updated": "A conversation's status, mode, assignee or unread count changed (`data`: the conversation)",
  "template.status_updated": "A template's review status changed (`data`: the template)"
} as const satisfies Record<EventType, string>

export const WebhookEndpointJson = Schema.Struct({
  id: Schema.String,
  businessId: Schema.String,
  url: Schema.String,
  eventTypes: Schema.Array(EventType).annotations({ description: "Delivered event types; empty means all" }),
  description: Schema.String,
  enabled: Schema.Boolean,
  disabledReason: Schema.NullOr(Schema.String).annotations({
    description:
      "Why deliveries stopped: `manual`, `gone` (the endpoint answered 410) or `failing` (it failed without a " +
      "success for days: the circuit opened). Re-enable with `enabled: true`."
  }),
  disabledAt: Schema.NullOr(Iso),
  failingSince: Schema.NullOr(Iso).annotations({ description: "Start of the current run of failed attempts" }),
  previousSecretExpiresAt: Schema.NullOr(Iso).annotations({
    description: "While set, deliveries are signed with the previous secret too"
  }),
  createdAt: Iso
}).annotations({ identifier: "WebhookEndpoint" })

export const WebhookEndpointWithSecretJson = Schema.Struct({
  ...WebhookEndpointJson.fields,
  secret: Schema.String.annotations({
    description: "The signing secret (`whsec_…`). Shown only in this response: store it now."
  })
}).annotations({ identifier: "WebhookEndpointWithSecret" })

export const WebhookDeliveryJson = Schema.Struct({
  id: Schema.String,
  endpointId: Schema.String,
  eventId: Schema.String.annotations({ description: "Also the `webhook-id` header of every attempt" }),
  eventType: Schema.String,
  status: Schema.Literal("pending", "succeeded", "failed", "dead").annotations({
    description:
      "`pending`: waiting for its next attempt; `succeeded`: a 2xx; `failed`: the endpoint answered 410; " +
      "`dead`: every retry failed (over three days)"
  }),
  attempts: Schema.Number,
  nextAttemptAt: Schema.NullOr(Iso),
  lastStatusCode: Schema.NullOr(Schema.Number),
  lastLatencyMs: Schema.NullOr(Schema.Number),
  lastError: Schema.NullOr(Schema.String),
  responseExcerpt: Schema.NullOr(Schema.String).annotations({ description: "Start of the last response body" }),
  createdAt: Iso,
  updatedAt: Iso
}).annotations({ identifier: "WebhookDelivery" })

export const WebhookAttemptJson = Schema.Struct({
  attempt: Schema.Number.annotations({ description: "1 for the first; numbers keep rising across replays" }),
  startedAt: Iso,
  statusCode: Schema.NullOr(Schema.Number).annotations({
    description: "The endpoint's HTTP status; null when no answer came (timeout, refused, reset)"
  }),
  latencyMs: Schema.Number,
  error: Schema.NullOr(Schema.String).annotations({ description: "Why the attempt failed, when it did" }),
  responseExcerpt: Schema.NullOr(Schema.String).annotations({ description: "Start of the response body" })
}).annotations({ identifier: "WebhookAttempt" })

const Url = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(2048)).annotations({
  description: "Where deliveries are POSTed: https (plain http only if the operator allows it), a public address"
})
const Description = Schema.String.pipe(Schema.maxLength(500))

export const CreateWebhookEndpointBody = Schema.Struct({
  url: Url,
  eventTypes: Schema.optional(Schema.Array(EventType).pipe(Schema.maxItems(20))),
  description: Schema.optional(Description)
}).annotations({
  ...strict,
  identifier: "CreateWebhookEndpoint",
  examples: [{ url: "https://example.com/parley/webhooks", eventTypes: ["message.received"] }]
})

export const UpdateWebhookEndpointBody = Schema.Struct({
  url: Schema.optional(Url),
  eventTypes: Schema.optional(Schema.Array(EventType).pipe(Schema.maxItems(20))),
  description: Schema.optional(Description),
  enabled: Schema.optional(
    Schema.Boolean.annotations({ description: "`true` re-enables a disabled endpoint; `false` pauses it" })
  )
}).annotations({ ...strict, identifier: "UpdateWebhookEndpoint", examples: [{ enabled: true }] })

export const RotateSecretBody = Schema.Struct({
  overlapSeconds: Schema.optional(
    Schema.Int.pipe(Schema.between(0, 7 * 86_400)).annotations({
      description: "How long the previous secret keeps signing (default 86400: 24 h; 0 retires it at once)"
    })
  )
}).annotations({ ...strict, identifier: "RotateWebhookSecret", examples: [{ overlapSeconds: 86_400 }] })

export const ReplayBody = Schema.Struct({
  eventId: Schema.optional(Schema.UUID.annotations({ description: "One event" })),
  since: Schema.optional(Schema.DateTimeUtc.annotations({ description: "Every event that occurred from here…" })),
  until: Schema.optional(Schema.DateTimeUtc.annotations({ description: "…until here (exclusive)" }))
})
  .annotations({
    identifier: "ReplayWebhookEvents",
    description: "One event by id, or every event that occurred in [since, until)",
    examples: [{ eventId: "0190a4b2-7c1d-7e3f-8a5b-6c7d8e9f0a1b" }]
  })
  .pipe(
    Schema.filter(
      (body) =>
        body.eventId !== undefined
          ? body.since === undefined && body.until === undefined
          : body.since !== undefined && body.until !== undefined,
      { message: () => "give either eventId, or both since and until" }
    )
  )
  .annotations(strict)

export const ReplayJson = Schema.Struct({
  queued: Schema.Number.annotations({ description: "Deliveries queued (due now, with a fresh retry schedule)" })
})

const DeliveryParams = Schema.Struct({
  limit: Schema.optional(
    Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 200)).annotations({
      jsonSchema: { type: "integer", minimum: 1, maximum: 200, default: 50 }
    })
  ),
  cursor: Schema.optional(Schema.String.pipe(Schema.maxLength(512)))
})

const AttemptParams = Schema.Struct({
  limit: Schema.optional(
    Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 200)).annotations({
      jsonSchema: { type: "integer", minimum: 1, maximum: 200, default: 50 }
    })
  ),
  cursor: Schema.optional(Schema.String.pipe(Schema.maxLength(16)))
})

const AdminPath = Schema.Struct({ businessId: Schema.String })
const AdminEndpointPath = Schema.Struct({ businessId: Schema.String, endpointId: Schema.String })
const EndpointPath = Schema.Struct({ endpointId: Schema.String })
const AdminDeliveryPath = Schema.Struct({ ...AdminEndpointPath.fields, deliveryId: Schema.String })
const DeliveryPath = Schema.Struct({ ...EndpointPath.fields, deliveryId: Schema.String })

// The same operations twice: HttpApi's path typing does not survive a generic builder.
const [aCreate, aList, aGet, aUpdate, aDelete, aRotate, aDeliveries, aAttempts, aReplay] = [
  HttpApiEndpoint.post("createWebhookEndpoint", "/businesses/:businessId/webhook-endpoints")
    .setPath(AdminPath)
    .setPayload(CreateWebhookEndpointBody)
    .addSuccess(Envelope(WebhookEndpointWithSecretJson), { status: 201 })
    .addError(ErrorBody, { status: 422 })
    .annotate(OpenApi.Summary, "Register a webhook endpoint (the secret is shown once)"),
  HttpApiEndpoint.get("listWebhookEndpoints", "/businesses/:businessId/webhook-endpoints")
    .setPath(AdminPath)
    .addSuccess(Envelope(Schema.Array(WebhookEndpointJson)))
    .annotate(OpenApi.Summary, "List webhook endpoints"),
  HttpApiEndpoint.get("getWebhookEndpoint", "/businesses/:businessId/webhook-endpoints/:endpointId")
    .setPath(AdminEndpointPath)
    .addSuccess(Envelope(WebhookEndpointJson))
    .annotate(OpenApi.Summary, "Get a webhook endpoint"),
  HttpApiEndpoint.patch("updateWebhookEndpoint", "/businesses/:businessId/webhook-endpoints/:endpointId")
    .setPath(AdminEndpointPath)
    .setPayload(UpdateWebhookEndpointBody)
    .addSuccess(Envelope(WebhookEndpointJson))
    .addError(ErrorBody, { status: 422 })
    .annotate(OpenApi.Summary, "Change a webhook endpoint's URL or types, pause it or re-enable it"),
  HttpApiEndpoint.del("deleteWebhookEndpoint", "/businesses/:businessId/webhook-endpoints/:endpointId")
    .setPath(AdminEndpointPath)
    .addSuccess(HttpApiSchema.NoContent)
    .annotate(OpenApi.Summary, "Delete a webhook endpoint and its delivery log"),
  HttpApiEndpoint.post("rotateWebhookSecret", "/businesses/:businessId/webhook-endpoints/:endpointId/rotate-secret")
    .setPath(AdminEndpointPath)
    .setPayload(RotateSecretBody)
    .addSuccess(Envelope(WebhookEndpointWithSecretJson))
    .annotate(OpenApi.Summary, "Rotate the signing secret (both sign during the overlap)"),
  HttpApiEndpoint.get("listWebhookDeliveries", "/businesses/:businessId/webhook-endpoints/:endpointId/deliveries")
    .setPath(AdminEndpointPath)
    .setUrlParams(DeliveryParams)
    .addSuccess(PagedEnvelope(Schema.Array(WebhookDeliveryJson)))
    .annotate(OpenApi.Summary, "The endpoint's delivery log, newest first"),
  HttpApiEndpoint.get(
    "listWebhookDeliveryAttempts",
    "/businesses/:businessId/webhook-endpoints/:endpointId/deliveries/:deliveryId/attempts"
  )
    .setPath(AdminDeliveryPath)
    .setUrlParams(AttemptParams)
    .addSuccess(PagedEnvelope(Schema.Array(WebhookAttemptJson)))
    .annotate(OpenApi.Summary, "Every attempt of one delivery, newest first"),
  HttpApiEndpoint.post("replayWebhookEvents", "/businesses/:businessId/webhook-endpoints/:endpointId/replay")
    .setPath(AdminEndpointPath)
    .setPayload(ReplayBody)
    .addSuccess(Envelope(ReplayJson), { status: 202 })
    .annotate(OpenApi.Summary, "Deliver one event, or a time range of events, again")
] as const
export const adminWebhookEndpoints = HttpApiGroup.make("adminWebhookEndpoints")
  .add(aCreate)
  .add(aList)
  .add(aGet)
  .add(aUpdate)
  .add(aDelete)
  .add(aRotate)
  .add(aDeliveries)
  .add(aAttempts)
  .add(aReplay)
  .addError(ErrorBody, { status: 400 })
  .addError(ErrorBody, { status: 401 })
  .addError(ErrorBody, { status: 404 })
  .addError(ErrorBody, { status: 413 })
  .addError(ErrorBody, { status: 415 })
  .addError(ErrorBody, { status: 429 })
  .addError(ErrorBody, { status: 503 })
  .middleware(AdminAuth)
  .prefix("/v1/admin")
  .annotate(OpenApi.Title, "Admin: webhook endpoints")
  .annotate(OpenApi.Description, "Any business's outbound webhook endpoints. Bearer `PARLEY_ADMIN_TOKEN`.")

const [mCreate, mList, mGet, mUpdate, mDelete, mRotate, mDeliveries, mAttempts, mReplay] = [
  HttpApiEndpoint.post("createWebhookEndpoint", "/webhook-endpoints")
    .setPayload(CreateWebhookEndpointBody)
    .addSuccess(Envelope(WebhookEndpointWithSecretJson), { status: 201 })
    .addError(ErrorBody, { status: 422 })
    .annotate(OpenApi.Summary, "Register a webhook endpoint (the secret is shown once)")
    .annotate(RequiredScope, "messaging:webhooks:write"),
  HttpApiEndpoint.get("listWebhookEndpoints", "/webhook-endpoints")
    .addSuccess(Envelope(Schema.Array(WebhookEndpointJson)))
    .annotate(OpenApi.Summary, "List webhook endpoints")
    .annotate(RequiredScope, "messaging:webhooks:read"),
  HttpApiEndpoint.get("getWebhookEndpoint", "/webhook-endpoints/:endpointId")
    .setPath(EndpointPath)
    .addSuccess(Envelope(WebhookEndpointJson))
    .annotate(OpenApi.Summary, "Get a webhook endpoint")
    .annotate(RequiredScope, "messaging:webhooks:read"),
  HttpApiEndpoint.patch("updateWebhookEndpoint", "/webhook-endpoints/:endpointId")
    .setPath(EndpointPath)
    .setPayload(UpdateWebhookEndpointBody)
    .addSuccess(Envelope(WebhookEndpointJson))
    .addError(ErrorBody, { status: 422 })
    .annotate(OpenApi.Summary, "Change a webhook endpoint's URL or types, pause it or re-enable it")
    .annotate(RequiredScope, "messaging:webhooks:write"),
  HttpApiEndpoint.del("deleteWebhookEndpoint", "/webhook-endpoints/:endpointId")
    .setPath(EndpointPath)
    .addSuccess(HttpApiSchema.NoContent)
    .annotate(OpenApi.Summary, "Delete a webhook endpoint and its delivery log")
    .annotate(RequiredScope, "messaging:webhooks:write"),
  HttpApiEndpoint.post("rotateWebhookSecret", "/webhook-endpoints/:endpointId/rotate-secret")
    .setPath(EndpointPath)
    .setPayload(RotateSecretBody)
    .addSuccess(Envelope(WebhookEndpointWithSecretJson))
    .annotate(OpenApi.Summary, "Rotate the signing secret (both sign during the overlap)")
    .annotate(RequiredScope, "messaging:webhooks:write"),
  HttpApiEndpoint.get("listWebhookDeliveries", "/webhook-endpoints/:endpointId/deliveries")
    .setPath(EndpointPath)
    .setUrlParams(DeliveryParams)
    .addSuccess(PagedEnvelope(Schema.Array(WebhookDeliveryJson)))
    .annotate(OpenApi.Summary, "The endpoint's delivery log, newest first")
    .annotate(RequiredScope, "messaging:webhooks:read"),
  HttpApiEndpoint.get("listWebhookDeliveryAttempts", "/webhook-endpoints/:endpointId/deliveries/:deliveryId/attempts")
    .setPath(DeliveryPath)
    .setUrlParams(AttemptParams)
    .addSuccess(PagedEnvelope(Schema.Array(WebhookAttemptJson)))
    .annotate(OpenApi.Summary, "Every attempt of one delivery, newest first")
    .annotate(RequiredScope, "messaging:webhooks:read"),
  HttpApiEndpoint.post("replayWebhookEvents", "/webhook-endpoints/:endpointId/replay")
    .setPath(EndpointPath)
    .setPayload(ReplayBody)
    .addSuccess(Envelope(ReplayJson), { status: 202 })
    .annotate(OpenApi.Summary, "Deliver one event, or a time range of events, again")
    .annotate(RequiredScope, "messaging:webhooks:write")
] as const
export const webhookEndpoints = HttpApiGroup.make("webhookEndpoints")
  .add(mCreate)
  .add(mList)
  .add(mGet)
  .add(mUpdate)
  .add(mDelete)
  .add(mRotate)
  .add(mDeliveries)
  .add(mAttempts)
  .add(mReplay)
  .addError(ErrorBody, { status: 400 })
  .addError(ErrorBody, { status: 401 })
  .addError(ErrorBody, { status: 403 })
  .addError(ErrorBody, { status: 404 })
  .addError(ErrorBody, { status: 413 })
  .addError(ErrorBody, { status: 415 })
  .addError(ErrorBody, { status: 429 })
  .addError(ErrorBody, { status: 503 })
  .middleware(ApiKeyAuth)
  .prefix("/v1/messaging")
  .annotate(OpenApi.Title, "Webhook endpoints")
  .annotate(
    OpenApi.Description,
    "Your business's outbound webhook endpoints. Scopes `messaging:webhooks:read` and `messaging:webhooks:write`."
  )

const header = (name: string, description: string) => ({
  name,
  in: "header",
  required: true,
  schema: { type: "string" },
  description
})

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/** The OpenAPI 3.1 `webhooks` section: what Parley POSTs to an endpoint, one entry per event type. */
export const addWebhooks = (spec: Record<string, unknown>): Record<string, unknown> => {
  // Each type's body is a reference to the same named envelope the feed documents (`MessageReceivedEvent`, …): one
  // set of shapes. Components the API already generated win, so a shared one (`Message`) is never redefined.
  const definitions: Record<string, JSONSchema.JsonSchema7> = {}
  const bodies = Object.fromEntries(
    EventType.literals.map((type) => [
      type,
      JSONSchema.fromAST(Events.eventSchemas[type].ast, {
        definitions,
        definitionPath: "#/components/schemas/",
        target: "openApi3.1"
      })
    ])
  )
  const components = isRecord(spec.components) ? spec.components : {}
  spec.components = {
    ...components,
    schemas: { ...definitions, ...(isRecord(components.schemas) ? components.schemas : {}) }
  }
  spec.webhooks = Object.fromEntries(
    EventType.literals.map((type) => [
      type,
      {
        post: {
          summary: type,
          description: `${eventDescriptions[type]}. Signed per Standard Webhooks; see docs/events.md.`,
          operationId: `webhook.${type}`,
          parameters: [
            header("webhook-id", "The event id, the same on every retry"),
            header("webhook-timestamp", "Unix seconds of this attempt"),
            header("webhook-signature", "`v1,<base64 HMAC-SHA256>`, space-separated (two during a rotation)")
          ],
          requestBody: { required: true, content: { "application/json": { schema: bodies[type] } } },
          responses: {
            "200": { description: "Any 2xx acknowledges the event; 410 disables the endpoint; anything else retries" }
          }
        }
      }
    ])
  )
  return spec
}
