/**
 * What the inbox's use cases answer, and how they fail: the views of conversations, a send's receipt, and the
 * errors of their own.
 */
import type { DateTime, Option } from "effect"
import { Schema } from "effect"
import type { MissingScope } from "./Actor.js"
import type { Conversation, ConversationNotFound } from "./Conversation.js"
import type * as Idempotency from "./Idempotency.js"
import { UserId } from "./Ids.js"
import type { InvalidRequest } from "./InvalidRequest.js"
import type { Message } from "./Message.js"
import type { ProviderMisconfigured, ProviderRateLimited, ProviderUnavailable } from "./MessagingGateway.js"
import type * as ServiceWindow from "./ServiceWindow.js"
import type { StorageError } from "./StorageError.js"
import type { TemplateNotApproved, TemplateNotFound, TemplateVariablesInvalid } from "./Template.js"
import type { WhatsAppNumberNotFound } from "./WhatsAppNumber.js"

/** A conversation as callers see it: with when its 24-hour window closes (`None` when closed). */
export interface ConversationView {
  readonly conversation: Conversation
  readonly windowClosesAt: Option.Option<DateTime.Utc>
}

export interface ConversationPage {
  readonly conversations: ReadonlyArray<ConversationView>
  /** Pass as `cursor` for the next page; `None` on the last page. */
  readonly nextCursor: Option.Option<string>
}

export interface ConversationDetail extends ConversationView {
  /** Newest first. */
  readonly messages: ReadonlyArray<Message>
  /** Pass as `before` for older messages; `None` when there are none. */
  readonly olderCursor: Option.Option<string>
}

/**
 * The outcome of a send: the accepted message, or the provider's final refusal; `replayed` when it is the stored
 * outcome of an earlier request with the same Idempotency-Key.
 */
export interface SendReceipt {
  readonly outcome: Idempotency.Outcome
  readonly replayed: boolean
}

/** `assigned=me` needs an actor that is a user. */
export class AssignedToMeRequiresUser extends Schema.TaggedError<AssignedToMeRequiresUser>()(
  "AssignedToMeRequiresUser",
  {}
) {
  override get message() {
    return "assigned=me needs an API key that belongs to a user"
  }
}

/** The user to assign is not a user of this business. */
export class AssigneeNotFound extends Schema.TaggedError<AssigneeNotFound>()("AssigneeNotFound", {
  userId: UserId
}) {
  override get message() {
    return "no such user in this business"
  }
}

/** Provider failures that happened before the provider accepted or refused the message: the key is released. */
export type ProviderNotReached = ProviderRateLimited | ProviderMisconfigured | ProviderUnavailable

export type SendTextError =
  | MissingScope
  | InvalidRequest
  | ConversationNotFound
  | WhatsAppNumberNotFound
  | ServiceWindow.ServiceWindowClosed
  | Idempotency.IdempotencyKeyReused
  | Idempotency.IdempotencyKeyInFlight
  | ProviderNotReached
  | StorageError

export type SendTemplateError =
  | MissingScope
  | InvalidRequest
  | WhatsAppNumberNotFound
  | TemplateNotFound
  | TemplateNotApproved
  | TemplateVariablesInvalid
  | Idempotency.IdempotencyKeyReused
  | Idempotency.IdempotencyKeyInFlight
  | ProviderNotReached
  | StorageError
