/**
 * A conversation between one business WhatsApp number and one customer, and the rules for its status.
 *
 * Status transitions:
 * - a customer message makes it `open` (a `resolved` conversation reopens);
 * - a business reply (text or template) makes it `pending_customer`;
 * - anything else changes only through `Inbox.updateConversation`.
 */
import { DateTime, Option, Schema } from "effect"
import { BusinessScopedUserId } from "./Customer.js"
import { BusinessId, ConversationId, UserId, WhatsAppNumberId } from "./Ids.js"
import { E164 } from "./Phone.js"

export const ConversationStatus = Schema.Literal("open", "pending_customer", "resolved")
export type ConversationStatus = typeof ConversationStatus.Type

/** Who handles the conversation: an AI agent or a human. Parley records it; it routes nothing by itself. */
export const ConversationMode = Schema.Literal("ai", "human")
export type ConversationMode = typeof ConversationMode.Type

export class Conversation extends Schema.Class<Conversation>("Conversation")({
  id: ConversationId,
  businessId: BusinessId,
  whatsappNumberId: WhatsAppNumberId,
  customerPhone: Schema.NullOr(E164),
  /** Meta's business-scoped user id, when known (2026 usernames). */
  customerUserId: Schema.NullOr(BusinessScopedUserId),
  customerName: Schema.NullOr(Schema.String),
  status: ConversationStatus,
  mode: ConversationMode,
  unreadCount: Schema.NonNegativeInt,
  assignedUserId: Schema.NullOr(UserId),
  /** The newest customer message's own timestamp (not its arrival time): the 24-hour window runs from here. */
  lastInboundAt: Schema.NullOr(Schema.DateTimeUtc),
  lastOutboundAt: Schema.NullOr(Schema.DateTimeUtc),
  /** The newest message either way; lists sort by it. */
  lastActivityAt: Schema.DateTimeUtc,
  createdAt: Schema.DateTimeUtc
}) {}

/** The status after a customer message arrives. */
export const statusAfterCustomerMessage = (_current: ConversationStatus): ConversationStatus => "open"

/** The status after the business replies. */
export const statusAfterBusinessReply = (_current: ConversationStatus): ConversationStatus => "pending_customer"

const maxTime = (a: DateTime.Utc | null, b: DateTime.Utc): DateTime.Utc =>
  a === null ? b : DateTime.greaterThanOrEqualTo(a, b) ? a : b

/**
 * The conversation after a customer message with timestamp `at`. A late-arriving older message never moves
 * `lastInboundAt` backwards.
 */
export const applyInbound = (
  conversation: Conversation,
  at: DateTime.Utc,
  customerName: Option.Option<string>
): Conversation =>
  new Conversation(
    {
      ...conversation,
      customerName: Option.getOrElse(customerName, () => conversation.customerName),
      status: statusAfterCustomerMessage(conversation.status),
      unreadCount: conversation.unreadCount + 1,
      lastInboundAt: maxTime(conversation.lastInboundAt, at),
      lastActivityAt: maxTime(conversation.lastActivityAt, at)
    },
    true
  )

/** The conversation after the business sends a message at `at`. */
export const applyOutbound = (conversation: Conversation, at: DateTime.Utc): Conversation =>
  new Conversation(
    {
      ...conversation,
      status: statusAfterBusinessReply(conversation.status),
      lastOutboundAt: maxTime(conversation.lastOutboundAt, at),
      lastActivityAt: maxTime(conversation.lastActivityAt, at)
    },
    true
  )

/** Explicit changes through `Inbox.updateConversation`; `assignedUserId: null` unassigns. */
export class ConversationPatch extends Schema.Class<ConversationPatch>("ConversationPatch")({
  status: Schema.optional(ConversationStatus),
  mode: Schema.optional(ConversationMode),
  assignedUserId: Schema.optional(Schema.NullOr(UserId))
}) {}

export const applyPatch = (conversation: Conversation, patch: ConversationPatch): Conversation =>
  new Conversation(
    {
      ...conversation,
      status: patch.status ?? conversation.status,
      mode: patch.mode ?? conversation.mode,
      assignedUserId: patch.assignedUserId === undefined ? conversation.assignedUserId : patch.assignedUserId
    },
    true
  )

export class ConversationNotFound extends Schema.TaggedError<ConversationNotFound>()("ConversationNotFound", {
  conversationId: Schema.String
}) {
  override get message() {
    return "conversation not found"
  }
}
