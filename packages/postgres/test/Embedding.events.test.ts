/**
 * docs/embedding.md's event example, run as a test so it stays true: an embedding backend subscribes in-process,
 * as an Effect `Stream`, to the events of its business, on the embedded PGlite storage.
 */
import { assert, it } from "@effect/vitest"
import { CustomerIdentity, EventFeed, Ids, Inbox, makeActor, Phone } from "@parley/core"
import { FakeGateway, TestData } from "@parley/core/testing"
import { Chunk, Effect, Fiber, Layer, Option, Redacted, Stream } from "effect"
import * as Secrets from "../src/Secrets.js"
import * as Storage from "../src/Storage.js"
import { SqlStorageSeeder } from "../src/testing/index.js"

const storage = Storage.layerPglite({ secretKey: Redacted.make(Secrets.generateKey()) })

it.live("docs/embedding.md: follow your business's events in-process", () =>
  Effect.gen(function* () {
    const inbox = yield* Inbox.Inbox
    const { businessId, number } = yield* TestData.seedTenant("Acme")
    // --- embedding example begins
    // An actor with the events scope (an API key's, or your own backend's).
    const backend = makeActor({ businessId, scopes: ["messaging:events:read", "messaging:messages:send"] })

    // Every new event of the business, as it is recorded (by this process or, on PostgreSQL, any other).
    const followed = yield* EventFeed.follow(backend, { after: Option.none() }).pipe(
      Stream.tap(({ event }) => Effect.log(`${event.type} #${event.sequence}`)),
      Stream.take(2),
      Stream.runCollect,
      Effect.fork
    )
    // --- embedding example ends
    yield* Effect.sleep("200 millis")
    yield* inbox.receiveInbound(number, [
      {
        providerMessageId: "wamid.EMBEDDING1",
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
    const events = Chunk.toReadonlyArray(yield* Fiber.join(followed).pipe(Effect.timeout("30 seconds")))
    assert.deepStrictEqual(
      events.map(({ event }) => [event.type, event.sequence]),
      [
        ["conversation.created", 1],
        ["message.received", 2]
      ]
    )
  }).pipe(
    Effect.provide(
      Inbox.layer().pipe(
        Layer.provideMerge(
          Layer.mergeAll(
            Layer.merge(storage, SqlStorageSeeder.layer.pipe(Layer.provide(storage))),
            FakeGateway.layer,
            Ids.layerUuidV7
          )
        )
      )
    )
  )
)
