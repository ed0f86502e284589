/**
 * Messages of a conversation, both directions, and the delivery-status order that makes status updates safe to
 * apply in any order and any number of times.
 */
import { Schema } from "effect"
import { BusinessId, ConversationId, MessageId } from "./Ids.js"
import { MediaKind } from "./Media.js"

export const MessageDirection = Schema.Literal("inbound", "outbound")
export type MessageDirection = typeof MessageDirection.Type

export const MessageType = Schema.Literal(
  "text",
  "template",
  "image",
  "audio",
  "video",
  "document",
  "sticker",
  "location",
  "contacts",
  "interactive",
  "button",
  "reaction",
  "order",
  "system",
  "unsupported"
)
export type MessageType = typeof MessageType.Type

/**
 * Outbound: `pending` (recorded, not yet accepted by the provider) → `sent` → `delivered` → `read`, or `failed`.
 * Inbound: `delivered` on arrival, `read` once the business marks the conversation read.
 */
export const DeliveryStatus = Schema.Literal("pending", "sent", "delivered", "read", "failed")
export type DeliveryStatus = typeof DeliveryStatus.Type

const rank: Record<DeliveryStatus, number> = { pending: 0, sent: 1, delivered: 2, read: 3, failed: 4 }

/** The rank used by every adapter (SQL too): a status update applies only when it raises the rank. */
export const deliveryStatusRank = (status: DeliveryStatus): number => rank[status]

/**
 * The status after `next` is observed. A total order (`failed` on top, terminal) makes this a join: duplicates,
 * reordering and late arrivals all end in the same status. `read` without `delivered` is legal.
 */
export const advanceDeliveryStatus = (current: DeliveryStatus, next: DeliveryStatus): DeliveryStatus =>
  rank[next] > rank[current] ? next : current

// Fields added after the first release default to null, so references stored before them still decode.
const Later = <S extends Schema.Schema.Any>(schema: S) =>
  Schema.optionalWith(Schema.NullOr(schema), { default: () => null })

/**
 * A media attachment as the provider describes it. Parley stores the reference; the bytes stay with the provider
 * (and, when a media store is configured, in a copy) and are streamed on request.
 */
export class MediaReference extends Schema.Class<MediaReference>("MediaReference")({
  providerMediaId: Schema.NullOr(Schema.String),
  url: Schema.NullOr(Schema.String),
  mimeType: Schema.NullOr(Schema.String),
  sha256: Schema.NullOr(Schema.String),
  filename: Schema.NullOr(Schema.String),
  /** image, audio, video, document or sticker; null on references stored before it was kept. */
  kind: Later(MediaKind),
  caption: Later(Schema.String),
  /** The file's size in bytes, when the provider said (webhooks do not; a download does). */
  sizeBytes: Later(Schema.NonNegativeInt),
  /** Audio: a recorded voice note. */
  voice: Later(Schema.Boolean),
  /** Sticker: animated. */
  animated: Later(Schema.Boolean)
}) {}

/** Which template an outbound template message used, and with what values. */
export class TemplateUse extends Schema.Class<TemplateUse>("TemplateUse")({
  key: Schema.String,
  name: Schema.String,
  language: Schema.String,
  variables: Schema.Record({ key: Schema.String, value: Schema.String })
}) {}

/** Why a message failed, as the provider said it (e.g. Meta's code 131047 "Re-engagement message"). */
export class DeliveryFailure extends Schema.Class<DeliveryFailure>("DeliveryFailure")({
  code: Schema.Int,
  title: Schema.String
}) {}

export class Message extends Schema.Class<Message>("Message")({
  id: MessageId,
  businessId: BusinessId,
  conversationId: ConversationId,
  direction: MessageDirection,
  messageType: MessageType,
  /** Text body; for media, the caption; for a template, the rendered body; for a button, its text. */
  text: Schema.NullOr(Schema.String),
  template: Schema.NullOr(TemplateUse),
  media: Schema.NullOr(MediaReference),
  /** Type-specific details kept as the provider sent them (location, contacts, reaction, interactive reply…). */
  content: Schema.NullOr(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
  /** The provider message id this one replies to, if any. */
  replyToProviderMessageId: Schema.NullOr(Schema.String),
  deliveryStatus: DeliveryStatus,
  /** The provider's id (a `wamid`); null until the provider accepted an outbound message. */
  providerMessageId: Schema.NullOr(Schema.String),
  failure: Schema.NullOr(DeliveryFailure),
  /** Inbound: the message's own timestamp from the provider. Outbound: when Parley recorded it. */
  createdAt: Schema.DateTimeUtc
}) {}
