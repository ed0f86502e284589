/**
 * One story per use case, told the way the Messaging API contract tells it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, DateTime, Effect, Layer, Option } from "effect"
import { CustomerIdentity } from "../src/Customer.js"
import * as Idempotency from "../src/Idempotency.js"
import { IdempotencyStore } from "../src/Idempotency.js"
import * as Ids from "../src/Ids.js"
import * as Inbox from "../src/Inbox.js"
import { MessageRepository } from "../src/MessageRepository.js"
import {
  ProviderOutcomeUnknown,
  ProviderRateLimited,
  ProviderUnavailable,
  RecipientInvalid
} from "../src/MessagingGateway.js"
import { StorageError } from "../src/StorageError.js"
import { TemplateCatalog } from "../src/TemplateCatalog.js"
import { FakeGateway, MemoryStorage, TestData } from "../src/testing/index.js"
import { actorOf, layer, notBefore, seedWithTemplate, setNow } from "./world.js"

const at = TestData.at

/** A customer writes "Is my order shipped?" at `when`; returns the conversation id. */
const customerWrites = (
  tenant: TestData.Tenant,
  when: DateTime.Utc,
  providerMessageId = `wamid.IN${DateTime.toEpochMillis(when)}`
) =>
  Effect.gen(function* () {
    const inbox = yield* Inbox.Inbox
    yield* notBefore(when)
    const [result] = yield* inbox.receiveInbound(tenant.number, [
      TestData.inboundText({ providerMessageId, timestamp: when })
    ])
    assert.strictEqual(result?._tag, "Recorded")
    return result?._tag === "Recorded"
      ? result.conversation.id
      : Ids.ConversationId.make("00000000-0000-4000-8000-000000000000")
  })

describe("Inbox", () => {
  it.effect("receiveInbound: a customer's first message opens a conversation with the window open and one unread", () =>
    Effect.gen(function* () {
      const inbox = yield* Inbox.Inbox
      const tenant = yield* TestData.seedTenant()
      yield* setNow(at(1))
      const conversationId = yield* customerWrites(tenant, at(0), "wamid.FIRST")
      const again = yield* inbox.receiveInbound(tenant.number, [
        TestData.inboundText({ providerMessageId: "wamid.FIRST", timestamp: at(0) })
      ])
      assert.strictEqual(again[0]?._tag, "Duplicate")
      const detail = yield* inbox.getConversation(actorOf(tenant), conversationId)
      assert.strictEqual(detail.conversation.customerPhone, "+2348012345678")
      assert.strictEqual(detail.conversation.customerName, "Ada Lovelace")
      assert.strictEqual(detail.conversation.status, "open")
      assert.strictEqual(detail.conversation.unreadCount, 1)
      assert.strictEqual(DateTime.formatIso(Option.getOrThrow(detail.windowClosesAt)), "2026-01-16T09:00:00.000Z")
      assert.deepStrictEqual(
        detail.messages.map((m) => [m.direction, m.messageType, m.text, m.deliveryStatus]),
        [["inbound", "text", "Is my order shipped?", "delivered"]]
      )
    }).pipe(Effect.provide(layer))
  )

  it.effect("receiveInbound: a batch of many messages is recorded in order, each once", () =>
    Effect.gen(function* () {
      const inbox = yield* Inbox.Inbox
      const tenant = yield* TestData.seedTenant()
      const other = CustomerIdentity.byPhone(TestData.phone("15550001111"))
      const results = yield* inbox.receiveInbound(tenant.number, [
        TestData.inboundText({ providerMessageId: "wamid.A", timestamp: at(0) }),
        TestData.inboundText({ providerMessageId: "wamid.B", timestamp: at(1), customer: other }),
        TestData.inboundText({ providerMessageId: "wamid.A", timestamp: at(0) }),
        TestData.inboundText({ providerMessageId: "wamid.C", timestamp: at(2) })
      ])
      assert.deepStrictEqual(
        results.map((r) => r._tag),
        ["Recorded", "Recorded", "Duplicate", "Recorded"]
      )
      const page = yield* inbox.listConversations(actorOf(tenant), {})
      assert.deepStrictEqual(
        page.conversations.map((v) => v.conversation.unreadCount),
        [2, 1]
      )
    }).pipe(Effect.provide(layer))
  )

  it.effect("listConversations: most recently active first, filtered, paged by an opaque cursor", () =>
    Effect.gen(function* () {
      const inbox = yield* Inbox.Inbox
      const tenant = yield* TestData.seedTenant()
      for (let i = 0; i < 5; i++) {
        yield* inbox.receiveInbound(tenant.number, [
          TestData.inboundText({
            providerMessageId: `wamid.L${i}`,
            timestamp: at(i),
            customer: CustomerIdentity.byPhone(TestData.phone(`155500011${i}0`)),
            customerName: Option.some(i % 2 === 0 ? `Even ${i}` : `Odd ${i}`)
          })
        ])
      }
      const actor = actorOf(tenant)
      const first = yield* inbox.listConversations(actor, { limit: 2 })
      assert.deepStrictEqual(
        first.conversations.map((v) => v.conversation.customerName),
        ["Even 4", "Odd 3"]
      )
      const second = yield* inbox.listConversations(actor, { limit: 2, cursor: Option.getOrThrow(first.nextCursor) })
      assert.deepStrictEqual(
        second.conversations.map((v) => v.conversation.customerName),
        ["Even 2", "Odd 1"]
      )
      const last = yield* inbox.listConversations(actor, { limit: 2, cursor: Option.getOrThrow(second.nextCursor) })
      assert.deepStrictEqual(
        last.conversations.map((v) => v.conversation.customerName),
        ["Even 0"]
      )
      assert.isTrue(Option.isNone(last.nextCursor))
      const odd = yield* inbox.listConversations(actor, { search: "odd" })
      assert.deepStrictEqual(
        odd.conversations.map((v) => v.conversation.customerName),
        ["Odd 3", "Odd 1"]
      )
      const byPhone = yield* inbox.listConversations(actor, { search: "+1 555 000 1130" })
      assert.deepStrictEqual(
        byPhone.conversations.map((v) => v.conversation.customerName),
        ["Odd 3"]
      )
      const unassigned = yield* inbox.listConversations(actor, { assigned: "unassigned", status: "open" })
      assert.strictEqual(unassigned.conversations.length, 5)
      assert.strictEqual((yield* inbox.listConversations(actor, { assigned: "me" })).conversations.length, 0)
    }).pipe(Effect.provide(layer))
  )

  it.effect("listConversations: bad input is refused with what is wrong", () =>
    Effect.gen(function* () {
      const inbox = yield* Inbox.Inbox
      const tenant = yield* TestData.seedTenant()
      const actor = actorOf(tenant)
      const badLimit = yield* Effect.flip(inbox.listConversations(actor, { limit: 0 }))
      assert.strictEqual(badLimit._tag, "InvalidRequest")
      const badStatus = yield* Effect.flip(inbox.listConversations(actor, { status: "closed" as "open" }))
      assert.strictEqual(badStatus._tag, "InvalidRequest")
      if (badStatus._tag === "InvalidRequest") assert.strictEqual(badStatus.issues[0]?.path, "status")
      const badCursor = yield* Effect.flip(inbox.listConversations(actor, { cursor: "nope" }))
      assert.strictEqual(badCursor._tag, "InvalidCursor")
      const keyWithoutUser = { ...actor, userId: Option.none() }
      const me = yield* Effect.flip(inbox.listConversations(keyWithoutUser, { assigned: "me" }))
      assert.strictEqual(me._tag, "AssignedToMeRequiresUser")
    }).pipe(Effect.provide(layer))
  )

  it.effect("getConversation: newest messages first, older ones with the cursor", () =>
    Effect.gen(function* () {
      const inbox = yield* Inbox.Inbox
      const tenant = yield* TestData.seedTenant()
      for (let i = 0; i < 5; i++) yield* customerWrites(tenant, at(i))
      const id = yield* customerWrites(tenant, at(5))
      const actor = actorOf(tenant)
      const newest = yield* inbox.getConversation(actor, id, { messagesLimit: 4 })
      assert.deepStrictEqual(
        newest.messages.map((m) => DateTime.toEpochMillis(m.createdAt)),
        [5, 4, 3, 2].map((i) => DateTime.toEpochMillis(at(i)))
      )
      const older = yield* inbox.getConversation(actor, id, {
        messagesLimit: 4,
        before: Option.getOrThrow(newest.olderCursor)
      })
      assert.strictEqual(older.messages.length, 2)
      assert.isTrue(Option.isNone(older.olderCursor))
      const missing = yield* Effect.flip(inbox.getConversation(actor, "not-a-uuid"))
      assert.strictEqual(missing._tag, "ConversationNotFound")
    }).pipe(Effect.provide(layer))
  )

  it.effect("sendText: inside the window the message goes out and comes back as sent", () =>
    Effect.gen(function* () {
      const inbox = yield* Inbox.Inbox
      const gateway = yield* FakeGateway.FakeGateway
      const tenant = yield* TestData.seedTenant()
      const id = yield* customerWrites(tenant, at(0))
      yield* setNow(at(60))
      const receipt = yield* inbox.sendText(actorOf(tenant), id, {
        text: "Your order #1234 shipped today and arrives Friday."
      })
      assert.isFalse(receipt.replayed)
      assert.strictEqual(receipt.outcome._tag, "Sent")
      if (receipt.outcome._tag !== "Sent") return
      const message = receipt.outcome.message
      assert.strictEqual(message.direction, "outbound")
      assert.strictEqual(message.messageType, "text")
      assert.strictEqual(message.deliveryStatus, "sent")
      assert.strictEqual(message.conversationId, id)
      const [call] = yield* gateway.accepted
      assert.strictEqual(call?.kind, "text")
      assert.strictEqual(call?.providerMessageId, message.providerMessageId)
      assert.strictEqual(call?.request.messageId, message.id)
      assert.strictEqual(call?.request.from.id, tenant.number.id)
      const detail = yield* inbox.getConversation(actorOf(tenant), id)
      assert.strictEqual(detail.conversation.status, "pending_customer")
    }).pipe(Effect.provide(layer))
  )

  it.effect("sendText: after 24 hours of silence it is refused before the provider sees it", () =>
    Effect.gen(function* () {
      const inbox = yield* Inbox.Inbox
      const gateway = yield* FakeGateway.FakeGateway
      const tenant = yield* TestData.seedTenant()
      const id = yield* customerWrites(tenant, at(0))
      yield* setNow(at(24 * 60))
      const error = yield* Effect.flip(inbox.sendText(actorOf(tenant), id, { text: "late" }))
      assert.strictEqual(error._tag, "ServiceWindowClosed")
      if (error._tag === "ServiceWindowClosed") {
        assert.strictEqual(DateTime.formatIso(Option.getOrThrow(error.closedAt)), "2026-01-16T09:00:00.000Z")
      }
      assert.strictEqual((yield* gateway.calls).length, 0)
    }).pipe(Effect.provide(layer))
  )

  it.effect("sendText: refuses blank or oversized text and unknown conversations", () =>
    Effect.gen(function* () {
      const inbox = yield* Inbox.Inbox
      const tenant = yield* TestData.seedTenant()
      const id = yield* customerWrites(tenant, at(0))
      const actor = actorOf(tenant)
      assert.strictEqual((yield* Effect.flip(inbox.sendText(actor, id, { text: "" })))._tag, "InvalidRequest")
      assert.strictEqual((yield* Effect.flip(inbox.sendText(actor, id, { text: "   " })))._tag, "InvalidRequest")
      assert.strictEqual(
        (yield* Effect.flip(inbox.sendText(actor, id, { text: "x".repeat(4097) })))._tag,
        "InvalidRequest"
      )
      const extra = yield* Effect.flip(
        inbox.sendText(actor, id, { text: "hi", direction: "inbound" } as { text: string })
      )
      assert.strictEqual(extra._tag, "InvalidRequest")
      const unknown = yield* Effect.flip(inbox.sendText(actor, "00000000-0000-4000-8000-00000000dead", { text: "hi" }))
      assert.strictEqual(unknown._tag, "ConversationNotFound")
    }).pipe(Effect.provide(layer))
  )

  it.effect("sendTemplate: starts a conversation with the customer's name, at any time", () =>
    Effect.gen(function* () {
      const inbox = yield* Inbox.Inbox
      const gateway = yield* FakeGateway.FakeGateway
      const tenant = yield* seedWithTemplate
      yield* setNow(at(0))
      const receipt = yield* inbox.sendTemplate(actorOf(tenant), {
        whatsappNumberId: tenant.number.id,
        phone: "+2348012345678",
        templateKey: "order_shipped",
        customerName: "Ada Lovelace",
        variables: { order_id: "1234", eta: "Friday" }
      })
      assert.strictEqual(receipt.outcome._tag, "Sent")
      if (receipt.outcome._tag !== "Sent") return
      const message = receipt.outcome.message
      assert.strictEqual(message.messageType, "template")
      assert.strictEqual(message.text, "Order 1234 arrives Friday.")
      assert.deepStrictEqual(message.template?.variables, { order_id: "1234", eta: "Friday" })
      const [call] = yield* gateway.accepted
      assert.strictEqual(call?.kind, "template")
      if (call?.kind === "template") {
        assert.strictEqual(call.request.template.name, "order_shipped")
        assert.strictEqual(Option.getOrThrow(call.request.to.phone), "+2348012345678")
      }
      const list = yield* inbox.listConversations(actorOf(tenant), {})
      const view = list.conversations[0]
      assert.strictEqual(view?.conversation.customerName, "Ada Lovelace")
      assert.strictEqual(view?.conversation.status, "pending_customer")
      assert.isTrue(Option.isNone(view?.windowClosesAt ?? Option.some(at(0))))
    }).pipe(Effect.provide(layer))
  )

  it.effect("sendTemplate: unknown, unapproved and badly filled templates are refused before sending", () =>
    Effect.gen(function* () {
      const inbox = yield* Inbox.Inbox
      const catalog = yield* TemplateCatalog
      const gateway = yield* FakeGateway.FakeGateway
      const tenant = yield* seedWithTemplate
      const actor = actorOf(tenant)
      yield* catalog.upsert(
        TestData.template({
          id: yield* Ids.nextTemplateId,
          businessId: tenant.businessId,
          key: "paused",
          status: "PAUSED"
        })
      )
      const base = { whatsappNumberId: tenant.number.id, phone: "+2348012345678" }
      const notFound = yield* Effect.flip(inbox.sendTemplate(actor, { ...base, templateKey: "nope" }))
      assert.strictEqual(notFound._tag, "TemplateNotFound")
      const paused = yield* Effect.flip(
        inbox.sendTemplate(actor, { ...base, templateKey: "paused", variables: { order_id: "1", eta: "2" } })
      )
      assert.strictEqual(paused._tag, "TemplateNotApproved")
      const invalid = yield* Effect.flip(
        inbox.sendTemplate(actor, { ...base, templateKey: "order_shipped", variables: { order_id: "a\nb", x: "1" } })
      )
      assert.strictEqual(invalid._tag, "TemplateVariablesInvalid")
      if (invalid._tag === "TemplateVariablesInvalid") {
        assert.deepStrictEqual(invalid.problems.map((p) => p.variable).sort(), ["eta", "order_id", "x"])
      }
      const badPhone = yield* Effect.flip(
        inbox.sendTemplate(actor, { ...base, phone: "2348012345678", templateKey: "order_shipped" })
      )
      assert.strictEqual(badPhone._tag, "InvalidRequest")
      const otherNumber = yield* Effect.flip(
        inbox.sendTemplate(actor, {
          ...base,
          whatsappNumberId: "00000000-0000-4000-8000-00000000dead",
          templateKey: "order_shipped"
        })
      )
      assert.strictEqual(otherNumber._tag, "WhatsAppNumberNotFound")
      assert.strictEqual((yield* gateway.calls).length, 0)
    }).pipe(Effect.provide(layer))
  )

  it.effect("applyDeliveryStatus: out-of-order, duplicate and early statuses end in the right status", () =>
    Effect.gen(function* () {
      const inbox = yield* Inbox.Inbox
      const messages = yield* MessageRepository
      const tenant = yield* TestData.seedTenant()
      const id = yield* customerWrites(tenant, at(0))
      const receipt = yield* inbox.sendText(actorOf(tenant), id, { text: "On its way" })
      if (receipt.outcome._tag !== "Sent") return assert.fail("not sent")
      const sent = receipt.outcome.message
      const wamid = sent.providerMessageId ?? ""
      const update = (status: "sent" | "delivered" | "read") => ({
        providerMessageId: wamid,
        status,
        timestamp: at(1),
        failure: Option.none(),
        messageId: Option.none()
      })
      const results = yield* inbox.applyDeliveryStatus(tenant.number, [
        update("read"),
        update("delivered"),
        update("read"),
        update("sent")
      ])
      assert.deepStrictEqual(
        results.map((r) => r._tag),
        ["Applied", "Unchanged", "Unchanged", "Unchanged"]
      )
      assert.strictEqual(Option.getOrThrow(yield* messages.findById(tenant.businessId, sent.id)).deliveryStatus, "read")
      const early = yield* inbox.applyDeliveryStatus(tenant.number, [
        { ...update("delivered"), providerMessageId: "wamid.LATER" }
      ])
      assert.strictEqual(early[0]?._tag, "Parked")
    }).pipe(Effect.provide(layer))
  )

  it.effect("updateConversation: status, mode and assignment; only to the business's own users", () =>
    Effect.gen(function* () {
      const inbox = yield* Inbox.Inbox
      const tenant = yield* TestData.seedTenant()
      const id = yield* customerWrites(tenant, at(0))
      const actor = actorOf(tenant)
      const updated = yield* inbox.updateConversation(actor, id, {
        status: "resolved",
        mode: "ai",
        assignedUserId: tenant.userId
      })
      assert.strictEqual(updated.conversation.status, "resolved")
      assert.strictEqual(updated.conversation.mode, "ai")
      assert.strictEqual(updated.conversation.assignedUserId, tenant.userId)
      const mine = yield* inbox.listConversations(actor, { assigned: "me" })
      assert.deepStrictEqual(
        mine.conversations.map((v) => v.conversation.id),
        [id]
      )
      const stranger = yield* Ids.nextUserId
      const refused = yield* Effect.flip(inbox.updateConversation(actor, id, { assignedUserId: stranger }))
      assert.strictEqual(refused._tag, "AssigneeNotFound")
      const unassigned = yield* inbox.updateConversation(actor, id, { assignedUserId: null })
      assert.strictEqual(unassigned.conversation.assignedUserId, null)
      yield* customerWrites(tenant, at(1))
      const reopened = yield* inbox.getConversation(actor, id)
      assert.strictEqual(reopened.conversation.status, "open")
    }).pipe(Effect.provide(layer))
  )

  it.effect("markRead: unread goes to zero, inbound messages are read, and the customer gets a read receipt", () =>
    Effect.gen(function* () {
      const inbox = yield* Inbox.Inbox
      const gateway = yield* FakeGateway.FakeGateway
      const tenant = yield* TestData.seedTenant()
      const id = yield* customerWrites(tenant, at(0), "wamid.ONE")
      yield* customerWrites(tenant, at(1), "wamid.TWO")
      const read = yield* inbox.markRead(actorOf(tenant), id)
      assert.strictEqual(read.conversation.unreadCount, 0)
      const detail = yield* inbox.getConversation(actorOf(tenant), id)
      assert.deepStrictEqual(
        detail.messages.map((m) => m.deliveryStatus),
        ["read", "read"]
      )
      assert.deepStrictEqual(yield* gateway.readReceipts, [
        { providerPhoneNumberId: tenant.number.providerPhoneNumberId, providerMessageId: "wamid.TWO" }
      ])
    }).pipe(Effect.provide(layer))
  )

  it.effect("idempotency: a retry with the same key returns the same message without sending again", () =>
    Effect.gen(function* () {
      const inbox = yield* Inbox.Inbox
      const gateway = yield* FakeGateway.FakeGateway
      const tenant = yield* TestData.seedTenant()
      const id = yield* customerWrites(tenant, at(0))
      const actor = actorOf(tenant)
      const first = yield* inbox.sendText(actor, id, { text: "Once" }, { idempotencyKey: "order-1234-shipped" })
      const retry = yield* inbox.sendText(actor, id, { text: "Once" }, { idempotencyKey: "order-1234-shipped" })
      assert.isFalse(first.replayed)
      assert.isTrue(retry.replayed)
      assert.deepStrictEqual(retry.outcome, first.outcome)
      assert.strictEqual((yield* gateway.calls).length, 1)
      const reused = yield* Effect.flip(
        inbox.sendText(actor, id, { text: "Other" }, { idempotencyKey: "order-1234-shipped" })
      )
      assert.strictEqual(reused._tag, "IdempotencyKeyReused")
      const malformed = yield* Effect.flip(
        inbox.sendText(actor, id, { text: "Once" }, { idempotencyKey: "bad\u0001key" })
      )
      assert.strictEqual(malformed._tag, "InvalidRequest")
    }).pipe(Effect.provide(layer))
  )

  it.effect("idempotency: a definitive provider refusal is stored; a failure before the provider is not", () =>
    Effect.gen(function* () {
      const inbox = yield* Inbox.Inbox
      const gateway = yield* FakeGateway.FakeGateway
      const tenant = yield* TestData.seedTenant()
      const id = yield* customerWrites(tenant, at(0))
      const actor = actorOf(tenant)
      yield* gateway.failNext(new RecipientInvalid({ code: 131026, title: "Message undeliverable" }))
      const refused = yield* inbox.sendText(actor, id, { text: "A" }, { idempotencyKey: "k-refused" })
      assert.strictEqual(refused.outcome._tag, "Refused")
      const replay = yield* inbox.sendText(actor, id, { text: "A" }, { idempotencyKey: "k-refused" })
      assert.isTrue(replay.replayed)
      assert.deepStrictEqual(replay.outcome, refused.outcome)
      yield* gateway.failNext(new ProviderUnavailable({ code: null, title: "connection refused" }))
      const down = yield* Effect.flip(inbox.sendText(actor, id, { text: "B" }, { idempotencyKey: "k-down" }))
      assert.strictEqual(down._tag, "ProviderUnavailable")
      yield* gateway.failNext(new ProviderRateLimited({ code: 130429, title: "Rate limit hit", retryAfterSeconds: 5 }))
      const limited = yield* Effect.flip(inbox.sendText(actor, id, { text: "B" }, { idempotencyKey: "k-down" }))
      assert.strictEqual(limited._tag, "ProviderRateLimited")
      const retried = yield* inbox.sendText(actor, id, { text: "B" }, { idempotencyKey: "k-down" })
      assert.isFalse(retried.replayed)
      assert.strictEqual(retried.outcome._tag, "Sent")
      yield* setNow(at(25 * 60))
      const closed = yield* Effect.flip(inbox.sendText(actor, id, { text: "C" }, { idempotencyKey: "k-window" }))
      assert.strictEqual(closed._tag, "ServiceWindowClosed")
      yield* customerWrites(tenant, at(25 * 60 - 1))
      const afterReply = yield* inbox.sendText(actor, id, { text: "C" }, { idempotencyKey: "k-window" })
      assert.isFalse(afterReply.replayed)
      assert.strictEqual(afterReply.outcome._tag, "Sent")
      assert.strictEqual((yield* gateway.calls).length, 5)
    }).pipe(Effect.provide(layer))
  )

  it.effect("idempotency: an ambiguous provider outcome is never resent", () =>
    Effect.gen(function* () {
      const inbox = yield* Inbox.Inbox
      const gateway = yield* FakeGateway.FakeGateway
      const messages = yield* MessageRepository
      const tenant = yield* TestData.seedTenant()
      const id = yield* customerWrites(tenant, at(0))
      const actor = actorOf(tenant)
      yield* gateway.failNext(new ProviderOutcomeUnknown({ reason: "read timeout after the request was written" }))
      const first = yield* inbox.sendText(actor, id, { text: "Maybe" }, { idempotencyKey: "k-ambiguous" })
      assert.strictEqual(first.outcome._tag, "Refused")
      if (first.outcome._tag !== "Refused" || first.outcome.error._tag !== "DeliveryUnconfirmed") return assert.fail()
      const messageId = first.outcome.error.messageId
      assert.strictEqual(
        Option.getOrThrow(yield* messages.findById(tenant.businessId, messageId)).deliveryStatus,
        "pending"
      )
      const retry = yield* inbox.sendText(actor, id, { text: "Maybe" }, { idempotencyKey: "k-ambiguous" })
      assert.isTrue(retry.replayed)
      assert.strictEqual((yield* gateway.calls).length, 1)
      // The status webhook settles it through our id in the callback data.
      yield* inbox.applyDeliveryStatus(tenant.number, [
        {
          providerMessageId: "wamid.LATE",
          status: "delivered",
          timestamp: at(1),
          failure: Option.none(),
          messageId: Option.some(messageId)
        }
      ])
      const delivered = Option.getOrThrow(yield* messages.findById(tenant.businessId, messageId))
      assert.strictEqual(delivered.deliveryStatus, "delivered")
      // Settled: the key now answers as an accepted send, with the message as it stands, and still sends nothing.
      const settled = yield* inbox.sendText(actor, id, { text: "Maybe" }, { idempotencyKey: "k-ambiguous" })
      assert.isTrue(settled.replayed)
      assert.deepStrictEqual(settled.outcome, new Idempotency.Sent({ message: delivered }))
      assert.strictEqual((yield* gateway.calls).length, 1)
    }).pipe(Effect.provide(layer))
  )

  it.effect("idempotency: if storing the outcome fails, the key is not released and the send never repeats", () => {
    const store = MemoryStorage.makeStore()
    const memory = MemoryStorage.contextOf(store)
    const keys = Context.get(memory, IdempotencyStore)
    const messages = Context.get(memory, MessageRepository)
    let broken = true
    const lost = (operation: string) => Effect.fail(new StorageError({ operation, reason: "connection lost" }))
    // Both writes that store a send's outcome: markSent, which completes the key with the marked message, and
    // complete, which stores the refusal that a failed markSent leaves (the provider has the message).
    const failingWrites = Layer.succeedContext(
      memory.pipe(
        Context.add(
          IdempotencyStore,
          IdempotencyStore.of({
            ...keys,
            complete: (...args) => (broken ? lost("complete") : keys.complete(...args))
          })
        ),
        Context.add(
          MessageRepository,
          MessageRepository.of({
            ...messages,
            markSent: (...args) => (broken ? lost("markSent") : messages.markSent(...args))
          })
        )
      )
    )
    const world = Inbox.layer().pipe(
      Layer.provideMerge(Layer.mergeAll(failingWrites, FakeGateway.layer, Ids.layerSequential))
    )
    return Effect.gen(function* () {
      const inbox = yield* Inbox.Inbox
      const gateway = yield* FakeGateway.FakeGateway
      const tenant = yield* TestData.seedTenant()
      const id = yield* customerWrites(tenant, at(0))
      yield* setNow(at(1))
      const actor = actorOf(tenant)
      const failed = yield* Effect.flip(inbox.sendText(actor, id, { text: "once" }, { idempotencyKey: "k-lost" }))
      assert.strictEqual(failed._tag, "StorageError")
      broken = false
      const during = yield* Effect.flip(inbox.sendText(actor, id, { text: "once" }, { idempotencyKey: "k-lost" }))
      assert.strictEqual(during._tag, "IdempotencyKeyInFlight")
      yield* setNow(at(10))
      // The lease ran out: the key is taken over, and the message it recorded is answered as it stands: accepted
      // by the provider, not confirmed (its status webhook settles it), and never sent again.
      const settled = yield* inbox.sendText(actor, id, { text: "once" }, { idempotencyKey: "k-lost" })
      assert.isTrue(settled.replayed)
      if (settled.outcome._tag !== "Refused") return assert.fail(`expected Refused, got ${settled.outcome._tag}`)
      assert.strictEqual(settled.outcome.error._tag, "DeliveryUnconfirmed")
      assert.strictEqual((yield* gateway.calls).length, 1)
      // Once the write goes through, a send's key is completed by markSent itself: a replay answers Sent.
      const next = yield* inbox.sendText(actor, id, { text: "twice" }, { idempotencyKey: "k-next" })
      const replay = yield* inbox.sendText(actor, id, { text: "twice" }, { idempotencyKey: "k-next" })
      assert.isTrue(replay.replayed)
      assert.deepStrictEqual(replay.outcome, next.outcome)
      assert.strictEqual(replay.outcome._tag, "Sent")
      assert.strictEqual((yield* gateway.calls).length, 2)
    }).pipe(Effect.provide(world))
  })

  it.effect("scopes: a key without the use case's scope is refused", () =>
    Effect.gen(function* () {
      const inbox = yield* Inbox.Inbox
      const tenant = yield* TestData.seedTenant()
      const id = yield* customerWrites(tenant, at(0))
      const readOnly = actorOf(tenant, ["messaging:conversations:read"])
      const error = yield* Effect.flip(inbox.sendText(readOnly, id, { text: "hi" }))
      assert.strictEqual(error._tag, "MissingScope")
      if (error._tag === "MissingScope") assert.strictEqual(error.required, "messaging:messages:send")
      assert.strictEqual((yield* inbox.listConversations(readOnly, {})).conversations.length, 1)
    }).pipe(Effect.provide(layer))
  )
})
