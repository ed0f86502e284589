/**
 * The HTTP API as data: every endpoint, its path, parameters, body, success and error statuses, security and
 * required scope. The server, `/openapi.json` and `/docs` are all built from this one definition.
 */
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "@effect/platform"
import type { HttpMethod } from "@effect/platform/HttpMethod"
import {
  ConversationMode,
  ConversationStatus,
  E164,
  Media,
  MessagesPerSecond,
  ParameterFormat,
  ProviderName,
  Scope,
  TemplateCategory,
  TemplateComponent,
  TemplateStatus,
  Text
} from "@parley/core"
import { Schema } from "effect"
import { ErrorBody } from "./ApiError.js"
import { events } from "./EventsApi.js"
import {
  ConversationDetailPage,
  ConversationJson,
  ConversationsPage,
  Envelope,
  MessageJson,
  PagedEnvelope
} from "./Representation.js"
import { AdminAuth, ApiKeyAuth, RequiredScope } from "./Security.js"
import { addWebhooks, adminWebhookEndpoints, webhookEndpoints } from "./WebhookEndpointsApi.js"

/**
 * Request bodies reject properties they do not define (400 naming the field). Decoding stops at the first problem:
 * with every problem collected, a 1 MiB body of unknown fields took 0.45 s to decode and 0.4 s more to list its
 * 60,000 issues, blocking every other request; stopping at the first takes 20 ms.
 */
const strict = { parseOptions: { onExcessProperty: "error", errors: "first" } } as const

// A query parameter arrives as a string; OpenAPI shows it as the integer it stands for.
const Limit = (max: number, fallback: number, description: string) =>
  Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, max)).annotations({
    description,
    jsonSchema: { type: "integer", minimum: 1, maximum: max, default: fallback, description }
  })

/** Documents the error statuses an endpoint answers; every one has the same body, `{ message, error }`. */
const answers =
  (...statuses: readonly [number, ...Array<number>]) =>
  <Name extends string, Method extends HttpMethod, Path, UrlParams, Payload, Headers, Success, Error, R, RE>(
    endpoint: HttpApiEndpoint.HttpApiEndpoint<Name, Method, Path, UrlParams, Payload, Headers, Success, Error, R, RE>
  ) => {
    const [first, ...rest] = statuses
    return rest.reduce(
      (e, status) => e.addError(ErrorBody, { status }),
      endpoint.addError(ErrorBody, { status: first })
    )
  }

// ---------------------------------------------------------------------------------------------------------------
// Messaging (the public contract)

export const ListConversationsParams = Schema.Struct({
  status: Schema.optional(ConversationStatus),
  mode: Schema.optional(ConversationMode),
  assigned: Schema.optional(
    Schema.Literal("me", "unassigned").annotations({
      description: "`me`: assigned to the key's user (the key must belong to a user); `unassigned`: nobody's"
    })
  ),
  search: Schema.optional(
    Schema.String.pipe(Schema.minLength(1), Schema.maxLength(100)).annotations({
      description: "Matches the customer's name or phone number (digits)"
    })
  ),
  limit: Schema.optional(Limit(200, 50, "Page size, 1–200 (default 50)")),
  cursor: Schema.optional(
    Schema.String.pipe(Schema.maxLength(512)).annotations({ description: "`page.nextCursor` of the previous page" })
  )
})

export const GetConversationParams = Schema.Struct({
  messagesLimit: Schema.optional(Limit(200, 20, "Messages per page, 1–200 (default 20)")),
  before: Schema.optional(
    Schema.String.pipe(Schema.maxLength(512)).annotations({
      description: "`page.nextCursor` of the previous response: the next older messages"
    })
  )
})

export const ConversationPath = Schema.Struct({ id: Schema.String })

export const IdempotencyHeaders = Schema.Struct({
  "idempotency-key": Schema.optional(
    Schema.String.annotations({
      description:
        "1–255 printable ASCII characters. A retry with the same key and request returns the first response " +
        "(header `Idempotent-Replayed: true`) and never sends twice. A 502 `delivery_unconfirmed` is replayed only " +
        "while WhatsApp has not settled the message; after that (a status, or the unconfirmed-send timeout) the " +
        "retry answers 201 with the message as it stands."
    })
  )
})

export const SendTextBody = Schema.Struct({
  text: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(4096)).annotations({
    description: "Message body (1–4096 characters)"
  })
}).annotations({
  ...strict,
  identifier: "SendTextRequest",
  examples: [{ text: "Your order has shipped and arrives tomorrow." }]
})

export const SendMediaBody = Schema.Struct({
  type: Media.MediaKind.annotations({ description: "What the file is: image, audio, video, document or sticker" }),
  link: Schema.optional(
    Media.MediaLink.annotations({
      description: "A public https URL WhatsApp downloads the file from (give `link` or `mediaId`, not both)"
    })
  ),
  mediaId: Schema.optional(
    Media.ProviderMediaId.annotations({ description: "The id `POST /v1/messaging/media` answered for an upload" })
  ),
  caption: Schema.optional(
    Text.NonBlank.pipe(Schema.maxLength(Media.maxCaptionLength)).annotations({
      description: "Image, video and document only (1–1024 characters)"
    })
  ),
  filename: Schema.optional(
    Text.NonBlank.pipe(Schema.maxLength(240)).annotations({
      description: "Document only: the name the customer sees; its extension decides how WhatsApp shows it"
    })
  )
}).annotations({
  ...strict,
  identifier: "SendMediaRequest",
  examples: [
    { type: "document", link: "https://example.com/invoices/A-1042.pdf", filename: "A-1042.pdf", caption: "Invoice" },
    { type: "image", mediaId: "1834915043569604" }
  ]
})

/** A text (the original body, unchanged) or a media message; told apart by `type`, which a text never has. */
export const SendMessageBody = Schema.Union(SendTextBody, SendMediaBody).annotations({
  identifier: "SendMessageRequest",
  description: "A text (`{ text }`) or a media message (`{ type, link | mediaId, caption?, filename? }`)",
  examples: [
    { text: "Your order has shipped and arrives tomorrow." },
    { type: "document", link: "https://example.com/invoices/A-1042.pdf", filename: "A-1042.pdf", caption: "Invoice" }
  ]
})

export const SendTemplateBody = Schema.Struct({
  business_whatsapp_number_id: Schema.UUID.annotations({ description: "The WhatsApp number to send from" }),
  phone: E164.annotations({ description: "Destination number in E.164" }),
  template_key: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(512)).annotations({
    description: "The approved template to send"
  }),
  customer_name: Schema.optional(
    Schema.String.pipe(Schema.minLength(1), Schema.maxLength(256)).annotations({
      description: "Name for a newly created contact/conversation"
    })
  ),
  variables: Schema.optional(
    Schema.Record({ key: Schema.String, value: Schema.String }).annotations({
      description: "Key/value map filling the template's placeholders"
    })
  )
}).annotations({
  ...strict,
  identifier: "SendTemplateRequest",
  examples: [
    {
      business_whatsapp_number_id: "0190a4b2-7c1d-7e3f-8a5b-6c7d8e9f0a1b",
      phone: E164.make("+14155550123"),
      template_key: "order_shipped",
      customer_name: "Ada Lovelace",
      variables: { order_id: "A-1042", eta: "tomorrow" }
    }
  ]
})

export const UpdateConversationBody = Schema.Struct({
  status: Schema.optional(ConversationStatus),
  mode: Schema.optional(ConversationMode),
  assignedUserId: Schema.optional(
    Schema.NullOr(Schema.UUID).annotations({ description: "A user of the business; null unassigns" })
  )
}).annotations({
  ...strict,
  identifier: "UpdateConversationRequest",
  examples: [{ status: "resolved" }, { assignedUserId: "0190a4b2-7c1d-7e3f-8a5b-6c7d8e9f0a1c" }]
})

const messaging = HttpApiGroup.make("messaging")
  .add(
    HttpApiEndpoint.get("listConversations", "/conversations")
      .setUrlParams(ListConversationsParams)
      .addSuccess(ConversationsPage)
      .pipe(answers(400))
      .annotate(RequiredScope, "messaging:conversations:read")
      .annotate(OpenApi.Summary, "List conversations")
      .annotate(
        OpenApi.Description,
        "Conversations of your business, most recently active first, one page at a time. " +
          "Scope `messaging:conversations:read`."
      )
  )
  .add(
    HttpApiEndpoint.get("getConversation", "/conversations/:id")
      .setPath(ConversationPath)
      .setUrlParams(GetConversationParams)
      .addSuccess(ConversationDetailPage)
      .pipe(answers(400, 404))
      .annotate(RequiredScope, "messaging:messages:read")
      .annotate(OpenApi.Summary, "Get a conversation")
      .annotate(
        OpenApi.Description,
        "One conversation with its most recent messages (newest first). `page.nextCursor`, passed as `before`, " +
          "pages back through older messages. Scope `messaging:messages:read`."
      )
  )
  .add(
    HttpApiEndpoint.post("sendText", "/conversations/:id/messages")
      .setPath(ConversationPath)
      .setHeaders(IdempotencyHeaders)
      .setPayload(SendMessageBody)
      .addSuccess(Envelope(MessageJson), { status: 201 })
      .pipe(answers(400, 404, 409, 413, 415, 422, 502))
      .annotate(RequiredScope, "messaging:messages:send")
      .annotate(OpenApi.Summary, "Send a text or media message")
      .annotate(
        OpenApi.Description,
        "A free-form text (`{ text }`) or a media message (`{ type, link | mediaId, caption?, filename? }`) inside " +
          "WhatsApp's 24-hour customer service window; outside it the answer is 422 `service_window_closed` and " +
          "you send a template instead. Scope `messaging:messages:send`."
      )
  )
  .add(
    HttpApiEndpoint.post("sendTemplate", "/messages/template")
      .setHeaders(IdempotencyHeaders)
      .setPayload(SendTemplateBody)
      .addSuccess(Envelope(MessageJson), { status: 201 })
      .pipe(answers(400, 404, 409, 413, 415, 422, 502))
      .annotate(RequiredScope, "messaging:messages:send")
      .annotate(OpenApi.Summary, "Send a template")
      .annotate(
        OpenApi.Description,
        "An approved template to a phone number, starting a conversation when there is none; works outside the " +
          "service window. Every variable problem is listed at once (422 `template_variables_invalid`). " +
          "Scope `messaging:messages:send`."
      )
  )
  .add(
    HttpApiEndpoint.patch("updateConversation", "/conversations/:id")
      .setPath(ConversationPath)
      .setPayload(UpdateConversationBody)
      .addSuccess(Envelope(ConversationJson))
      .pipe(answers(400, 404, 413, 415, 422))
      .annotate(RequiredScope, "messaging:conversations:write")
      .annotate(OpenApi.Summary, "Update a conversation")
      .annotate(
        OpenApi.Description,
        "Change status, mode or assignment (`assignedUserId: null` unassigns). Scope `messaging:conversations:write`."
      )
  )
  .add(
    HttpApiEndpoint.post("markRead", "/conversations/:id/read")
      .setPath(ConversationPath)
      .addSuccess(Envelope(ConversationJson))
      .pipe(answers(404))
      .annotate(RequiredScope, "messaging:conversations:write")
      .annotate(OpenApi.Summary, "Mark a conversation read")
      .annotate(
        OpenApi.Description,
        "unreadCount → 0 and a read receipt to the customer. Scope `messaging:conversations:write`."
      )
  )
  .addError(ErrorBody, { status: 401 })
  .addError(ErrorBody, { status: 403 })
  .addError(ErrorBody, { status: 429 })
  .addError(ErrorBody, { status: 503 })
  .middleware(ApiKeyAuth)
  .prefix("/v1/messaging")
  .annotate(OpenApi.Title, "Messaging")
  .annotate(OpenApi.Description, "A business's WhatsApp inbox: conversations, history, sends. API key auth.")

// ---------------------------------------------------------------------------------------------------------------
// Media (files of messages, uploads for sends)

export const MessagePath = Schema.Struct({ id: Schema.String })

export const UploadedMediaJson = Schema.Struct({
  mediaId: Schema.String.annotations({ description: "Pass as `mediaId` in a media send (WhatsApp keeps it 30 days)" }),
  type: Media.MediaKind,
  mimeType: Schema.String,
  sizeBytes: Schema.Int
}).annotations({ identifier: "UploadedMedia" })

/** The upload form as OpenAPI shows it; the handler reads the parts as a stream, never the whole body at once. */
export const UploadMediaForm = HttpApiSchema.MultipartStream(
  Schema.Struct({
    whatsappNumberId: Schema.UUID.annotations({ description: "The WhatsApp number the file is uploaded for" }),
    file: Schema.String.annotations({
      description: "The file, with its Content-Type (see the per-type limits above)",
      jsonSchema: {
        type: "string",
        format: "binary",
        description: "The file, with its Content-Type (see the per-type limits above)"
      }
    })
  }).annotations({
    identifier: "UploadMediaRequest",
    examples: [{ whatsappNumberId: "0190a4b2-7c1d-7e3f-8a5b-6c7d8e9f0a1b", file: "(the file's bytes)" }]
  })
)

const media = HttpApiGroup.make("media")
  .add(
    HttpApiEndpoint.get("getMessageMedia", "/messages/:id/media")
      .setPath(MessagePath)
      .addSuccess(HttpApiSchema.Uint8Array({ contentType: "application/octet-stream" }))
      .pipe(answers(404, 410, 502))
      .annotate(RequiredScope, "messaging:messages:read")
      .annotate(OpenApi.Summary, "Download a message's file")
      .annotate(
        OpenApi.Description,
        "The image, audio, video, document or sticker of a message, streamed from WhatsApp with its " +
          "`Content-Type`, `Content-Length` and `Content-Disposition`. The bytes are checked against the SHA-256 " +
          "WhatsApp gave; on a mismatch the connection is cut before the body completes. 410 `media_gone` once " +
          "WhatsApp no longer keeps the file; 404 `message_has_no_media` for a message without one. " +
          "Scope `messaging:messages:read`."
      )
  )
  .add(
    HttpApiEndpoint.post("uploadMedia", "/media")
      .setPayload(UploadMediaForm)
      .addSuccess(Envelope(UploadedMediaJson), { status: 201 })
      .pipe(answers(400, 404, 411, 413, 415, 502))
      .annotate(RequiredScope, "messaging:messages:send")
      .annotate(OpenApi.Summary, "Upload a file for media sends")
      .annotate(
        OpenApi.Description,
        "A `multipart/form-data` body with `whatsappNumberId` (first) and `file`. The type decides the kind and " +
          "limits, checked before anything reaches WhatsApp: image jpeg/png ≤ 5 MB, video mp4/3gpp ≤ 16 MB, audio " +
          "aac/amr/mpeg/mp4/ogg(opus) ≤ 16 MB, document (pdf, txt, Office) ≤ 100 MB, sticker webp ≤ 100 KB " +
          "(animated ≤ 500 KB); MB = 1,000,000 bytes. 415 `media_type_unsupported`, 413 `media_too_large`. " +
          "Scope `messaging:messages:send`."
      )
  )
  .addError(ErrorBody, { status: 401 })
  .addError(ErrorBody, { status: 403 })
  .addError(ErrorBody, { status: 429 })
  .addError(ErrorBody, { status: 503 })
  .middleware(ApiKeyAuth)
  .prefix("/v1/messaging")
  .annotate(OpenApi.Title, "Media")
  .annotate(OpenApi.Description, "Files of messages and uploads for media sends. API key auth.")

// ---------------------------------------------------------------------------------------------------------------
// Admin (the standalone service's operators)

const Name = Text.Storable.pipe(Schema.minLength(1), Schema.maxLength(200))

export const BusinessJson = Schema.Struct({ id: Schema.String, name: Schema.String, createdAt: Schema.String })
export const UserJson = Schema.Struct({
  id: Schema.String,
  businessId: Schema.String,
  name: Schema.String,
  createdAt: Schema.String
})
export const WhatsAppNumberJson = Schema.Struct({
  id: Schema.String,
  businessId: Schema.String,
  provider: ProviderName,
  phoneNumberId: Schema.String.annotations({
    description: "Meta's phone_number_id, or the Twilio sender's E.164"
  }),
  displayPhoneNumber: Schema.String,
  wabaId: Schema.NullOr(Schema.String),
  messagesPerSecond: Schema.Number.annotations({
    description:
      "Messages per second Parley sends from the number at most: Meta's throughput tier (80 standard, 1000 upgraded)"
  }),
  accountSid: Schema.NullOr(Schema.String).annotations({ description: "Twilio's Account SID; null for Meta" }),
  apiKeySid: Schema.NullOr(Schema.String).annotations({
    description: "The Twilio API key requests are made with (its secret is never returned); null: the auth token"
  })
})
export const ApiKeyJson = Schema.Struct({
  id: Schema.String,
  businessId: Schema.String,
  userId: Schema.NullOr(Schema.String),
  name: Schema.String,
  shortId: Schema.String,
  scopes: Schema.Array(Scope),
  createdAt: Schema.String,
  key: Schema.String.annotations({ description: "The key itself: shown only in this response, store it now" })
})
export const TemplateJson = Schema.Struct({
  id: Schema.String,
  businessId: Schema.String,
  key: Schema.String,
  name: Schema.String,
  language: Schema.String,
  category: TemplateCategory,
  status: TemplateStatus,
  parameterFormat: ParameterFormat,
  components: Schema.Array(TemplateComponent)
})
export const SyncJson = Schema.Struct({
  upserted: Schema.Array(TemplateJson),
  skipped: Schema.Array(Schema.Struct({ name: Schema.String, language: Schema.String, reason: Schema.String })),
  messagesPerSecond: Schema.Number.annotations({
    description: "The number's throughput after the sync: Meta's tier when it reports one, else unchanged"
  })
})

export const BusinessPath = Schema.Struct({ businessId: Schema.String })

export const CreateBusinessBody = Schema.Struct({ name: Name }).annotations({
  ...strict,
  identifier: "CreateBusiness",
  examples: [{ name: "Acme Deliveries" }]
})
export const CreateUserBody = Schema.Struct({ name: Name }).annotations({
  ...strict,
  identifier: "CreateUser",
  examples: [{ name: "Grace" }]
})
export const CreateWhatsAppNumberBody = Schema.Struct({
  provider: Schema.optional(
    ProviderName.annotations({ description: "Who carries the number's messages (default `whatsapp_cloud`)" })
  ),
  phoneNumberId: Schema.String.pipe(
    Schema.pattern(/^(?:\d{1,32}|\+[1-9]\d{6,14})$/, {
      message: () => "must be Meta's phone_number_id (digits) or, for Twilio, the sender's E.164 (+ and digits)"
    })
  ).annotations({
    description: "Meta's phone_number_id; for `twilio`, the WhatsApp sender's number in E.164 (`+15550002222`)"
  }),
  displayPhoneNumber: Text.Storable.pipe(Schema.minLength(1), Schema.maxLength(32)),
  wabaId: Schema.optional(
    Schema.String.pipe(Schema.pattern(/^\d{1,32}$/)).annotations({ description: "WhatsApp Business Account id" })
  ),
  accessToken: Text.Storable.pipe(Schema.minLength(1), Schema.maxLength(4096)).annotations({
    description:
      "Meta access token; for `twilio`, the account's auth token (it also signs Twilio's webhooks). Stored " +
      "encrypted, never returned"
  }),
  accountSid: Schema.optional(
    Schema.String.pipe(
      Schema.pattern(/^AC[0-9a-fA-F]{32}$/, { message: () => "must be a Twilio Account SID: AC and 32 hex digits" })
    ).annotations({ description: "`twilio` only, required: the Account SID (`AC…`)" })
  ),
  apiKeySid: Schema.optional(
    Schema.String.pipe(
      Schema.pattern(/^SK[0-9a-fA-F]{32}$/, { message: () => "must be a Twilio API key SID: SK and 32 hex digits" })
    ).annotations({ description: "`twilio` only: an API key (`SK…`) to send with instead of the auth token" })
  ),
  apiKeySecret: Schema.optional(
    Text.Storable.pipe(Schema.minLength(1), Schema.maxLength(4096)).annotations({
      description: "`twilio` only, with `apiKeySid`: the API key's secret. Stored encrypted, never returned"
    })
  ),
  messagesPerSecond: Schema.optional(
    MessagesPerSecond.annotations({
      description:
        "The number's throughput, 1 to 1000 messages per second. Absent: read from Meta (`fields=throughput`: " +
        "STANDARD 80, HIGH 1000), or 80 when Meta does not say (Twilio numbers: 80)"
    })
  )
}).annotations({
  ...strict,
  identifier: "CreateWhatsAppNumber",
  examples: [
    {
      phoneNumberId: "106540352242922",
      displayPhoneNumber: "+1 555-0100",
      wabaId: "102290129340398",
      accessToken: "EAAG…"
    },
    {
      provider: "twilio",
      phoneNumberId: "+15550002222",
      displayPhoneNumber: "+1 555-000-2222",
      accessToken: "your-twilio-auth-token",
      accountSid: "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
      apiKeySid: "SKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
      apiKeySecret: "your-api-key-secret"
    }
  ]
})
export const CreateApiKeyBody = Schema.Struct({
  name: Schema.optional(Name),
  userId: Schema.optional(Schema.UUID.annotations({ description: "The user the key acts for (`assigned=me`)" })),
  scopes: Schema.NonEmptyArray(Scope)
}).annotations({
  ...strict,
  identifier: "CreateApiKey",
  examples: [{ name: "support desk", scopes: ["messaging:conversations:read", "messaging:messages:send"] }]
})
export const CreateTemplateBody = Schema.Struct({
  key: Text.Storable.pipe(Schema.minLength(1), Schema.maxLength(512)),
  name: Text.Storable.pipe(Schema.minLength(1), Schema.maxLength(512)),
  language: Text.Storable.pipe(Schema.minLength(2), Schema.maxLength(16)),
  category: TemplateCategory,
  status: TemplateStatus,
  parameterFormat: ParameterFormat,
  components: Schema.Array(TemplateComponent).annotations({
    description: 'Meta\'s template format, e.g. `[{ "type": "BODY", "text": "Order {{order_id}} arrives {{eta}}" }]`'
  })
}).annotations({
  ...strict,
  identifier: "CreateTemplate",
  examples: [
    {
      key: "order_shipped",
      name: "order_shipped",
      language: "en",
      category: "UTILITY",
      status: "APPROVED",
      parameterFormat: "NAMED",
      components: [{ type: "BODY", text: "Order {{order_id}} arrives {{eta}}" }]
    }
  ]
})
export const UpdateWhatsAppNumberBody = Schema.Struct({
  messagesPerSecond: MessagesPerSecond.annotations({
    description: "The number's throughput, 1 to 1000 messages per second (Meta: 80 standard, 1000 upgraded)"
  })
}).annotations({ ...strict, identifier: "UpdateWhatsAppNumber", examples: [{ messagesPerSecond: 1000 }] })
export const SyncTemplatesBody = Schema.Struct({ whatsappNumberId: Schema.UUID }).annotations({
  ...strict,
  identifier: "SyncTemplates",
  examples: [{ whatsappNumberId: "0190a4b2-7c1d-7e3f-8a5b-6c7d8e9f0a1d" }]
})

const admin = HttpApiGroup.make("admin")
  .add(
    HttpApiEndpoint.post("createBusiness", "/businesses")
      .setPayload(CreateBusinessBody)
      .addSuccess(Envelope(BusinessJson), { status: 201 })
      .annotate(OpenApi.Summary, "Create a business")
  )
  .add(
    HttpApiEndpoint.post("createUser", "/businesses/:businessId/users")
      .setPath(BusinessPath)
      .setPayload(CreateUserBody)
      .addSuccess(Envelope(UserJson), { status: 201 })
      .annotate(OpenApi.Summary, "Create a user")
  )
  .add(
    HttpApiEndpoint.post("createWhatsAppNumber", "/businesses/:businessId/whatsapp-numbers")
      .setPath(BusinessPath)
      .setPayload(CreateWhatsAppNumberBody)
      .addSuccess(Envelope(WhatsAppNumberJson), { status: 201 })
      .pipe(answers(409))
      .annotate(OpenApi.Summary, "Add a WhatsApp number")
  )
  .add(
    HttpApiEndpoint.patch("updateWhatsAppNumber", "/businesses/:businessId/whatsapp-numbers/:whatsappNumberId")
      .setPath(Schema.Struct({ businessId: Schema.String, whatsappNumberId: Schema.String }))
      .setPayload(UpdateWhatsAppNumberBody)
      .addSuccess(Envelope(WhatsAppNumberJson))
      .annotate(OpenApi.Summary, "Set a number's throughput")
      .annotate(
        OpenApi.Description,
        "Sets the messages per second Parley sends from the number at most, e.g. after Meta upgraded it. Template " +
          "sync reads Meta's tier again."
      )
  )
  .add(
    HttpApiEndpoint.post("createApiKey", "/businesses/:businessId/api-keys")
      .setPath(BusinessPath)
      .setPayload(CreateApiKeyBody)
      .addSuccess(Envelope(ApiKeyJson), { status: 201 })
      .annotate(OpenApi.Summary, "Create an API key")
  )
  .add(
    HttpApiEndpoint.del("revokeApiKey", "/businesses/:businessId/api-keys/:apiKeyId")
      .setPath(Schema.Struct({ businessId: Schema.String, apiKeyId: Schema.String }))
      .addSuccess(HttpApiSchema.NoContent)
      .annotate(OpenApi.Summary, "Revoke an API key")
  )
  .add(
    HttpApiEndpoint.post("createTemplate", "/businesses/:businessId/templates")
      .setPath(BusinessPath)
      .setPayload(CreateTemplateBody)
      .addSuccess(Envelope(TemplateJson), { status: 201 })
      .annotate(OpenApi.Summary, "Create or replace a template")
  )
  .add(
    HttpApiEndpoint.post("syncTemplates", "/businesses/:businessId/templates/sync")
      .setPath(BusinessPath)
      .setPayload(SyncTemplatesBody)
      .addSuccess(Envelope(SyncJson))
      .pipe(answers(422, 502))
      .annotate(OpenApi.Summary, "Sync templates from the number's provider (Meta, or Twilio's Content API)")
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
  .annotate(OpenApi.Title, "Admin")
  .annotate(OpenApi.Description, "Businesses, users, numbers, API keys and templates. Bearer `PARLEY_ADMIN_TOKEN`.")

// ---------------------------------------------------------------------------------------------------------------
// Admin: webhook items that failed (dead letters). A group of its own under /v1/admin, same admin token.

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

const adminWebhooks = HttpApiGroup.make("adminWebhooks")
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

const adminSecrets = HttpApiGroup.make("adminSecrets")
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

const Iso = Schema.String.annotations({ format: "date-time", description: "ISO 8601, UTC" })

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

const adminLists = HttpApiGroup.make("adminLists")
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

// ---------------------------------------------------------------------------------------------------------------
// Webhooks (Meta)

export const VerifyParams = Schema.Struct({
  "hub.mode": Schema.optional(Schema.String),
  "hub.verify_token": Schema.optional(Schema.String),
  "hub.challenge": Schema.optional(Schema.String)
})

export const WebhookEnvelope = Schema.Struct({
  object: Schema.optional(Schema.String),
  entry: Schema.Array(Schema.Unknown)
}).annotations({
  identifier: "WhatsAppWebhook",
  description: "Meta's webhook payload, signed with `X-Hub-Signature-256` over the raw bytes (up to 3 MB)",
  examples: [
    {
      object: "whatsapp_business_account",
      entry: [{ id: "102290129340398", changes: [{ field: "messages", value: { messaging_product: "whatsapp" } }] }]
    }
  ]
})

const webhooks = HttpApiGroup.make("webhooks")
  .add(
    HttpApiEndpoint.get("verifyWebhook", "/webhooks/whatsapp")
      .setUrlParams(VerifyParams)
      .addSuccess(HttpApiSchema.Text())
      .pipe(answers(403))
      .annotate(OpenApi.Summary, "Meta's verification handshake")
      .annotate(OpenApi.Description, "Echoes `hub.challenge` when `hub.verify_token` is `WHATSAPP_VERIFY_TOKEN`.")
  )
  .add(
    HttpApiEndpoint.post("receiveWebhook", "/webhooks/whatsapp")
      .setHeaders(Schema.Struct({ "x-hub-signature-256": Schema.optional(Schema.String) }))
      .setPayload(WebhookEnvelope)
      .addSuccess(Envelope(Schema.Struct({ delivery: Schema.Literal("stored", "duplicate") })))
      .pipe(answers(400, 401, 413, 415, 503))
      .annotate(OpenApi.Summary, "Receive Meta's webhooks")
      .annotate(
        OpenApi.Description,
        "Inbound messages and delivery statuses. The signature is checked over the raw body with " +
          "`WHATSAPP_APP_SECRET`; the delivery is stored durably and answered 200 without being processed: the " +
          "webhook worker then applies every item once (items the database refuses are set aside, see the admin " +
          "`webhook-dead-letters` endpoints)."
      )
  )
  .annotate(OpenApi.Title, "Webhooks")
  .annotate(OpenApi.Description, "Meta's WhatsApp webhooks: the verification handshake and signed deliveries.")

// ---------------------------------------------------------------------------------------------------------------
// Webhooks (Twilio)

export const TwilioWebhookForm = Schema.Record({ key: Schema.String, value: Schema.String })
  .pipe(HttpApiSchema.withEncoding({ kind: "UrlParams" }))
  .annotations({
    identifier: "TwilioWebhook",
    description:
      "Twilio's form-encoded webhook: an inbound WhatsApp message (`MessageSid`, `From`, `To`, `Body`, `NumMedia`, " +
      "`MediaUrl0`…) or a status callback (`MessageSid`, `MessageStatus`, `ErrorCode`…). Signed with " +
      "`X-Twilio-Signature` over the public URL Twilio called and the sorted parameters",
    examples: [
      {
        MessageSid: "SM0123456789abcdef0123456789abcdef",
        AccountSid: "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        From: "whatsapp:+15550001111",
        To: "whatsapp:+15550002222",
        Body: "Hi",
        NumMedia: "0",
        ProfileName: "Ana",
        WaId: "15550001111"
      }
    ]
  })

const twilioWebhooks = HttpApiGroup.make("twilioWebhooks")
  .add(
    HttpApiEndpoint.post("receiveTwilioWebhook", "/webhooks/twilio")
      .setHeaders(Schema.Struct({ "x-twilio-signature": Schema.optional(Schema.String) }))
      .setPayload(TwilioWebhookForm)
      .addSuccess(HttpApiSchema.Text({ contentType: "text/xml" }).annotations({ description: "`<Response/>`" }))
      .pipe(answers(403, 413, 415, 503))
      .annotate(OpenApi.Summary, "Receive Twilio's webhooks")
      .annotate(
        OpenApi.Description,
        "Inbound messages and status callbacks of Twilio numbers (set this URL as the sender's webhook in the " +
          "Twilio console; sends name it as their `StatusCallback`). The signature is checked with the auth token " +
          "of the Twilio number the webhook is for, over `PARLEY_PUBLIC_URL` + `/webhooks/twilio`; then the " +
          "delivery is stored durably and answered with an empty TwiML `<Response/>`, and the webhook worker " +
          "applies it like Meta's. A bad or missing signature, or a number no business registered, is 403 and " +
          "nothing is stored."
      )
  )
  .annotate(OpenApi.Title, "Twilio webhooks")
  .annotate(OpenApi.Description, "Twilio's signed, form-encoded WhatsApp webhooks.")

// ---------------------------------------------------------------------------------------------------------------
// Health

export const HealthJson = Schema.Struct({ status: Schema.String })

const health = HttpApiGroup.make("health")
  .add(
    HttpApiEndpoint.get("health", "/health")
      .addSuccess(HealthJson)
      .annotate(OpenApi.Summary, "Liveness")
      .annotate(OpenApi.Description, "Alive: the process answers.")
  )
  .add(
    HttpApiEndpoint.get("ready", "/ready")
      .addSuccess(HealthJson)
      .pipe(answers(503))
      .annotate(OpenApi.Summary, "Readiness")
      .annotate(OpenApi.Description, "Ready: the database answers. 503 otherwise.")
  )
  .annotate(OpenApi.Title, "Health")
  .annotate(OpenApi.Description, "Liveness and readiness probes for load balancers and orchestrators.")

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
