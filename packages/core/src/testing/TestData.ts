/**
 * Builders for test data: valid entities with sensible defaults, overridable field by field.
 */
import { DateTime, Effect, Option, Redacted } from "effect"
import { Conversation } from "../Conversation.js"
import { CustomerIdentity } from "../Customer.js"
import {
  type BusinessId,
  ConversationId,
  type Ids,
  nextBusinessId,
  nextUserId,
  nextWhatsAppNumberId,
  TemplateId,
  type UserId
} from "../Ids.js"
import type { InboundMessage } from "../Inbound.js"
import { Message } from "../Message.js"
import { E164 } from "../Phone.js"
import { Template } from "../Template.js"
import { WhatsAppNumber } from "../WhatsAppNumber.js"
import { StorageSeeder } from "./StorageSeeder.js"

export const epoch = DateTime.unsafeMake("2026-01-15T09:00:00.000Z")

export const at = (minutesAfterEpoch: number): DateTime.Utc => DateTime.add(epoch, { minutes: minutesAfterEpoch })

export const phone = (digits: string): E164 => E164.make(`+${digits}`)

export const conversation = (
  fields: Partial<Conversation> & Pick<Conversation, "businessId" | "whatsappNumberId">
): Conversation =>
  new Conversation({
    id: ConversationId.make("00000000-0000-4000-8000-00000000c0de"),
    customerPhone: phone("2348012345678"),
    customerUserId: null,
    customerName: "Ada Lovelace",
    status: "open",
    mode: "human",
    unreadCount: 0,
    assignedUserId: null,
    lastInboundAt: null,
    lastOutboundAt: null,
    lastActivityAt: epoch,
    createdAt: epoch,
    ...fields
  })

export const message = (fields: Partial<Message> & Pick<Message, "businessId" | "conversationId" | "id">): Message =>
  new Message({
    direction: "inbound",
    messageType: "text",
    text: "Is my order shipped?",
    template: null,
    media: null,
    content: null,
    replyToProviderMessageId: null,
    deliveryStatus: "delivered",
    providerMessageId: null,
    failure: null,
    createdAt: epoch,
    ...fields
  })

export const template = (fields: Partial<Template> & Pick<Template, "businessId">): Template =>
  new Template({
    id: TemplateId.make("00000000-0000-4000-8000-0000000070e1"),
    key: "order_shipped",
    name: "order_shipped",
    language: "en_US",
    category: "UTILITY",
    status: "APPROVED",
    parameterFormat: "NAMED",
    components: [{ type: "BODY", text: "Order {{order_id}} arrives {{eta}}." }],
    ...fields
  })

export const inboundText = (
  fields: Partial<InboundMessage> & Pick<InboundMessage, "providerMessageId" | "timestamp">
): InboundMessage => ({
  customer: CustomerIdentity.byPhone(phone("2348012345678")),
  customerName: Option.some("Ada Lovelace"),
  messageType: "text",
  text: "Is my order shipped?",
  media: null,
  content: null,
  replyToProviderMessageId: null,
  ...fields
})

/** A business with one WhatsApp number and one user, stored through the seeder. */
export interface Tenant {
  readonly businessId: BusinessId
  readonly userId: UserId
  readonly number: WhatsAppNumber
}

/** Seeds a fresh tenant with ids from `Ids` (unique per call, so tests sharing one database never collide). */
export const seedTenant = (name = "Acme"): Effect.Effect<Tenant, unknown, Ids | StorageSeeder> =>
  Effect.gen(function* () {
    const seeder = yield* StorageSeeder
    const businessId = yield* nextBusinessId
    const userId = yield* nextUserId
    const numberId = yield* nextWhatsAppNumberId
    const number = new WhatsAppNumber({
      id: numberId,
      businessId,
      // Meta's ids are numeric strings; derive one from the random bits of our id so it is unique too.
      providerPhoneNumberId: BigInt(`0x${numberId.replace(/-/g, "")}`)
        .toString()
        .slice(-15),
      displayPhoneNumber: "15550002222",
      wabaId: "100000000000001",
      accessToken: Redacted.make(`token-${numberId}`)
    })
    yield* seeder.business({ id: businessId, name })
    yield* seeder.user({ id: userId, businessId, name: `${name} agent` })
    yield* seeder.whatsappNumber(number)
    return { businessId, userId, number }
  })
