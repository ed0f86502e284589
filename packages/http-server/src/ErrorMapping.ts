/**
 * The one place where domain failures get their HTTP status and error code. Handlers and middlewares map with
 * `toApiError`; `Edge` applies it to whatever else escapes, so no failure leaves without a status chosen here.
 */
import type {
  AssignedToMeRequiresUser,
  AssigneeNotFound,
  ConversationNotFound,
  DeliveryUnconfirmed,
  GatewayError,
  IdempotencyKeyInFlight,
  IdempotencyKeyReused,
  InvalidCursor,
  InvalidRequest,
  MediaCorrupted,
  MediaGone,
  MediaTooLarge,
  MediaTypeUnsupported,
  MessageHasNoMedia,
  MessageNotFound,
  MissingScope,
  ServiceWindowClosed,
  StorageError,
  TemplateNotApproved,
  TemplateNotFound,
  TemplateVariablesInvalid,
  WhatsAppNumberNotFound
} from "@parley/core"
import type { ApiKeys, SecretRotation, Tenancy, WebhookAttempts, WebhookEndpoints } from "@parley/postgres"
import type { TemplateSync } from "@parley/whatsapp-cloud"
import { DateTime, Option } from "effect"
import { ApiError, databaseUnavailable, invalidRequest } from "./ApiError.js"
import type { TargetRefused } from "./SsrfGuard.js"

export type DomainError =
  | MissingScope
  | InvalidRequest
  | InvalidCursor
  | AssignedToMeRequiresUser
  | AssigneeNotFound
  | ConversationNotFound
  | WhatsAppNumberNotFound
  | TemplateNotFound
  | TemplateNotApproved
  | TemplateVariablesInvalid
  | ServiceWindowClosed
  | IdempotencyKeyReused
  | IdempotencyKeyInFlight
  | GatewayError
  | DeliveryUnconfirmed
  | StorageError
  | Tenancy.BusinessNotFound
  | Tenancy.WhatsAppNumberTaken
  | ApiKeys.ApiKeyNotFound
  | ApiKeys.ApiKeyOwnerNotFound
  | ApiKeys.ApiKeyRejected
  | TemplateSync.TemplateSyncUnavailable
  | SecretRotation.AccessTokensUnreadable
  | MessageNotFound
  | MessageHasNoMedia
  | MediaGone
  | MediaCorrupted
  | MediaTooLarge
  | MediaTypeUnsupported
  | WebhookEndpoints.WebhookEndpointNotFound
  | WebhookEndpoints.WebhookEndpointOwnerNotFound
  | WebhookAttempts.WebhookDeliveryNotFound
  | TargetRefused

const templateHint = "send an approved template with POST /v1/messaging/messages/template instead"

const provider = (error: { readonly code: number | null; readonly title: string }) => ({
  providerCode: error.code,
  providerTitle: error.title
})

export const toApiError = (error: DomainError | ApiError): ApiError => {
  switch (error._tag) {
    case "ApiError":
      return error
    case "InvalidRequest":
      return invalidRequest(error.issues)
    case "InvalidCursor":
      return ApiError.make(400, "invalid_cursor", error.message)
    case "AssignedToMeRequiresUser":
      return ApiError.make(400, "assigned_me_requires_user", error.message)
    case "ApiKeyRejected":
      return ApiError.make(401, "unauthorized", "the API key is not valid")
    case "MissingScope":
      return ApiError.make(403, "missing_scope", error.message, { requiredScope: error.required })
    case "ConversationNotFound":
      return ApiError.make(404, "conversation_not_found", error.message)
    case "WhatsAppNumberNotFound":
      return ApiError.make(404, "whatsapp_number_not_found", error.message)
    case "TemplateNotFound":
      return ApiError.make(404, "template_not_found", error.message, { templateKey: error.templateKey })
    case "BusinessNotFound":
      return ApiError.make(404, "business_not_found", error.message)
    case "ApiKeyNotFound":
      return ApiError.make(404, "api_key_not_found", error.message)
    case "ApiKeyOwnerNotFound":
      return error.userId === null
        ? ApiError.make(404, "business_not_found", "business not found")
        : ApiError.make(404, "user_not_found", "no such user in this business", { userId: error.userId })
    case "IdempotencyKeyInFlight":
      return ApiError.make(409, "idempotency_key_in_use", error.message, undefined, { "retry-after": "1" })
    case "WhatsAppNumberTaken":
      return ApiError.make(409, "whatsapp_number_taken", error.message, {
        phoneNumberId: error.providerPhoneNumberId
      })
    case "AccessTokensUnreadable":
      return ApiError.make(409, "access_tokens_unreadable", error.message, {
        unreadable: error.unreadable,
        total: error.total
      })
    case "IdempotencyKeyReused":
      return ApiError.make(422, "idempotency_key_reused", error.message)
    case "ServiceWindowClosed":
      return ApiError.make(422, "service_window_closed", error.message, {
        conversationId: error.conversationId,
        windowClosedAt: Option.getOrNull(Option.map(error.closedAt, DateTime.formatIso)),
        hint: templateHint
      })
    case "ProviderWindowClosed":
      return ApiError.make(
        422,
        "service_window_closed",
        "WhatsApp refused the message: the 24-hour customer service window is closed; send an approved template instead",
        { windowClosedAt: null, hint: templateHint, ...provider(error) }
      )
    case "TemplateVariablesInvalid":
      return ApiError.make(422, "template_variables_invalid", error.message, {
        templateKey: error.templateKey,
        problems: error.problems.map((p) => ({ variable: p.variable, problem: p.problem, message: p.message }))
      })
    case "TemplateNotApproved":
      return ApiError.make(422, "template_not_approved", error.message, {
        templateKey: error.templateKey,
        status: error.status
      })
    case "AssigneeNotFound":
      return ApiError.make(422, "assignee_not_found", error.message, { assignedUserId: error.userId })
    case "RecipientInvalid":
      return ApiError.make(422, "recipient_invalid", "WhatsApp cannot deliver to this recipient", provider(error))
    case "TemplateRejected":
      return ApiError.make(422, "template_rejected", "WhatsApp refused the template or its parameters", provider(error))
    case "ProviderRejected":
      return ApiError.make(422, "provider_rejected", "WhatsApp refused the message", provider(error))
    case "TemplateSyncUnavailable":
      return ApiError.make(422, "template_sync_unavailable", error.reason)
    case "ProviderRateLimited":
      return ApiError.make(
        429,
        "provider_rate_limited",
        "WhatsApp's rate limit was reached; nothing was sent, retry after the number of seconds in Retry-After",
        { retryAfterSeconds: error.retryAfterSeconds, ...provider(error) },
        { "retry-after": String(Math.max(1, error.retryAfterSeconds)) }
      )
    case "ProviderMisconfigured":
      return ApiError.make(
        502,
        "provider_misconfigured",
        "WhatsApp refused Parley's credentials or configuration; nothing was sent",
        provider(error)
      )
    case "ProviderUnavailable":
      return ApiError.make(502, "provider_unavailable", "WhatsApp could not be reached; nothing was sent", {
        ...provider(error)
      })
    case "ProviderOutcomeUnknown":
      return ApiError.make(502, "provider_unavailable", "WhatsApp did not answer", { reason: error.reason })
    case "DeliveryUnconfirmed":
      return ApiError.make(502, "delivery_unconfirmed", error.message, { messageId: error.messageId })
    case "WebhookEndpointNotFound":
      return ApiError.make(404, "webhook_endpoint_not_found", error.message, {
        endpointId: error.endpointId.slice(0, 100)
      })
    case "WebhookEndpointOwnerNotFound":
      return ApiError.make(404, "business_not_found", error.message, { businessId: error.businessId })
    case "WebhookDeliveryNotFound":
      return ApiError.make(404, "webhook_delivery_not_found", error.message, {
        deliveryId: error.deliveryId.slice(0, 100)
      })
    case "TargetRefused":
      return ApiError.make(422, "webhook_url_refused", error.message, { reason: error.reason })
    case "StorageError":
      return databaseUnavailable()
    case "MessageNotFound":
      return ApiError.make(404, "message_not_found", "no such message in this business", {
        messageId: error.messageId
      })
    case "MessageHasNoMedia":
      return ApiError.make(404, "message_has_no_media", "this message carries no file", { messageId: error.messageId })
    case "MediaGone":
      return ApiError.make(
        410,
        "media_gone",
        "WhatsApp no longer keeps this file (media is kept for a limited time) and Parley holds no copy"
      )
    case "MediaCorrupted":
      return ApiError.make(
        502,
        "media_corrupted",
        "WhatsApp sent bytes that do not match the file's SHA-256; nothing was kept, retry later",
        { expected: error.expected, actual: error.actual }
      )
    case "MediaTooLarge":
      return ApiError.make(413, "media_too_large", error.message, {
        type: error.kind,
        mimeType: error.mimeType,
        sizeBytes: error.sizeBytes,
        limitBytes: error.maxBytes
      })
    case "MediaTypeUnsupported":
      return ApiError.make(415, "media_type_unsupported", error.message, {
        mimeType: error.mimeType,
        allowed: error.allowed
      })
  }
}

const domainTags = new Set<string>([
  "InvalidRequest",
  "InvalidCursor",
  "AssignedToMeRequiresUser",
  "ApiKeyRejected",
  "MissingScope",
  "ConversationNotFound",
  "WhatsAppNumberNotFound",
  "TemplateNotFound",
  "BusinessNotFound",
  "ApiKeyNotFound",
  "ApiKeyOwnerNotFound",
  "IdempotencyKeyInFlight",
  "WhatsAppNumberTaken",
  "IdempotencyKeyReused",
  "ServiceWindowClosed",
  "ProviderWindowClosed",
  "TemplateVariablesInvalid",
  "TemplateNotApproved",
  "AssigneeNotFound",
  "RecipientInvalid",
  "TemplateRejected",
  "ProviderRejected",
  "TemplateSyncUnavailable",
  "ProviderRateLimited",
  "ProviderMisconfigured",
  "ProviderUnavailable",
  "ProviderOutcomeUnknown",
  "DeliveryUnconfirmed",
  "StorageError",
  "AccessTokensUnreadable",
  "MessageNotFound",
  "MessageHasNoMedia",
  "MediaGone",
  "MediaCorrupted",
  "MediaTooLarge",
  "MediaTypeUnsupported",
  "WebhookEndpointNotFound",
  "WebhookEndpointOwnerNotFound",
  "WebhookDeliveryNotFound",
  "TargetRefused"
])

/** Whether an unknown failure is one of the domain errors above. */
export const isDomainError = (u: unknown): u is DomainError =>
  typeof u === "object" && u !== null && "_tag" in u && typeof u._tag === "string" && domainTags.has(u._tag)
