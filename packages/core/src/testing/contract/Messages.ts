/**
 * The storage contract for a conversation's history (`MessageRepository`): every field of a message kept (media,
 * content, templates), what an outbound message does to its conversation, and the history newest first in keyset
 * pages.
 */
import { assert } from "@effect/vitest"
import { DateTime, Effect, Option } from "effect"
import { ConversationRepository } from "../../ConversationRepository.js"
import { type MessageId, nextConversationId, nextMessageId } from "../../Ids.js"
import { MediaReference, TemplateUse } from "../../Message.js"
import { MessageRepository } from "../../MessageRepository.js"
import * as TestData from "../TestData.js"
import { type FixtureIt, newConversation, receive, sendPending, uniquePhone, wamid } from "./StorageFixtures.js"

/** Registers these cases on the contract's `it` (storage ports, seeder and ids provided). */
export const messagesContract = (it: FixtureIt): void => {
  it.effect("MessageRepository round-trips every message field", () =>
    Effect.gen(function* () {
      const messages = yield* MessageRepository
      const tenant = yield* TestData.seedTenant()
      const c = yield* newConversation(tenant, { customerPhone: uniquePhone() })
      const id = yield* nextMessageId
      const message = TestData.message({
        id,
        businessId: tenant.businessId,
        conversationId: c.id,
        messageType: "image",
        text: "caption ✓ ünïcode",
        media: new MediaReference({
          providerMediaId: "1234567890",
          url: "https://example.com/x.jpg",
          mimeType: "image/jpeg",
          sha256: "abc",
          filename: null,
          kind: "image",
          caption: "caption ✓ ünïcode",
          sizeBytes: 123_456,
          voice: null,
          animated: false
        }),
        content: { nested: { a: [1, 2, 3] }, flag: true },
        replyToProviderMessageId: "wamid.PARENT",
        providerMessageId: wamid(),
        createdAt: TestData.at(3)
      })
      yield* messages.recordInbound({ conversation: c, message, customerName: Option.none(), opensWindow: true })
      assert.deepStrictEqual(Option.getOrThrow(yield* messages.findById(tenant.businessId, id)), message)
      const templateId = yield* nextMessageId
      const templated = TestData.message({
        id: templateId,
        businessId: tenant.businessId,
        conversationId: c.id,
        direction: "outbound",
        messageType: "template",
        deliveryStatus: "pending",
        text: "Order 1234 arrives Friday.",
        template: new TemplateUse({
          key: "order_shipped",
          name: "order_shipped",
          language: "en_US",
          variables: { order_id: "1234", eta: "Friday" }
        }),
        createdAt: TestData.at(4)
      })
      yield* messages.recordOutbound({ message: templated, idempotencyKey: Option.none() })
      assert.deepStrictEqual(Option.getOrThrow(yield* messages.findById(tenant.businessId, templateId)), templated)
    })
  )

  it.effect("MessageRepository.recordOutbound marks the conversation pending_customer", () =>
    Effect.gen(function* () {
      const repo = yield* ConversationRepository
      const tenant = yield* TestData.seedTenant()
      const c = yield* newConversation(tenant, { customerPhone: uniquePhone(), lastActivityAt: TestData.at(1) })
      yield* receive(c, tenant, wamid(), TestData.at(2))
      const sent = yield* sendPending(c.id, tenant, TestData.at(3))
      assert.strictEqual(sent.deliveryStatus, "pending")
      const stored = Option.getOrThrow(yield* repo.findById(tenant.businessId, c.id))
      assert.strictEqual(stored.status, "pending_customer")
      assert.strictEqual(stored.unreadCount, 1)
      assert.isTrue(DateTime.Equivalence(stored.lastOutboundAt ?? TestData.epoch, TestData.at(3)))
      assert.isTrue(DateTime.Equivalence(stored.lastActivityAt, TestData.at(3)))
      assert.isTrue(DateTime.Equivalence(stored.lastInboundAt ?? TestData.epoch, TestData.at(2)))
    })
  )

  it.effect("MessageRepository.listByConversation is newest first and pages by keyset", () =>
    Effect.gen(function* () {
      const messages = yield* MessageRepository
      const tenant = yield* TestData.seedTenant()
      const c = yield* newConversation(tenant, { customerPhone: uniquePhone() })
      const other = yield* newConversation(tenant, { customerPhone: uniquePhone() })
      const ids: Array<MessageId> = []
      for (let i = 0; i < 7; i++) {
        const r = yield* receive(c, tenant, wamid(), TestData.at(Math.floor(i / 2)))
        if (r._tag === "Recorded") ids.push(r.message.id)
      }
      yield* receive(other, tenant, wamid(), TestData.at(100))
      const all = yield* messages.listByConversation(tenant.businessId, c.id, { limit: 50 })
      assert.strictEqual(all.length, 7)
      for (let i = 1; i < all.length; i++) {
        const prev = all[i - 1]!
        const cur = all[i]!
        const dt = DateTime.toEpochMillis(prev.createdAt) - DateTime.toEpochMillis(cur.createdAt)
        assert.isTrue(dt > 0 || (dt === 0 && prev.id > cur.id))
      }
      const paged: Array<MessageId> = []
      let before: { at: DateTime.Utc; id: string } | undefined
      for (;;) {
        const page = yield* messages.listByConversation(tenant.businessId, c.id, {
          limit: 2,
          ...(before === undefined ? {} : { before })
        })
        paged.push(...page.map((m) => m.id))
        const last = page[page.length - 1]
        if (page.length < 2 || last === undefined) break
        before = { at: last.createdAt, id: last.id }
      }
      assert.deepStrictEqual(
        paged,
        all.map((m) => m.id)
      )
    })
  )

  it.effect("MessageRepository.findWithHistory answers what findById and listByConversation answer", () =>
    Effect.gen(function* () {
      const messages = yield* MessageRepository
      const conversations = yield* ConversationRepository
      const tenant = yield* TestData.seedTenant()
      const stranger = yield* TestData.seedTenant()
      const c = yield* newConversation(tenant, { customerPhone: uniquePhone() })
      const quiet = yield* newConversation(tenant, { customerPhone: uniquePhone() })
      const theirs = yield* newConversation(stranger, { customerPhone: uniquePhone() })
      for (let i = 0; i < 5; i++) yield* receive(c, tenant, wamid(), TestData.at(Math.floor(i / 2)))
      yield* receive(theirs, stranger, wamid(), TestData.at(1))
      const all = yield* messages.listByConversation(tenant.businessId, c.id, { limit: 50 })
      const positions = [undefined, ...all.map((m) => ({ at: m.createdAt, id: m.id }))]
      for (const before of positions) {
        for (const limit of [0, 1, 2, 50]) {
          const page = { limit, ...(before === undefined ? {} : { before }) }
          const found = yield* messages.findWithHistory(tenant.businessId, c.id, page)
          assert.isTrue(Option.isSome(found))
          if (Option.isNone(found)) return
          assert.deepStrictEqual(
            found.value.conversation,
            Option.getOrThrow(yield* conversations.findById(tenant.businessId, c.id))
          )
          assert.deepStrictEqual(
            found.value.messages,
            yield* messages.listByConversation(tenant.businessId, c.id, page)
          )
        }
      }
      const empty = yield* messages.findWithHistory(tenant.businessId, quiet.id, { limit: 20 })
      assert.deepStrictEqual(
        Option.map(empty, (h) => h.messages),
        Option.some([])
      )
      // Another business's conversation, and no conversation at all: nothing.
      assert.isTrue(Option.isNone(yield* messages.findWithHistory(tenant.businessId, theirs.id, { limit: 20 })))
      const unknown = yield* nextConversationId
      assert.isTrue(Option.isNone(yield* messages.findWithHistory(tenant.businessId, unknown, { limit: 20 })))
    })
  )
}
