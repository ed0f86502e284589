/**
 * The port that stores conversations. Every method takes the business it acts for; none can read or change
 * another business's rows.
 */
import { Context, type Effect, type Option } from "effect"
import type { Conversation, ConversationMode, ConversationPatch, ConversationStatus } from "./Conversation.js"
import type { Position } from "./Cursor.js"
import type { CustomerIdentity } from "./Customer.js"
import type { BusinessId, ConversationId, UserId, WhatsAppNumberId } from "./Ids.js"
import type { StorageError } from "./StorageError.js"

export interface ConversationQuery {
  readonly status?: ConversationStatus
  readonly mode?: ConversationMode
  /** `{ _tag: "User" }` keeps conversations assigned to that user; `Unassigned` those assigned to nobody. */
  readonly assigned?: { readonly _tag: "User"; readonly userId: UserId } | { readonly _tag: "Unassigned" }
  /**
   * Matches a conversation when the customer name contains it, case-insensitively and literally (`%` and `_` are
   * plain characters), OR when it looks like a phone number (only digits, spaces, `+`, `-`, `(`, `)`, with at least
   * one digit) and the customer phone's digits contain its digits: `"ada"` finds "Ada Lovelace", `"+234 801"`
   * finds +2348012345678. `searchMatches` in `@parley/core/testing` is the reference implementation.
   */
  readonly search?: string
  /** Keyset position: only conversations strictly after it in (lastActivityAt desc, id desc) order. */
  readonly after?: Position
  readonly limit: number
}

export class ConversationRepository extends Context.Tag("@parley/core/ConversationRepository")<
  ConversationRepository,
  {
    /** Most recently active first (lastActivityAt desc, then id desc), at most `query.limit` rows. */
    readonly list: (
      businessId: BusinessId,
      query: ConversationQuery
    ) => Effect.Effect<ReadonlyArray<Conversation>, StorageError>

    readonly findById: (
      businessId: BusinessId,
      id: ConversationId
    ) => Effect.Effect<Option.Option<Conversation>, StorageError>

    /** The conversation of this number with this customer: matched by phone first, then by business-scoped id. */
    readonly findByCustomer: (
      businessId: BusinessId,
      whatsappNumberId: WhatsAppNumberId,
      customer: CustomerIdentity
    ) => Effect.Effect<Option.Option<Conversation>, StorageError>

    /**
     * Returns the existing conversation of `candidate`'s number and customer, or stores `candidate` as new.
     * Atomic: two concurrent calls for one customer yield one conversation. An existing one is returned unchanged.
     */
    readonly findOrCreate: (candidate: Conversation) => Effect.Effect<Conversation, StorageError>

    /** Applies an explicit change; `None` when no such conversation in this business. */
    readonly update: (
      businessId: BusinessId,
      id: ConversationId,
      patch: ConversationPatch
    ) => Effect.Effect<Option.Option<Conversation>, StorageError>

    /** unreadCount → 0 and the conversation's inbound messages → `read`, atomically. */
    readonly markRead: (
      businessId: BusinessId,
      id: ConversationId
    ) => Effect.Effect<Option.Option<Conversation>, StorageError>
  }
>() {}
