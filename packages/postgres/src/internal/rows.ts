/**
 * Row shapes of the inbox tables and their mapping to the core's models. The schemas are built once, here: decoding
 * is on every read path, and rebuilding a parser per call costs several times the decode itself.
 * Models are constructed with `new X(props, true)`, since the row schema has already validated every field.
 *
 * Conversations and messages, the rows of every list and read, first take a fast path (`./trusted.js`): plain
 * checks of what the driver returns, no Schema pass, a `DateTime` made straight from the driver's `Date`. A row it
 * does not recognise (an int8 as a string, a value out of its domain) goes through the row schema, which decodes it
 * or fails with the same `ParseError` as before.
 */
import {
  BusinessId,
  BusinessScopedUserId,
  Conversation,
  ConversationId,
  ConversationMode,
  ConversationStatus,
  DeliveryFailure,
  DeliveryStatus,
  E164,
  MediaReference,
  Message,
  MessageDirection,
  MessageId,
  MessageType,
  ParameterFormat,
  Template,
  TemplateCategory,
  TemplateComponent,
  TemplateId,
  TemplateStatus,
  TemplateUse,
  UserId,
  WhatsAppNumberId
} from "@parley/core"
import { Effect, Schema } from "effect"
import { Integer, Timestamp } from "./columns.js"
import { trusted } from "./trusted.js"

// ---------------------------------------------------------------------------------------------------------------
// Conversations

export const conversationColumns =
  "business_id, id, whatsapp_number_id, customer_phone, customer_user_id, customer_name, status, mode, " +
  "unread_count, assigned_user_id, last_inbound_at, last_outbound_at, last_activity_at, created_at"

export const ConversationRow = Schema.Struct({
  business_id: BusinessId,
  id: ConversationId,
  whatsapp_number_id: WhatsAppNumberId,
  customer_phone: Schema.NullOr(E164),
  customer_user_id: Schema.NullOr(BusinessScopedUserId),
  customer_name: Schema.NullOr(Schema.String),
  status: ConversationStatus,
  mode: ConversationMode,
  unread_count: Integer,
  assigned_user_id: Schema.NullOr(UserId),
  last_inbound_at: Schema.NullOr(Timestamp),
  last_outbound_at: Schema.NullOr(Timestamp),
  last_activity_at: Timestamp,
  created_at: Timestamp
})

const toConversation = (row: typeof ConversationRow.Type): Conversation =>
  new Conversation(
    {
      id: row.id,
      businessId: row.business_id,
      whatsappNumberId: row.whatsapp_number_id,
      customerPhone: row.customer_phone,
      customerUserId: row.customer_user_id,
      customerName: row.customer_name,
      status: row.status,
      mode: row.mode,
      unreadCount: row.unread_count,
      assignedUserId: row.assigned_user_id,
      lastInboundAt: row.last_inbound_at,
      lastOutboundAt: row.last_outbound_at,
      lastActivityAt: row.last_activity_at,
      createdAt: row.created_at
    },
    true
  )

const decodeConversationRows = Schema.decodeUnknown(Schema.Array(ConversationRow))

/** The row schema's decoding alone: what the fast path must agree with. */
export const checkedConversations = (rows: ReadonlyArray<unknown>) =>
  Effect.map(decodeConversationRows(rows), (decoded) => decoded.map(toConversation))

export const decodeConversations = (rows: ReadonlyArray<unknown>) => {
  const fast = trusted.conversations(rows)
  return fast === undefined ? checkedConversations(rows) : Effect.succeed(fast)
}

// ---------------------------------------------------------------------------------------------------------------
// Messages

export const messageColumns =
  "business_id, id, conversation_id, direction, message_type, text, template, media, content, " +
  "reply_to_provider_message_id, delivery_status, provider_message_id, failure_code, failure_title, created_at"

export const MessageRow = Schema.Struct({
  business_id: BusinessId,
  id: MessageId,
  conversation_id: ConversationId,
  direction: MessageDirection,
  message_type: MessageType,
  text: Schema.NullOr(Schema.String),
  template: Schema.NullOr(TemplateUse),
  media: Schema.NullOr(MediaReference),
  content: Schema.NullOr(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
  reply_to_provider_message_id: Schema.NullOr(Schema.String),
  delivery_status: DeliveryStatus,
  provider_message_id: Schema.NullOr(Schema.String),
  failure_code: Schema.NullOr(Integer),
  failure_title: Schema.NullOr(Schema.String),
  created_at: Timestamp
})

const toMessage = (row: typeof MessageRow.Type): Message =>
  new Message(
    {
      id: row.id,
      businessId: row.business_id,
      conversationId: row.conversation_id,
      direction: row.direction,
      messageType: row.message_type,
      text: row.text,
      template: row.template,
      media: row.media,
      content: row.content,
      replyToProviderMessageId: row.reply_to_provider_message_id,
      deliveryStatus: row.delivery_status,
      providerMessageId: row.provider_message_id,
      failure:
        row.failure_code === null
          ? null
          : new DeliveryFailure({ code: row.failure_code, title: row.failure_title ?? "" }, true),
      createdAt: row.created_at
    },
    true
  )

const decodeMessageRows = Schema.decodeUnknown(Schema.Array(MessageRow))

/** The row schema's decoding alone: what the fast path must agree with. */
export const checkedMessages = (rows: ReadonlyArray<unknown>) =>
  Effect.map(decodeMessageRows(rows), (decoded) => decoded.map(toMessage))

export const decodeMessages = (rows: ReadonlyArray<unknown>) => {
  const fast = trusted.messages(rows)
  return fast === undefined ? checkedMessages(rows) : Effect.succeed(fast)
}

// ---------------------------------------------------------------------------------------------------------------
// Templates

export const templateColumns = "business_id, id, key, name, language, category, status, parameter_format, components"

const TemplateRow = Schema.Struct({
  business_id: BusinessId,
  id: TemplateId,
  key: Schema.String,
  name: Schema.String,
  language: Schema.String,
  category: TemplateCategory,
  status: TemplateStatus,
  parameter_format: ParameterFormat,
  components: Schema.Array(TemplateComponent)
})

const toTemplate = (row: typeof TemplateRow.Type): Template =>
  new Template(
    {
      id: row.id,
      businessId: row.business_id,
      key: row.key,
      name: row.name,
      language: row.language,
      category: row.category,
      status: row.status,
      parameterFormat: row.parameter_format,
      components: row.components
    },
    true
  )

const decodeTemplateRows = Schema.decodeUnknown(Schema.Array(TemplateRow))

export const decodeTemplates = (rows: ReadonlyArray<unknown>) =>
  Effect.map(decodeTemplateRows(rows), (decoded) => decoded.map(toTemplate))
