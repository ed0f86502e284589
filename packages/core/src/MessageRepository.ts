/**
 * The port that stores messages, together with the conversation changes that must happen atomically with them.
 * Every method takes the business it acts for.
 */
import { Context, Data, type DateTime, type Effect, type Option } from "effect"
import type { Conversation } from "./Conversation.js"
import type { Position } from "./Cursor.js"
import type { BusinessId, ConversationId, MessageId } from "./Ids.js"
import type { DeliveryFailure, DeliveryStatus, Message } from "./Message.js"
import type { StorageError } from "./StorageError.js"

/** What recording an inbound message did. A redelivered message is a value, not an error. */
export type InboundRecorded = Data.TaggedEnum<{
  Recorded: { readonly message: Message; readonly conversation: Conversation }
  Duplicate: { readonly messageId: MessageId }
}>
export const InboundRecorded = Data.taggedEnum<InboundRecorded>()

/** A conversation with a page of its messages, newest first (`MessageRepository.findWithHistory`). */
export interface ConversationWithHistory {
  readonly conversation: Conversation
  readonly messages: ReadonlyArray<Message>
}

/** A provider status report for one outbound (or inbound) message. */
export interface StatusUpdate {
  readonly providerMessageId: string
  readonly status: Exclude<DeliveryStatus, "pending">
  readonly timestamp: DateTime.Utc
  readonly failure: Option.Option<DeliveryFailure>
  /** Our message id, when the provider echoed it back (Meta's `biz_opaque_callback_data`). */
  readonly messageId: Option.Option<MessageId>
}

export type StatusApplied = Data.TaggedEnum<{
  /** The status raised the message's rank. */
  Applied: { readonly message: Message }
  /** Duplicate or stale (out of order): the message already had this status or a later one. */
  Unchanged: { readonly message: Message }
  /** No message has this provider id yet: the update is kept and applied when the id is recorded. */
  Parked: {}
}>
export const StatusApplied = Data.taggedEnum<StatusApplied>()

/** An inbound message to record, with the conversation it belongs to (see `recordInbound`). */
export interface InboundRecord {
  readonly conversation: Conversation
  readonly message: Message
  readonly customerName: Option.Option<string>
  readonly opensWindow: boolean
}

export interface OutboundRecord {
  /** The message to store, in status `pending`, with no provider id yet. */
  readonly message: Message
  /** The Idempotency-Key the send was claimed under, so the key can point at its message. */
  readonly idempotencyKey: Option.Option<string>
}

export class MessageRepository extends Context.Tag("@parley/core/MessageRepository")<
  MessageRepository,
  {
    /**
     * Stores an inbound message and updates its conversation in one atomic step: `lastInboundAt` and
     * `lastActivityAt` never move backwards, `unreadCount + 1`, status → `open`, and the customer name when given.
     * When `opensWindow` is false (system notices), `lastInboundAt` is left alone.
     * Deduplicated by (business, provider message id): a duplicate changes nothing.
     *
     * `conversation` is the customer's conversation, or a new one for a customer who has none on this number yet:
     * it is then stored in the same atomic step (as `ConversationRepository.findOrCreate` would), so a failure can
     * never leave a conversation without its first message. The message belongs to the conversation that exists
     * for the customer, whatever `message.conversationId` says.
     */
    readonly recordInbound: (input: InboundRecord) => Effect.Effect<InboundRecorded, StorageError>

    /**
     * `recordInbound` for a batch, in arrival order, in one atomic step: all are stored or none. A message whose
     * provider id is already stored, or repeats an earlier one of the batch, is `Duplicate`. The conversation in a
     * `Recorded` is as it stands after the whole batch. An adapter should do it in a few set-based statements, not
     * one round trip per message (a webhook delivery may hold thousands).
     */
    readonly recordInboundBatch: (
      records: ReadonlyArray<InboundRecord>
    ) => Effect.Effect<ReadonlyArray<InboundRecorded>, StorageError>

    /**
     * Stores an outbound message (status `pending`) before the provider is called, updates its conversation
     * (`lastOutboundAt`, `lastActivityAt`, status → `pending_customer`) and links the idempotency key, atomically.
     */
    readonly recordOutbound: (record: OutboundRecord) => Effect.Effect<Message, StorageError>

    /**
     * The provider accepted the message: stores its provider id, raises the status to `sent`, then applies any
     * parked status updates for that id. `None` when the message does not exist in this business.
     *
     * With `idempotencyKey`, the same write completes that key with `Sent` and the message as marked (what
     * `IdempotencyStore.complete` would store), so the send's last step costs no write of its own; when the message
     * does not exist, the key is left as it was.
     */
    readonly markSent: (
      businessId: BusinessId,
      id: MessageId,
      providerMessageId: string,
      idempotencyKey?: string
    ) => Effect.Effect<Option.Option<Message>, StorageError>

    /** The provider refused the message: status → `failed` with the reason. */
    readonly markFailed: (
      businessId: BusinessId,
      id: MessageId,
      failure: DeliveryFailure
    ) => Effect.Effect<Option.Option<Message>, StorageError>

    /**
     * Applies a provider status in one atomic step, only if it raises the rank (`advanceDeliveryStatus`); a failure
     * reason is kept with `failed`. Found by provider id, else by `messageId` (which then also records the
     * provider id); otherwise parked.
     */
    readonly applyStatus: (businessId: BusinessId, update: StatusUpdate) => Effect.Effect<StatusApplied, StorageError>

    /**
     * `applyStatus` for a batch (a webhook delivery's statuses), in order: each outcome is what `applyStatus` would
     * have answered for that update after the ones before it (a later status of the batch raises a message an
     * earlier one already raised; a stale one is `Unchanged`; one whose message is unknown is parked or linked by
     * our message id). An adapter should apply the statuses of known messages in a few set-based statements, not
     * one round trip per update; it may apply the batch atomically or update by update.
     */
    readonly applyStatuses: (
      businessId: BusinessId,
      updates: ReadonlyArray<StatusUpdate>
    ) => Effect.Effect<ReadonlyArray<StatusApplied>, StorageError>

    /**
     * Fails, with `failure`, at most `limit` outbound messages (of any business) that are still `pending` and were
     * created at or before `cutoff`, each in one atomic step that applies only while it is still `pending`, so
     * any number of concurrent callers (other processes included) fail each message once and never overwrite a
     * status that arrived meanwhile. Returns the messages it failed. The sweeper of unconfirmed sends.
     */
    readonly expireUnconfirmed: (input: {
      readonly cutoff: DateTime.Utc
      readonly failure: DeliveryFailure
      readonly limit: number
    }) => Effect.Effect<ReadonlyArray<Message>, StorageError>

    readonly findById: (businessId: BusinessId, id: MessageId) => Effect.Effect<Option.Option<Message>, StorageError>

    /** Newest first (createdAt desc, id desc), strictly after `before` when given, at most `limit`. */
    readonly listByConversation: (
      businessId: BusinessId,
      conversationId: ConversationId,
      page: { readonly before?: Position; readonly limit: number }
    ) => Effect.Effect<ReadonlyArray<Message>, StorageError>

    /**
     * The business's conversation with a page of its messages as `listByConversation` pages them, or none when the
     * business has no such conversation: what `ConversationRepository.findById` and `listByConversation` answer,
     * which a storage may read together (PostgreSQL: one round trip for the inbox's most frequent read).
     */
    readonly findWithHistory: (
      businessId: BusinessId,
      conversationId: ConversationId,
      page: { readonly before?: Position; readonly limit: number }
    ) => Effect.Effect<Option.Option<ConversationWithHistory>, StorageError>
  }
>() {}
