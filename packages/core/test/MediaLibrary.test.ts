/**
 * The media use cases on memory storage and the fake gateway: a media send (window, one source, idempotency), a
 * message's file opened through the provider, and an upload checked before the provider sees it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Layer, Stream } from "effect"
import * as Inbox from "../src/Inbox.js"
import * as MediaLibrary from "../src/MediaLibrary.js"
import { MediaReference } from "../src/Message.js"
import { FakeGateway, TestData } from "../src/testing/index.js"
import { actorOf, notBefore, setNow, layer as world } from "./world.js"

const at = TestData.at
const layer = MediaLibrary.layer.pipe(Layer.provideMerge(world))

const bytes = Uint8Array.from({ length: 5000 }, (_, i) => i % 251)

/** A customer sends a PDF (held by the fake provider as `providerMediaId`); returns the message. */
const customerSendsDocument = (tenant: TestData.Tenant, providerMediaId: string, minute = 0) =>
  Effect.gen(function* () {
    const inbox = yield* Inbox.Inbox
    yield* notBefore(at(minute))
    const [result] = yield* inbox.receiveInbound(tenant.number, [
      TestData.inboundText({
        providerMessageId: `wamid.DOC${providerMediaId}`,
        timestamp: at(minute),
        messageType: "document",
        text: "receipt",
        media: new MediaReference({
          providerMediaId,
          url: null,
          mimeType: "application/pdf",
          sha256: null,
          filename: "receipt.pdf",
          kind: "document",
          caption: "receipt"
        })
      })
    ])
    if (result?._tag !== "Recorded") return yield* Effect.die("not recorded")
    return result.message
  })

describe("media use cases", () => {
  it.effect("sendMedia: a document by id goes out inside the window and is stored as a media message", () =>
    Effect.gen(function* () {
      const inbox = yield* Inbox.Inbox
      const gateway = yield* FakeGateway.FakeGateway
      const tenant = yield* TestData.seedTenant()
      const inbound = yield* customerSendsDocument(tenant, "1001")
      yield* setNow(at(30))
      const receipt = yield* inbox.sendMedia(actorOf(tenant), inbound.conversationId, {
        kind: "document",
        mediaId: "555",
        filename: "invoice.pdf",
        caption: "Invoice A-1042"
      })
      assert.strictEqual(receipt.outcome._tag, "Sent")
      if (receipt.outcome._tag !== "Sent") return
      const message = receipt.outcome.message
      assert.strictEqual(message.messageType, "document")
      assert.strictEqual(message.text, "Invoice A-1042")
      assert.deepStrictEqual(
        [message.media?.kind, message.media?.providerMediaId, message.media?.filename],
        ["document", "555", "invoice.pdf"]
      )
      const [call] = yield* gateway.accepted
      assert.strictEqual(call?.kind, "media")
      if (call?.kind === "media") {
        assert.deepStrictEqual(call.request.media, {
          kind: "document",
          providerMediaId: "555",
          filename: "invoice.pdf",
          caption: "Invoice A-1042"
        })
      }
    }).pipe(Effect.provide(layer))
  )

  it.effect("sendMedia: refused before the provider sees it after 24 h, or with two sources", () =>
    Effect.gen(function* () {
      const inbox = yield* Inbox.Inbox
      const gateway = yield* FakeGateway.FakeGateway
      const tenant = yield* TestData.seedTenant()
      const inbound = yield* customerSendsDocument(tenant, "1002")
      const both = yield* Effect.flip(
        inbox.sendMedia(actorOf(tenant), inbound.conversationId, {
          kind: "image",
          mediaId: "1",
          link: "https://example.com/a.jpg"
        })
      )
      assert.strictEqual(both._tag, "InvalidRequest")
      yield* setNow(at(24 * 60))
      const late = yield* Effect.flip(
        inbox.sendMedia(actorOf(tenant), inbound.conversationId, { kind: "image", mediaId: "1" })
      )
      assert.strictEqual(late._tag, "ServiceWindowClosed")
      assert.strictEqual((yield* gateway.calls).length, 0)
    }).pipe(Effect.provide(layer))
  )

  it.effect("sendMedia: the same key and body replays; another body under it is refused", () =>
    Effect.gen(function* () {
      const inbox = yield* Inbox.Inbox
      const gateway = yield* FakeGateway.FakeGateway
      const tenant = yield* TestData.seedTenant()
      const inbound = yield* customerSendsDocument(tenant, "1003")
      const input = { kind: "sticker", mediaId: "77" } as const
      const first = yield* inbox.sendMedia(actorOf(tenant), inbound.conversationId, input, { idempotencyKey: "k1" })
      const again = yield* inbox.sendMedia(actorOf(tenant), inbound.conversationId, input, { idempotencyKey: "k1" })
      assert.isTrue(again.replayed)
      assert.strictEqual(first.outcome._tag, "Sent")
      assert.strictEqual(again.outcome._tag, "Sent")
      if (first.outcome._tag === "Sent" && again.outcome._tag === "Sent") {
        assert.strictEqual(again.outcome.message.id, first.outcome.message.id)
      }
      const other = yield* Effect.flip(
        inbox.sendMedia(
          actorOf(tenant),
          inbound.conversationId,
          { kind: "sticker", mediaId: "78" },
          {
            idempotencyKey: "k1"
          }
        )
      )
      assert.strictEqual(other._tag, "IdempotencyKeyReused")
      assert.strictEqual((yield* gateway.calls).length, 1)
    }).pipe(Effect.provide(layer))
  )

  it.scoped("open: a message's file streams from the provider; a forgotten one is MediaGone", () =>
    Effect.gen(function* () {
      const library = yield* MediaLibrary.MediaLibrary
      const gateway = yield* FakeGateway.FakeGateway
      const tenant = yield* TestData.seedTenant()
      yield* gateway.putMedia("2001", { mimeType: "application/pdf", bytes, sha256: null, filename: null })
      const message = yield* customerSendsDocument(tenant, "2001")
      const opened = yield* library.open(actorOf(tenant), message.id)
      assert.deepStrictEqual(
        [opened.kind, opened.filename, opened.mimeType],
        ["document", "receipt.pdf", "application/pdf"]
      )
      const chunks = yield* Stream.runCollect(opened.body)
      assert.deepStrictEqual(Chunk.toReadonlyArray(chunks), [bytes])
      yield* gateway.expireMedia("2001")
      assert.strictEqual((yield* Effect.flip(library.open(actorOf(tenant), message.id)))._tag, "MediaGone")
      const other = yield* TestData.seedTenant("Other")
      assert.strictEqual((yield* Effect.flip(library.open(actorOf(other), message.id)))._tag, "MessageNotFound")
      const reader = actorOf(tenant, ["messaging:conversations:read"])
      assert.strictEqual((yield* Effect.flip(library.open(reader, message.id)))._tag, "MissingScope")
    }).pipe(Effect.provide(layer))
  )

  it.effect("upload: refused by type or size before the provider sees it; accepted ones answer the provider's id", () =>
    Effect.gen(function* () {
      const library = yield* MediaLibrary.MediaLibrary
      const gateway = yield* FakeGateway.FakeGateway
      const tenant = yield* TestData.seedTenant()
      const upload = (mimeType: string, sizeBytes: number) =>
        library.upload(actorOf(tenant), {
          whatsappNumberId: tenant.number.id,
          mimeType,
          filename: "f",
          file: { sizeBytes, head: new Uint8Array() },
          body: Stream.succeed(bytes.subarray(0, Math.min(sizeBytes, bytes.length)))
        })
      assert.strictEqual((yield* Effect.flip(upload("image/gif", 10)))._tag, "MediaTypeUnsupported")
      assert.strictEqual((yield* Effect.flip(upload("image/png", 5_000_001)))._tag, "MediaTooLarge")
      assert.strictEqual((yield* gateway.media).size, 0)
      const uploaded = yield* upload("audio/ogg; codecs=opus", 5000)
      assert.deepStrictEqual([uploaded.kind, uploaded.mimeType, uploaded.sizeBytes], ["audio", "audio/ogg", 5000])
      const held = (yield* gateway.media).get(uploaded.providerMediaId)
      // Opus in OGG keeps its codec parameter on the way to the provider.
      assert.strictEqual(held?.mimeType, "audio/ogg; codecs=opus")
    }).pipe(Effect.provide(layer))
  )
})
