import { assert, it } from "@effect/vitest"
import { CustomerIdentity, Inbox, makeActor, nextUserId, Phone } from "@parley/core"
import { FakeGateway, StorageSeeder, TestData } from "@parley/core/testing"
import { DateTime, Effect, Option } from "effect"
import * as App from "../src/app.js"

it.layer(App.layer(FakeGateway.layer))("the app on its own storage", (it) => {
  it.effect("a customer writes, an agent reads and replies inside the window", () =>
    Effect.gen(function* () {
      const inbox = yield* Inbox.Inbox
      const tenant = yield* TestData.seedTenant()
      const seeder = yield* StorageSeeder
      const userId = yield* nextUserId
      yield* seeder.user({ id: userId, businessId: tenant.businessId, name: "Grace" })
      const now = yield* DateTime.now

      yield* inbox.receiveInbound(tenant.number, [
        {
          providerMessageId: "wamid.example-1",
          customer: CustomerIdentity.byPhone(Phone.E164.make("+2348012345678")),
          customerName: Option.some("Ada Lovelace"),
          timestamp: now,
          messageType: "text",
          text: "Is my order shipped?",
          media: null,
          content: null,
          replyToProviderMessageId: null
        }
      ])

      const agent = makeActor({
        businessId: tenant.businessId,
        userId,
        scopes: ["messaging:conversations:read", "messaging:messages:send"]
      })
      const page = yield* inbox.listConversations(agent, { status: "open" })
      assert.strictEqual(page.conversations.length, 1)
      const conversation = page.conversations[0]!.conversation
      assert.strictEqual(conversation.customerName, "Ada Lovelace")

      const receipt = yield* inbox.sendText(
        agent,
        conversation.id,
        { text: "It ships today." },
        { idempotencyKey: "r1" }
      )
      assert.strictEqual(receipt.outcome._tag, "Sent")
      const again = yield* inbox.sendText(agent, conversation.id, { text: "It ships today." }, { idempotencyKey: "r1" })
      assert.isTrue(again.replayed)

      const reader = makeActor({ businessId: tenant.businessId, scopes: ["messaging:conversations:read"] })
      const refused = yield* Effect.flip(inbox.sendText(reader, conversation.id, { text: "no" }))
      assert.strictEqual(refused._tag, "MissingScope")
    })
  )
})
