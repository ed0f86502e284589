/**
 * The read paths' fast decoding of conversation and message rows. The database already holds every guarantee the
 * row schemas check (uuid columns, CHECK constraints on the enums and counts, NOT NULL): what is left is to see that
 * the driver returned the JavaScript types expected, with plain `typeof` checks, and to build the models directly.
 * A Schema pass per field per row was most of a list request's CPU time and garbage.
 *
 * Anything unexpected makes the whole batch `undefined`, and `rows.ts` then decodes it with the row schema, which
 * accepts the drivers' other spellings (an int8 as a string or bigint) or fails with a `ParseError` naming the
 * field. So this module can only be faster than the schema, never more lenient.
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
  TemplateUse,
  UserId,
  WhatsAppNumberId
} from "@parley/core"
import { DateTime, Either, Schema } from "effect"

/** Thrown (and caught in this module) when a value is not what the fast path expects. */
const mismatch: unique symbol = Symbol("mismatch")

const text = (value: unknown): string => {
  if (typeof value === "string") return value
  throw mismatch
}

const textOrNull = (value: unknown): string | null => (value === null ? null : text(value))

const uuid = (value: unknown): string => {
  // A uuid column: the driver returns its canonical text; the length check catches a column mix-up.
  if (typeof value === "string" && value.length === 36) return value
  throw mismatch
}

const uuidOrNull = (value: unknown): string | null => (value === null ? null : uuid(value))

const time = (value: unknown): DateTime.Utc => {
  if (value instanceof Date && !Number.isNaN(value.getTime())) return DateTime.unsafeFromDate(value)
  throw mismatch
}

const timeOrNull = (value: unknown): DateTime.Utc | null => (value === null ? null : time(value))

/** An `integer` column: both drivers return a number. */
const int = (value: unknown): number => {
  if (typeof value === "number" && Number.isSafeInteger(value)) return value
  throw mismatch
}

const literal = <L extends string>(literals: ReadonlyArray<L>) => {
  // A set, not a search of the array: this runs for several columns of every row read.
  const known: ReadonlySet<unknown> = new Set(literals)
  const isLiteral = (value: unknown): value is L => known.has(value)
  return (value: unknown): L => {
    if (isLiteral(value)) return value
    throw mismatch
  }
}

const status = literal(ConversationStatus.literals)
const mode = literal(ConversationMode.literals)
const direction = literal(MessageDirection.literals)
const messageType = literal(MessageType.literals)
const deliveryStatus = literal(DeliveryStatus.literals)

// The checks of E164 and BusinessScopedUserId, which no column constraint repeats.
const e164Pattern = /^\+[1-9]\d{7,14}$/

const phoneOrNull = (value: unknown) => {
  if (value === null) return null
  const phone = text(value)
  if (!e164Pattern.test(phone)) throw mismatch
  return E164.make(phone, true)
}

const customerUserIdOrNull = (value: unknown) => {
  if (value === null) return null
  const id = text(value)
  if (id.length < 1 || id.length > 256) throw mismatch
  return BusinessScopedUserId.make(id, true)
}

/** A jsonb object (not an array). */
const recordOrNull = (value: unknown): { readonly [key: string]: unknown } | null => {
  if (value === null) return null
  if (typeof value === "object" && !Array.isArray(value)) return { ...value }
  throw mismatch
}

// Template and media references are small nested jsonb, on few messages: their own schemas check them.
const decodeTemplateUse = Schema.decodeUnknownEither(TemplateUse)
const decodeMedia = Schema.decodeUnknownEither(MediaReference)

const nested =
  <A>(decode: (value: unknown) => Either.Either<A, unknown>) =>
  (value: unknown): A | null => {
    if (value === null) return null
    const decoded = decode(value)
    if (Either.isLeft(decoded)) throw mismatch
    return decoded.right
  }

const templateOrNull = nested(decodeTemplateUse)
const mediaOrNull = nested(decodeMedia)

type Row = { readonly [column: string]: unknown }

const isRow = (value: unknown): value is Row => typeof value === "object" && value !== null

const conversation = (row: Row): Conversation => {
  const unreadCount = int(row.unread_count)
  if (unreadCount < 0) throw mismatch
  return new Conversation(
    {
      id: ConversationId.make(uuid(row.id), true),
      businessId: BusinessId.make(uuid(row.business_id), true),
      whatsappNumberId: WhatsAppNumberId.make(uuid(row.whatsapp_number_id), true),
      customerPhone: phoneOrNull(row.customer_phone),
      customerUserId: customerUserIdOrNull(row.customer_user_id),
      customerName: textOrNull(row.customer_name),
      status: status(row.status),
      mode: mode(row.mode),
      unreadCount,
      assignedUserId: ((id) => (id === null ? null : UserId.make(id, true)))(uuidOrNull(row.assigned_user_id)),
      lastInboundAt: timeOrNull(row.last_inbound_at),
      lastOutboundAt: timeOrNull(row.last_outbound_at),
      lastActivityAt: time(row.last_activity_at),
      createdAt: time(row.created_at)
    },
    true
  )
}

const message = (row: Row): Message => {
  const failureCode = row.failure_code === null ? null : int(row.failure_code)
  const failureTitle = textOrNull(row.failure_title)
  return new Message(
    {
      id: MessageId.make(uuid(row.id), true),
      businessId: BusinessId.make(uuid(row.business_id), true),
      conversationId: ConversationId.make(uuid(row.conversation_id), true),
      direction: direction(row.direction),
      messageType: messageType(row.message_type),
      text: textOrNull(row.text),
      template: templateOrNull(row.template),
      media: mediaOrNull(row.media),
      content: recordOrNull(row.content),
      replyToProviderMessageId: textOrNull(row.reply_to_provider_message_id),
      deliveryStatus: deliveryStatus(row.delivery_status),
      providerMessageId: textOrNull(row.provider_message_id),
      failure:
        failureCode === null ? null : new DeliveryFailure({ code: failureCode, title: failureTitle ?? "" }, true),
      createdAt: time(row.created_at)
    },
    true
  )
}

const all =
  <A>(one: (row: Row) => A) =>
  (rows: ReadonlyArray<unknown>): Array<A> | undefined => {
    try {
      return rows.map((row) => {
        if (!isRow(row)) throw mismatch
        return one(row)
      })
    } catch (error) {
      if (error === mismatch) return undefined
      throw error
    }
  }

/** Each returns the models, or `undefined` when a row needs the row schema. */
export const trusted = {
  conversations: all(conversation),
  messages: all(message)
}
