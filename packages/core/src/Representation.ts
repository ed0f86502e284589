/**
 * Conversations and messages as JSON (camelCase, ISO-8601 times): what the HTTP API returns and what events carry in
 * `data`, so a client parses one set of shapes. Schemas of plain strings and numbers, so encoding is cheap and
 * OpenAPI shows exactly what goes over the wire.
 */
import { type DateTime, Option, Schema } from "effect"
import type { Conversation } from "./Conversation.js"
import { ConversationMode, ConversationStatus } from "./Conversation.js"
import type { ConversationView } from "./Inbox.js"
import * as IsoTime from "./IsoTime.js"
import { MediaKind } from "./Media.js"
import { DeliveryStatus, type Message, MessageDirection, MessageType } from "./Message.js"

const Iso = Schema.String.annotations({ format: "date-time", description: "ISO 8601, UTC" })
const NullableIso = Schema.NullOr(Iso)

export const ConversationJson = Schema.Struct({
  id: Schema.String,
  businessId: Schema.String,
  whatsappNumberId: Schema.String,
  customerPhone: Schema.NullOr(Schema.String).annotations({ description: "E.164; null for a username-only contact" }),
  customerName: Schema.NullOr(Schema.String),
  status: ConversationStatus,
  mode: ConversationMode,
  unreadCount: Schema.Int,
  assignedUserId: Schema.NullOr(Schema.String),
  lastInboundAt: NullableIso,
  lastOutboundAt: NullableIso,
  lastActivityAt: Iso,
  windowClosesAt: NullableIso.annotations({
    description: "When the 24-hour customer service window closes; null when it is closed (send a template)"
  }),
  createdAt: Iso
}).annotations({ identifier: "Conversation" })
export type ConversationJson = typeof ConversationJson.Type

export const MessageJson = Schema.Struct({
  id: Schema.String,
  conversationId: Schema.String,
  direction: MessageDirection,
  messageType: MessageType,
  text: Schema.NullOr(Schema.String),
  deliveryStatus: DeliveryStatus,
  createdAt: Iso,
  template: Schema.NullOr(
    Schema.Struct({
      key: Schema.String,
      name: Schema.String,
      language: Schema.String,
      variables: Schema.Record({ key: Schema.String, value: Schema.String })
    })
  ),
  media: Schema.NullOr(
    Schema.Struct({
      providerMediaId: Schema.NullOr(Schema.String),
      url: Schema.NullOr(Schema.String),
      mimeType: Schema.NullOr(Schema.String),
      sha256: Schema.NullOr(Schema.String),
      filename: Schema.NullOr(Schema.String),
      kind: Schema.NullOr(MediaKind).annotations({
        description:
          "image, audio, video, document or sticker; download the file at GET /v1/messaging/messages/{id}/media"
      }),
      caption: Schema.NullOr(Schema.String),
      sizeBytes: Schema.NullOr(Schema.Int).annotations({ description: "When known (webhooks do not say)" }),
      voice: Schema.NullOr(Schema.Boolean).annotations({ description: "Audio: a recorded voice note" }),
      animated: Schema.NullOr(Schema.Boolean).annotations({ description: "Sticker: animated" })
    })
  ),
  content: Schema.NullOr(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
  failure: Schema.NullOr(Schema.Struct({ code: Schema.Int, title: Schema.String })),
  providerMessageId: Schema.NullOr(Schema.String),
  replyToProviderMessageId: Schema.NullOr(Schema.String)
}).annotations({ identifier: "Message" })
export type MessageJson = typeof MessageJson.Type

const iso = IsoTime.format
const isoOrNull = IsoTime.formatOrNull

export const conversationJson = (conversation: Conversation, windowClosesAt: Option.Option<DateTime.Utc>) => ({
  id: conversation.id,
  businessId: conversation.businessId,
  whatsappNumberId: conversation.whatsappNumberId,
  customerPhone: conversation.customerPhone,
  customerName: conversation.customerName,
  status: conversation.status,
  mode: conversation.mode,
  unreadCount: conversation.unreadCount,
  assignedUserId: conversation.assignedUserId,
  lastInboundAt: isoOrNull(conversation.lastInboundAt),
  lastOutboundAt: isoOrNull(conversation.lastOutboundAt),
  lastActivityAt: iso(conversation.lastActivityAt),
  windowClosesAt: Option.getOrNull(Option.map(windowClosesAt, iso)),
  createdAt: iso(conversation.createdAt)
})

export const viewJson = (view: ConversationView): ConversationJson =>
  conversationJson(view.conversation, view.windowClosesAt)

export const messageJson = (message: Message): MessageJson => ({
  id: message.id,
  conversationId: message.conversationId,
  direction: message.direction,
  messageType: message.messageType,
  text: message.text,
  deliveryStatus: message.deliveryStatus,
  createdAt: iso(message.createdAt),
  template:
    message.template === null
      ? null
      : {
          key: message.template.key,
          name: message.template.name,
          language: message.template.language,
          variables: message.template.variables
        },
  media:
    message.media === null
      ? null
      : {
          providerMediaId: message.media.providerMediaId,
          url: message.media.url,
          mimeType: message.media.mimeType,
          sha256: message.media.sha256,
          filename: message.media.filename,
          kind: message.media.kind ?? MediaKind.literals.find((kind) => kind === message.messageType) ?? null,
          caption: message.media.caption,
          sizeBytes: message.media.sizeBytes,
          voice: message.media.voice,
          animated: message.media.animated
        },
  content: message.content,
  failure: message.failure === null ? null : { code: message.failure.code, title: message.failure.title },
  providerMessageId: message.providerMessageId,
  replyToProviderMessageId: message.replyToProviderMessageId
})
