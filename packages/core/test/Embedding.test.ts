/**
 * The README's embedding example, run as a test so it stays true.
 */
import { assert, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { CustomerIdentity, Ids, Inbox, makeActor, Phone } from "../src/index.js"
import { FakeGateway, MemoryStorage, TestData } from "../src/testing/index.js"

it.effect("README: embed the core with your own adapters", () =>
  Effect.gen(function* () {
    // --- README example begins
    const inbox = yield* Inbox.Inbox
    const { businessId, userId, number } = yield* TestData.seedTenant("Acme")

    // A webhook (decoded by a provider adapter) brings a customer message…
    yield* inbox.receiveInbound(number, [
      {
        providerMessageId: "wamid.HBgLMTU1NTAwMDExMTEVAgASGBQ",
        customer: CustomerIdentity.byPhone(Phone.E164.make("+2348012345678")),
        customerName: Option.some("Ada Lovelace"),
        timestamp: TestData.epoch,
        messageType: "text",
        text: "Is my order shipped?",
        media: null,
        content: null,
        replyToProviderMessageId: null
      }
    ])

    // …and an agent with the right scopes answers inside the 24-hour window.
    const agent = makeActor({ businessId, userId, scopes: ["messaging:conversations:read", "messaging:messages:send"] })
    const page = yield* inbox.listConversations(agent, { status: "open" })
    const conversation = page.conversations[0]!.conversation
    const receipt = yield* inbox.sendText(
      agent,
      conversation.id,
      { text: "It ships today." },
      { idempotencyKey: "reply-1" }
    )
    // --- README example ends
    assert.strictEqual(receipt.outcome._tag, "Sent")
  }).pipe(
    Effect.provide(
      // Swap these for @parley/postgres and @parley/whatsapp-cloud (or your own adapters) in production.
      Inbox.layer().pipe(Layer.provideMerge(Layer.mergeAll(MemoryStorage.layer, FakeGateway.layer, Ids.layerUuidV7)))
    )
  )
)
