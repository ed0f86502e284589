/**
 * Events: what happened in a business's inbox, told to its own systems (the feed, the live stream, webhooks).
 *
 * One list of types, one envelope: a globally unique `id`, the `type`, the `businessId`, `occurredAt` (when Parley
 * recorded the change), and for everything that happens in a conversation its `conversationId` and a `sequence`
 * (1, 2, 3… per conversation, allocated in the transaction that records the change) so a consumer can order a
 * conversation's events and drop stale ones. `data` carries the API's own JSON shapes (`Representation`): a message
 * as in the conversation endpoint, a conversation as in the list.
 *
 * Storage records events in the same atomic step as the change they describe (a transactional outbox); the
 * builders below are what every adapter uses, so memory and SQL emit the very same events.
 */
import { type DateTime, Option, Schema } from "effect"
import type { Conversation } from "./Conversation.js"
import type { BusinessId, ConversationId } from "./Ids.js"
import * as IsoTime from "./IsoTime.js"
import type { Message } from "./Message.js"
import { ConversationJson, conversationJson, MessageJson, messageJson } from "./Representation.js"
import * as ServiceWindow from "./ServiceWindow.js"
import { type Template, TemplateCategory, TemplateStatus } from "./Template.js"

export const EventType = Schema.Literal(
  "message.received",
  "message.sent",
  "message.status_updated",
  "conversation.created",
  "conversation.updated",
  "template.status_updated"
)
export type EventType = typeof EventType.Type

/** Every type, in documentation order. */
export const eventTypes: ReadonlyArray<EventType> = EventType.literals

const Iso = Schema.String.annotations({ format: "date-time", description: "ISO 8601, UTC" })

/** A message event: the message, and (when the message changed it) its conversation as it now stands. */
export const MessageEventData = Schema.Struct({
  message: MessageJson,
  conversation: Schema.optional(ConversationJson)
}).annotations({ identifier: "MessageEventData" })
export type MessageEventData = typeof MessageEventData.Type

export const ConversationEventData = Schema.Struct({ conversation: ConversationJson }).annotations({
  identifier: "ConversationEventData"
})
export type ConversationEventData = typeof ConversationEventData.Type

export const TemplateStatusJson = Schema.Struct({
  id: Schema.String,
  key: Schema.String,
  name: Schema.String,
  language: Schema.String,
  category: TemplateCategory,
  status: TemplateStatus,
  previousStatus: Schema.NullOr(TemplateStatus).annotations({ description: "null for a template seen first" })
}).annotations({ identifier: "TemplateStatus" })

export const TemplateEventData = Schema.Struct({ template: TemplateStatusJson }).annotations({
  identifier: "TemplateEventData"
})
export type TemplateEventData = typeof TemplateEventData.Type

/** The `data` schema of each type: the single source of truth the envelope union is built from. */
export const dataSchemas = {
  "message.received": MessageEventData,
  "message.sent": MessageEventData,
  "message.status_updated": MessageEventData,
  "conversation.created": ConversationEventData,
  "conversation.updated": ConversationEventData,
  "template.status_updated": TemplateEventData
} as const satisfies Record<EventType, Schema.Schema.AnyNoContext>

const descriptions = {
  "message.received": "A customer's message was stored (with its conversation as it now stands)",
  "message.sent": "An outbound message was recorded, before the provider is called (deliveryStatus pending)",
  "message.status_updated": "A message's delivery status rose: sent, delivered, read or failed (with the failure)",
  "conversation.created": "A conversation was started (by a new customer's first message, or by the API)",
  "conversation.updated": "A conversation's status, mode, assignee or unread count was changed explicitly",
  "template.status_updated": "A template's review status changed (template sync, or Meta's status webhook)"
} as const satisfies Record<EventType, string>

const identifierOf = (type: EventType) =>
  `${type
    .split(/[._]/)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join("")}Event`

const envelope = <T extends EventType>(type: T) =>
  Schema.Struct({
    id: Schema.UUID,
    type: Schema.Literal(type),
    businessId: Schema.String,
    occurredAt: Iso,
    conversationId: Schema.NullOr(Schema.String).annotations({ description: "null for template events" }),
    sequence: Schema.NullOr(Schema.Int).annotations({
      description: "1, 2, 3… per conversation, in the order the changes were made; null for template events"
    }),
    data: dataSchemas[type]
  }).annotations({ identifier: identifierOf(type), description: descriptions[type] })

export const MessageReceivedEvent = envelope("message.received")
export const MessageSentEvent = envelope("message.sent")
export const MessageStatusUpdatedEvent = envelope("message.status_updated")
export const ConversationCreatedEvent = envelope("conversation.created")
export const ConversationUpdatedEvent = envelope("conversation.updated")
export const TemplateStatusUpdatedEvent = envelope("template.status_updated")

/** Each type's envelope: the feed, the stream and the webhook deliveries all document and send these shapes. */
export const eventSchemas = {
  "message.received": MessageReceivedEvent,
  "message.sent": MessageSentEvent,
  "message.status_updated": MessageStatusUpdatedEvent,
  "conversation.created": ConversationCreatedEvent,
  "conversation.updated": ConversationUpdatedEvent,
  "template.status_updated": TemplateStatusUpdatedEvent
} as const satisfies Record<EventType, Schema.Schema.AnyNoContext>

/** An event as it is stored and sent: plain JSON (its encoded and decoded forms are the same). */
export const Event = Schema.Union(
  MessageReceivedEvent,
  MessageSentEvent,
  MessageStatusUpdatedEvent,
  ConversationCreatedEvent,
  ConversationUpdatedEvent,
  TemplateStatusUpdatedEvent
).annotations({ identifier: "Event" })
export type Event = typeof Event.Type

/** An event before storage gives it an id, a time and its sequence. */
export type PendingEvent = {
  readonly [T in EventType]: {
    readonly type: T
    readonly businessId: BusinessId
    readonly conversationId: ConversationId | null
    readonly data: (typeof dataSchemas)[T]["Type"]
  }
}[EventType]

/** The conversation as the list returns it, at `now` (the window is computed as of the event). */
const conversationAt = (conversation: Conversation, now: DateTime.Utc) =>
  conversationJson(conversation, ServiceWindow.openUntil(Option.fromNullable(conversation.lastInboundAt), now))

export const messageEvent = (
  type: "message.received" | "message.sent" | "message.status_updated",
  message: Message,
  conversation: Conversation | undefined,
  now: DateTime.Utc
): PendingEvent => ({
  type,
  businessId: message.businessId,
  conversationId: message.conversationId,
  data:
    conversation === undefined
      ? { message: messageJson(message) }
      : { message: messageJson(message), conversation: conversationAt(conversation, now) }
})

export const conversationEvent = (
  type: "conversation.created" | "conversation.updated",
  conversation: Conversation,
  now: DateTime.Utc
): PendingEvent => ({
  type,
  businessId: conversation.businessId,
  conversationId: conversation.id,
  data: { conversation: conversationAt(conversation, now) }
})

/** A template's status changed (or a template was seen for the first time): `None` when the status is the same. */
export const templateStatusEvent = (
  template: Template,
  previousStatus: TemplateStatus | null
): Option.Option<PendingEvent> =>
  previousStatus === template.status
    ? Option.none()
    : Option.some({
        type: "template.status_updated",
        businessId: template.businessId,
        conversationId: null,
        data: {
          template: {
            id: template.id,
            key: template.key,
            name: template.name,
            language: template.language,
            category: template.category,
            status: template.status,
            previousStatus
          }
        }
      })

/** The event as stored: `pending` with its id, time and sequence. */
export const complete = (
  pending: PendingEvent,
  fields: { readonly id: string; readonly occurredAt: DateTime.Utc; readonly sequence: number | null }
): Event =>
  ({
    id: fields.id,
    type: pending.type,
    businessId: pending.businessId,
    occurredAt: IsoTime.format(fields.occurredAt),
    conversationId: pending.conversationId,
    sequence: fields.sequence,
    data: pending.data
  }) as Event
