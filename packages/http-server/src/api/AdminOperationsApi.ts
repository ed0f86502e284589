/** The admin API's operations: webhook items that failed (dead letters), secrets, and lists of what exists. */
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "@effect/platform"
import { Scope } from "@parley/core"
import { Schema } from "effect"
import { ErrorBody } from "../ApiError.js"
import { Envelope, PagedEnvelope } from "../Representation.js"
import { AdminAuth } from "../Security.js"
import { BusinessJson, BusinessPath, TemplateJson, UserJson, WhatsAppNumberJson } from "./AdminApi.js"
import { answers, Iso, Limit, strict } from "./common.js"

export const WebhookFailureState = Schema.Literal("retrying", "dead", "resolved")

export const WebhookDeadLetterJson = Schema.Struct({
  id: Schema.String,
  deliveryId: Schema.String.annotations({ description: "SHA-256 (hex) of the delivery's body, as Meta sent it" }),
  phoneNumberId: Schema.String.annotations({ description: "Meta's phone_number_id the item was for" }),
  kind: Schema.Literal("message", "status", "number").annotations({
    description: "`message` / `status`: one item; `number`: routing all of that number's changes failed"
  }),
  itemKey: Schema.String.annotations({
    description: "Where the item is in the delivery: `message:<wamid>`, `status:<wamid>:<status>` or `number`"
  }),
  state: WebhookFailureState.annotations({
    description: "`retrying`: retried with its delivery; `dead`: set aside until replayed; `resolved`: applied"
  }),
  attempts: Schema.Int,
  lastError: Schema.String,
  firstFailedAt: Schema.String,
  lastFailedAt: Schema.String,
  deadAt: Schema.NullOr(Schema.String),
  resolvedAt: Schema.NullOr(Schema.String)
}).annotations({ identifier: "WebhookDeadLetter" })

export const ListWebhookDeadLettersParams = Schema.Struct({
  state: Schema.optional(WebhookFailureState.annotations({ description: "Only items in this state (default: all)" })),
  limit: Schema.optional(Limit(200, 50, "Page size, 1–200 (default 50)")),
  cursor: Schema.optional(
    Schema.String.pipe(Schema.maxLength(512)).annotations({ description: "`page.nextCursor` of the previous page" })
  )
})

export const adminWebhooks = HttpApiGroup.make("adminWebhooks")
  .add(
    HttpApiEndpoint.get("listWebhookDeadLetters", "/webhook-dead-letters")
      .setUrlParams(ListWebhookDeadLettersParams)
      .addSuccess(PagedEnvelope(Schema.Array(WebhookDeadLetterJson)))
      .annotate(OpenApi.Summary, "Webhook items that failed")
      .annotate(
        OpenApi.Description,
        "Items of Meta's deliveries that the database refused, newest first. Each is retried with its delivery, then " +
          "set aside (`dead`) after a bounded number of attempts; the delivery's other items are never held back."
      )
  )
  .add(
    HttpApiEndpoint.post("replayWebhookDeadLetter", "/webhook-dead-letters/:id/replay")
      .setPath(Schema.Struct({ id: Schema.String }))
      .addSuccess(Envelope(WebhookDeadLetterJson))
      .pipe(answers(422))
      .annotate(OpenApi.Summary, "Apply a failed webhook item again")
      .annotate(
        OpenApi.Description,
        "Applies the item from its stored delivery now. 200 with `state: resolved` when it is applied; 422 " +
          "`webhook_replay_failed` with the error (and the item, still `dead`) when the database refuses it again."
      )
  )
  .addError(ErrorBody, { status: 400 })
  .addError(ErrorBody, { status: 401 })
  .addError(ErrorBody, { status: 404 })
  .addError(ErrorBody, { status: 429 })
  .addError(ErrorBody, { status: 503 })
  .middleware(AdminAuth)
  .prefix("/v1/admin")
  .annotate(OpenApi.Title, "Admin: webhook dead letters")
  .annotate(OpenApi.Description, "Failed webhook items: list and replay. Bearer `PARLEY_ADMIN_TOKEN`.")

// ---------------------------------------------------------------------------------------------------------------
// Admin: secrets (replacing a number's access token, re-sealing the stored tokens after a key rotation)

export const NumberPath = Schema.Struct({ businessId: Schema.String, whatsappNumberId: Schema.String })
export const ReplaceAccessTokenBody = Schema.Struct({
  accessToken: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(4096)).annotations({
    description: "The new Meta access token; stored encrypted, never returned"
  })
}).annotations({ ...strict, identifier: "ReplaceAccessToken", examples: [{ accessToken: "EAAG…" }] })
export const ResealJson = Schema.Struct({
  total: Schema.Number.annotations({ description: "Stored access tokens" }),
  resealed: Schema.Number.annotations({ description: "Re-sealed now under PARLEY_SECRET_KEY" }),
  alreadyCurrent: Schema.Number.annotations({ description: "Already sealed under PARLEY_SECRET_KEY" })
})

export const adminSecrets = HttpApiGroup.make("adminSecrets")
  .add(
    HttpApiEndpoint.put("replaceAccessToken", "/businesses/:businessId/whatsapp-numbers/:whatsappNumberId/access-token")
      .setPath(NumberPath)
      .setPayload(ReplaceAccessTokenBody)
      .addSuccess(Envelope(WhatsAppNumberJson))
      .annotate(OpenApi.Summary, "Replace a number's Meta access token")
  )
  .add(
    HttpApiEndpoint.post("resealAccessTokens", "/secret-key/reseal")
      .addSuccess(Envelope(ResealJson))
      .pipe(answers(409))
      .annotate(OpenApi.Summary, "Re-seal every stored access token under the current secret key")
      .annotate(
        OpenApi.Description,
        "After a rotation (new `PARLEY_SECRET_KEY`, old key in `PARLEY_PREVIOUS_SECRET_KEYS`): all or nothing; 409 " +
          "`access_tokens_unreadable` when a token opens with none of the configured keys."
      )
  )
  .addError(ErrorBody, { status: 400 })
  .addError(ErrorBody, { status: 401 })
  .addError(ErrorBody, { status: 404 })
  .addError(ErrorBody, { status: 413 })
  .addError(ErrorBody, { status: 415 })
  .addError(ErrorBody, { status: 429 })
  .addError(ErrorBody, { status: 503 })
  .middleware(AdminAuth)
  .prefix("/v1/admin")
  .annotate(OpenApi.Title, "Admin: secrets")
  .annotate(OpenApi.Description, "Access tokens and secret-key rotation. Bearer `PARLEY_ADMIN_TOKEN`.")

// ---------------------------------------------------------------------------------------------------------------
// Admin lists (what exists): one page at a time, like the public API. Never a secret.

export const AdminListParams = Schema.Struct({
  limit: Schema.optional(Limit(200, 50, "Page size, 1–200 (default 50)")),
  cursor: Schema.optional(
    Schema.String.pipe(Schema.maxLength(512)).annotations({ description: "`page.nextCursor` of the previous page" })
  )
})

export const WhatsAppNumberSummaryJson = Schema.Struct({
  ...WhatsAppNumberJson.fields,
  createdAt: Iso
}).annotations({ identifier: "WhatsAppNumberSummary", description: "A number; its access token is never returned" })
export const ApiKeySummaryJson = Schema.Struct({
  id: Schema.String,
  businessId: Schema.String,
  userId: Schema.NullOr(Schema.String),
  name: Schema.String,
  prefix: Schema.String.annotations({
    description: "The key's public start, `parley_<shortId>_`: enough to recognise it, never to use it"
  }),
  shortId: Schema.String,
  scopes: Schema.Array(Scope),
  createdAt: Iso,
  lastUsedAt: Schema.NullOr(Iso).annotations({ description: "Last authentication, to the minute; null if never" }),
  revokedAt: Schema.NullOr(Iso)
}).annotations({ identifier: "ApiKeySummary", description: "An API key without its secret" })

export const adminLists = HttpApiGroup.make("adminLists")
  .add(
    HttpApiEndpoint.get("listBusinesses", "/businesses")
      .setUrlParams(AdminListParams)
      .addSuccess(PagedEnvelope(Schema.Array(BusinessJson)))
      .annotate(OpenApi.Summary, "List businesses")
      .annotate(OpenApi.Description, "Oldest first, one page at a time.")
  )
  .add(
    HttpApiEndpoint.get("listUsers", "/businesses/:businessId/users")
      .setPath(BusinessPath)
      .setUrlParams(AdminListParams)
      .addSuccess(PagedEnvelope(Schema.Array(UserJson)))
      .annotate(OpenApi.Summary, "List a business's users")
  )
  .add(
    HttpApiEndpoint.get("listWhatsAppNumbers", "/businesses/:businessId/whatsapp-numbers")
      .setPath(BusinessPath)
      .setUrlParams(AdminListParams)
      .addSuccess(PagedEnvelope(Schema.Array(WhatsAppNumberSummaryJson)))
      .annotate(OpenApi.Summary, "List a business's WhatsApp numbers")
  )
  .add(
    HttpApiEndpoint.get("listApiKeys", "/businesses/:businessId/api-keys")
      .setPath(BusinessPath)
      .setUrlParams(AdminListParams)
      .addSuccess(PagedEnvelope(Schema.Array(ApiKeySummaryJson)))
      .annotate(OpenApi.Summary, "List a business's API keys")
      .annotate(OpenApi.Description, "Revoked keys included (`revokedAt`). The secret is never shown again.")
  )
  .add(
    HttpApiEndpoint.get("listTemplates", "/businesses/:businessId/templates")
      .setPath(BusinessPath)
      .setUrlParams(AdminListParams)
      .addSuccess(PagedEnvelope(Schema.Array(TemplateJson)))
      .annotate(OpenApi.Summary, "List a business's templates")
  )
  .addError(ErrorBody, { status: 400 })
  .addError(ErrorBody, { status: 401 })
  .addError(ErrorBody, { status: 404 })
  .addError(ErrorBody, { status: 503 })
  .middleware(AdminAuth)
  .prefix("/v1/admin")
  .annotate(OpenApi.Title, "Admin")
