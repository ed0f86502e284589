/**
 * The inputs of the inbox's use cases. The core decodes them itself, so an embedder gets the same validation as the
 * HTTP API.
 */
import { Schema } from "effect"
import { ConversationMode, ConversationStatus } from "./Conversation.js"
import { UserId } from "./Ids.js"
import { E164 } from "./Phone.js"
import { NonBlank, Storable } from "./Text.js"

export const ListConversationsInput = Schema.Struct({
  status: Schema.optional(ConversationStatus),
  mode: Schema.optional(ConversationMode),
  assigned: Schema.optional(Schema.Literal("me", "unassigned")),
  search: Schema.optional(Storable.pipe(Schema.minLength(1), Schema.maxLength(100))),
  limit: Schema.optional(Schema.Int.pipe(Schema.between(1, 200))),
  cursor: Schema.optional(Storable.pipe(Schema.maxLength(512)))
})
export type ListConversationsInput = typeof ListConversationsInput.Encoded

export const GetConversationInput = Schema.Struct({
  messagesLimit: Schema.optional(Schema.Int.pipe(Schema.between(1, 200))),
  before: Schema.optional(Storable.pipe(Schema.maxLength(512)))
})
export type GetConversationInput = typeof GetConversationInput.Encoded

export const SendTextInput = Schema.Struct({
  text: NonBlank.pipe(Schema.minLength(1), Schema.maxLength(4096))
})
export type SendTextInput = typeof SendTextInput.Encoded

export const SendTemplateInput = Schema.Struct({
  whatsappNumberId: Storable,
  phone: E164,
  templateKey: Storable.pipe(Schema.minLength(1), Schema.maxLength(512)),
  customerName: Schema.optional(NonBlank.pipe(Schema.maxLength(256))),
  variables: Schema.optional(Schema.Record({ key: Storable, value: Storable }))
})
export type SendTemplateInput = typeof SendTemplateInput.Encoded

export const UpdateConversationInput = Schema.Struct({
  status: Schema.optional(ConversationStatus),
  mode: Schema.optional(ConversationMode),
  assignedUserId: Schema.optional(Schema.NullOr(UserId))
})
export type UpdateConversationInput = typeof UpdateConversationInput.Encoded

export interface SendOptions {
  /** The client's Idempotency-Key: a retry with the same key never sends twice. */
  readonly idempotencyKey?: string | undefined
}
