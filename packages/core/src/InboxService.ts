/**
 * The `Inbox` service: what an application calls, each use case with its scope, its answer and every error it can
 * fail with. `Inbox.ts` builds it from the ports.
 */
import { Context, type Duration, type Effect } from "effect"
import type { Actor, MissingScope } from "./Actor.js"
import type { ConversationMode, ConversationNotFound } from "./Conversation.js"
import type * as Cursor from "./Cursor.js"
import type * as Idempotency from "./Idempotency.js"
import type { InboundMessage } from "./Inbound.js"
import type {
  GetConversationInput,
  ListConversationsInput,
  SendOptions,
  SendTemplateInput,
  SendTextInput,
  UpdateConversationInput
} from "./InboxInputs.js"
import type {
  AssignedToMeRequiresUser,
  AssigneeNotFound,
  ConversationDetail,
  ConversationPage,
  ConversationView,
  SendReceipt,
  SendTemplateError,
  SendTextError
} from "./InboxResults.js"
import type { InvalidRequest } from "./InvalidRequest.js"
import type * as Media from "./Media.js"
import type { InboundRecorded, StatusApplied, StatusUpdate } from "./MessageRepository.js"
import type { StorageError } from "./StorageError.js"
import type { WhatsAppNumber } from "./WhatsAppNumber.js"

export interface InboxOptions {
  readonly idempotency?: Idempotency.Policy
  /** The mode of a conversation Parley creates. Default `human`. */
  readonly defaultMode?: ConversationMode
  /** Whether `markRead` also sends the customer a read receipt through the provider. Default true. */
  readonly sendReadReceipts?: boolean
  /**
   * How long a send whose outcome is unknown may stay `pending` before `expireUnconfirmedSends` fails it.
   * Default `Idempotency.defaultUnconfirmedTimeout` (15 minutes). Keep it well under the keys' retention, so a
   * key outlives its send's timeout, and well over a send attempt's duration.
   */
  readonly unconfirmedSendTimeout?: Duration.DurationInput
}

export class Inbox extends Context.Tag("@parley/core/Inbox")<
  Inbox,
  {
    /** Most recently active first, filtered, one keyset page. Scope `messaging:conversations:read`. */
    readonly listConversations: (
      actor: Actor,
      input: ListConversationsInput
    ) => Effect.Effect<
      ConversationPage,
      MissingScope | InvalidRequest | Cursor.InvalidCursor | AssignedToMeRequiresUser | StorageError
    >

    /** One conversation with its newest messages, older ones by `before`. Scope `messaging:messages:read`. */
    readonly getConversation: (
      actor: Actor,
      conversationId: string,
      input?: GetConversationInput
    ) => Effect.Effect<
      ConversationDetail,
      MissingScope | InvalidRequest | Cursor.InvalidCursor | ConversationNotFound | StorageError
    >

    /** A free-form text inside the 24-hour window. Scope `messaging:messages:send`. */
    readonly sendText: (
      actor: Actor,
      conversationId: string,
      input: SendTextInput,
      options?: SendOptions
    ) => Effect.Effect<SendReceipt, SendTextError>

    /**
     * An image, audio, video, document or sticker inside the 24-hour window, by a link or an uploaded media id.
     * Idempotent like `sendText`. Scope `messaging:messages:send`.
     */
    readonly sendMedia: (
      actor: Actor,
      conversationId: string,
      input: Media.SendMediaInput,
      options?: SendOptions
    ) => Effect.Effect<SendReceipt, SendTextError>

    /**
     * An approved template to a phone number, at any time; starts the conversation when there is none.
     * Scope `messaging:messages:send`.
     */
    readonly sendTemplate: (
      actor: Actor,
      input: SendTemplateInput,
      options?: SendOptions
    ) => Effect.Effect<SendReceipt, SendTemplateError>

    /** Customer messages from the provider, in arrival order; redeliveries are reported as `Duplicate`. */
    readonly receiveInbound: (
      number: WhatsAppNumber,
      messages: ReadonlyArray<InboundMessage>
    ) => Effect.Effect<ReadonlyArray<InboundRecorded>, StorageError>

    /** Provider status reports; duplicates, reordering and early arrivals are harmless. */
    readonly applyDeliveryStatus: (
      number: WhatsAppNumber,
      updates: ReadonlyArray<StatusUpdate>
    ) => Effect.Effect<ReadonlyArray<StatusApplied>, StorageError>

    /**
     * The sweeper (all businesses): every outbound message still `pending` once `unconfirmedSendTimeout` has passed
     * since it was recorded (now − createdAt ≥ timeout, by `Clock`) becomes `failed` with
     * `Idempotency.unconfirmedExpiry`. Nothing is resent. Safe to run from several processes at once. Returns how
     * many it failed.
     */
    readonly expireUnconfirmedSends: () => Effect.Effect<number, StorageError>

    /** Status, mode or assignment (null unassigns). Scope `messaging:conversations:write`. */
    readonly updateConversation: (
      actor: Actor,
      conversationId: string,
      input: UpdateConversationInput
    ) => Effect.Effect<
      ConversationView,
      MissingScope | InvalidRequest | ConversationNotFound | AssigneeNotFound | StorageError
    >

    /** unreadCount → 0, inbound messages → read. Scope `messaging:conversations:write`. */
    readonly markRead: (
      actor: Actor,
      conversationId: string
    ) => Effect.Effect<ConversationView, MissingScope | ConversationNotFound | StorageError>
  }
>() {}
