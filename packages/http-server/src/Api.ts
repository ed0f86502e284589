/**
 * The HTTP API as data: every endpoint, its path, parameters, body, success and error statuses, security and
 * required scope. The server, `/openapi.json` and `/docs` are all built from this one definition.
 */
import { HttpApi, OpenApi } from "@effect/platform"
import { ErrorBody } from "./ApiError.js"
import { admin } from "./api/AdminApi.js"
import { adminLists, adminSecrets, adminWebhooks } from "./api/AdminOperationsApi.js"
import { health } from "./api/HealthApi.js"
import { media } from "./api/MediaApi.js"
import { messaging } from "./api/MessagingApi.js"
import { twilioWebhooks, webhooks } from "./api/ProviderWebhooksApi.js"
import { events } from "./EventsApi.js"
import { addWebhooks, adminWebhookEndpoints, webhookEndpoints } from "./WebhookEndpointsApi.js"

export {
  ApiKeyJson,
  BusinessJson,
  BusinessPath,
  CreateApiKeyBody,
  CreateBusinessBody,
  CreateTemplateBody,
  CreateUserBody,
  CreateWhatsAppNumberBody,
  SyncJson,
  SyncTemplatesBody,
  TemplateJson,
  UpdateWhatsAppNumberBody,
  UserJson,
  WhatsAppNumberJson
} from "./api/AdminApi.js"
export {
  AdminListParams,
  ApiKeySummaryJson,
  ListWebhookDeadLettersParams,
  NumberPath,
  ReplaceAccessTokenBody,
  ResealJson,
  WebhookDeadLetterJson,
  WebhookFailureState,
  WhatsAppNumberSummaryJson
} from "./api/AdminOperationsApi.js"
export { HealthJson } from "./api/HealthApi.js"
export { MessagePath, UploadedMediaJson, UploadMediaForm } from "./api/MediaApi.js"
export {
  ConversationPath,
  GetConversationParams,
  IdempotencyHeaders,
  ListConversationsParams,
  SendMediaBody,
  SendMessageBody,
  SendTemplateBody,
  SendTextBody,
  UpdateConversationBody
} from "./api/MessagingApi.js"
export { TwilioWebhookForm, VerifyParams, WebhookEnvelope } from "./api/ProviderWebhooksApi.js"

// ---------------------------------------------------------------------------------------------------------------
// The document: one named error schema, servers, licence

const errorRef = "#/components/schemas/Error"

/** What each error status means, for the response descriptions; the body is always `Error`. */
const errorDescriptions: Readonly<Record<string, string>> = {
  "400": "Invalid request (`invalid_request`, `malformed_json`, `invalid_cursor`)",
  "401": "Missing or invalid credentials (`unauthorized`)",
  "403": "Forbidden: the key lacks the scope, or the signature check failed",
  "404": "Not found",
  "405": "Method not allowed",
  "409": "Conflict",
  "413": "Request body too large (`payload_too_large`)",
  "415": "Unsupported media type",
  "422": "Understood but refused (e.g. `service_window_closed`)",
  "429": "Rate limited (`rate_limited`, see `Retry-After`)",
  "502": "The WhatsApp provider failed",
  "503": "Starting, stopping or the database is unavailable (see `Retry-After`)"
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/**
 * HttpApi inlines the error schema at every use (twice where a middleware and an endpoint both declare a status)
 * and documents its own decode-error body for 400, which `Edge` replaces with ours. Every error response becomes
 * one `$ref` to the `Error` component, so generated clients get one named type; tags are listed once each.
 */
const oneErrorSchema = (spec: Record<string, unknown>): Record<string, unknown> => {
  const paths = isRecord(spec.paths) ? spec.paths : {}
  for (const path of Object.values(paths)) {
    for (const operation of Object.values(isRecord(path) ? path : {})) {
      const responses = isRecord(operation) && isRecord(operation.responses) ? operation.responses : {}
      for (const [status, response] of Object.entries(responses)) {
        if (Number(status) < 400 || !isRecord(response)) continue
        response.description = errorDescriptions[status] ?? "Error"
        response.content = { "application/json": { schema: { $ref: errorRef } } }
      }
    }
  }
  const components = isRecord(spec.components) && isRecord(spec.components.schemas) ? spec.components.schemas : {}
  delete components.HttpApiDecodeError
  delete components.Issue
  delete components.PropertyKey
  if (Array.isArray(spec.tags)) {
    const seen = new Set<unknown>()
    spec.tags = spec.tags.filter((tag: unknown) => {
      const name = isRecord(tag) ? tag.name : tag
      if (seen.has(name)) return false
      seen.add(name)
      return true
    })
  }
  return spec
}

export class Api extends HttpApi.make("parley")
  .add(messaging)
  .add(media)
  .add(webhookEndpoints)
  .add(events)
  .add(admin)
  .add(adminLists)
  .add(adminWebhooks)
  .add(adminSecrets)
  .add(adminWebhookEndpoints)
  .add(webhooks)
  .add(twilioWebhooks)
  .add(health)
  .annotate(OpenApi.Title, "Parley")
  .annotate(OpenApi.Version, "0.1.0")
  .annotate(
    OpenApi.Description,
    "A business's WhatsApp inbox as an API. Every error is `{ message, error: { code, details } }`; see docs/api.md."
  )
  .annotate(OpenApi.License, { name: "MIT", url: "https://opensource.org/license/mit" })
  .annotate(OpenApi.Servers, [
    {
      url: "{origin}",
      description: "Your Parley service",
      variables: {
        origin: {
          default: "http://127.0.0.1:3000",
          description: "Scheme, host and port (the default is `pnpm start`'s)"
        }
      }
    }
  ])
  .annotate(HttpApi.AdditionalSchemas, [ErrorBody])
  .annotate(OpenApi.Transform, (spec) => addWebhooks(oneErrorSchema(spec))) {}
