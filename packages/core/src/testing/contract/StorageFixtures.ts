/**
 * What the storage contract's suites share: a conversation, an inbound and a pending outbound message in a test's
 * tenant, a status update, and values no other test uses.
 *
 * The counters are shared by every suite of the contract, so a phone, user id or idempotency key made in one suite
 * never equals one made in another, whatever order the suites run in.
 */
import type { Vitest } from "@effect/vitest"
import { DateTime, Effect, Option } from "effect"
import type { Conversation } from "../../Conversation.js"
import { ConversationRepository } from "../../ConversationRepository.js"
import { BusinessScopedUserId } from "../../Customer.js"
import { type ConversationId, type Ids, nextConversationId, nextMessageId } from "../../Ids.js"
import type { DeliveryStatus } from "../../Message.js"
import { MessageRepository, type StatusUpdate } from "../../MessageRepository.js"
import type { E164 } from "../../Phone.js"
import type { StorageSeeder } from "../StorageSeeder.js"
import * as TestData from "../TestData.js"

/** The ports most suites of the storage contract use: conversations, messages, the seeder and ids. */
export type FixturePorts = ConversationRepository | MessageRepository | StorageSeeder | Ids

/** The contract's `it`, as a suite that needs only `FixturePorts` takes it. */
export type FixtureIt = Vitest.MethodsNonLive<FixturePorts, true>

export const newConversation = (
  tenant: TestData.Tenant,
  fields: Partial<Parameters<typeof TestData.conversation>[0]> = {}
) =>
  Effect.gen(function* () {
    const repo = yield* ConversationRepository
    const id = yield* nextConversationId
    return yield* repo.findOrCreate(
      TestData.conversation({ id, businessId: tenant.businessId, whatsappNumberId: tenant.number.id, ...fields })
    )
  })

let counter = 0

/** A phone number no other test uses. */
export const uniquePhone = (): E164 => {
  counter++
  return TestData.phone(`4479${String(counter).padStart(9, "0")}`)
}

/** A business-scoped user id (a phone-less customer) no other test uses. */
export const uniqueUserId = () => BusinessScopedUserId.make(`US.${++counter}`)

/** An idempotency key no other test uses. */
export const uniqueKey = () => `key-${++counter}`

let wamidCounter = 0
export const wamid = () => `wamid.CONTRACT${++wamidCounter}`

/** What `recordInbound` takes for a customer's message in `conversation`: new, with a fresh id. */
export const inbound = (
  conversation: Conversation,
  tenant: TestData.Tenant,
  providerMessageId: string,
  at: DateTime.Utc,
  options: { readonly name?: string | null; readonly opensWindow?: boolean } = {}
) =>
  Effect.map(nextMessageId, (id) => ({
    conversation,
    message: TestData.message({
      id,
      businessId: tenant.businessId,
      conversationId: conversation.id,
      providerMessageId,
      createdAt: at
    }),
    customerName: Option.fromNullable(options.name),
    opensWindow: options.opensWindow ?? true
  }))

/** Records a customer's message in `conversation` (see `inbound`). */
export const receive = (...args: Parameters<typeof inbound>) =>
  Effect.gen(function* () {
    const messages = yield* MessageRepository
    return yield* messages.recordInbound(yield* inbound(...args))
  })

/** An outbound message still `pending` (its send not yet answered), recorded under `options.key` when given. */
export const sendPending = (
  conversationId: ConversationId,
  tenant: TestData.Tenant,
  at: DateTime.Utc,
  options: { readonly key?: string; readonly text?: string } = {}
) =>
  Effect.gen(function* () {
    const messages = yield* MessageRepository
    const id = yield* nextMessageId
    return yield* messages.recordOutbound({
      message: TestData.message({
        id,
        businessId: tenant.businessId,
        conversationId,
        direction: "outbound",
        deliveryStatus: "pending",
        text: options.text ?? "Your order shipped",
        createdAt: at
      }),
      idempotencyKey: Option.fromNullable(options.key)
    })
  })

/** A fresh tenant with one conversation and, in it, one outbound message still `pending`. */
export const pendingSend = () =>
  Effect.gen(function* () {
    const tenant = yield* TestData.seedTenant()
    const conversation = yield* newConversation(tenant, { customerPhone: uniquePhone() })
    const message = yield* sendPending(conversation.id, tenant, TestData.at(1))
    return { tenant, conversation, message }
  })

export const status = (
  providerMessageId: string,
  value: Exclude<DeliveryStatus, "pending">,
  extra: Partial<StatusUpdate> = {}
): StatusUpdate => ({
  providerMessageId,
  status: value,
  timestamp: TestData.at(5),
  failure: Option.none(),
  messageId: Option.none(),
  ...extra
})

/** The times of an idempotency claim made at `now`: a two-minute lease, kept for 48 hours. */
export const times = (now: DateTime.Utc) => ({
  now,
  lockedUntil: DateTime.add(now, { minutes: 2 }),
  expiresAt: DateTime.add(now, { hours: 48 })
})
