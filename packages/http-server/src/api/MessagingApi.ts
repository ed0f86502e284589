/** The public messaging contract: conversations, their messages, sends (text, media, templates). */
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "@effect/platform"
import { ConversationMode, ConversationStatus, E164, Media, Text } from "@parley/core"
import { Schema } from "effect"
import { ErrorBody } from "../ApiError.js"
import {
  ConversationDetailPage,
  ConversationJson,
  ConversationsPage,
  Envelope,
  MessageJson
} from "../Representation.js"
import { ApiKeyAuth, RequiredScope } from "../Security.js"
import { answers, Limit, strict } from "./common.js"

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

export const messaging = HttpApiGroup.make("messaging")
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
