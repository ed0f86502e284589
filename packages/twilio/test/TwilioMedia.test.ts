/**
 * The Twilio gateway's media downloads against the fake Twilio API over loopback: the Media resource is read with the
 * number's Basic credentials, its redirect followed without them, and stored ids that are not `MM…/ME…` refused
 * with a typed error before anything is sent.
 */
import { assert, layer } from "@effect/vitest"
import { MessagingGateway, WhatsAppNumber } from "@parley/core"
import { Chunk, Effect, Redacted, Stream } from "effect"
import { FakeTwilioApi } from "../src/testing/FakeTwilioApi.js"
import { apiKey, gatewayLayer, number } from "./support/harness.js"

const setup = Effect.gen(function* () {
  const fake = yield* FakeTwilioApi
  yield* fake.reset
  return { fake, gateway: yield* MessagingGateway }
})

const photo = Uint8Array.from({ length: 5_000 }, (_, i) => (i * 31) % 256)

const bytesOf = (body: Stream.Stream<Uint8Array, unknown>) =>
  Effect.map(Stream.runCollect(body), (chunks) => Buffer.concat(Chunk.toArray(chunks)))

layer(gatewayLayer(), { excludeTestServices: true, timeout: "30 seconds" })("TwilioGateway media", (it) => {
  it.scoped("downloads with Basic auth on the Media resource and none on the signed URL it redirects to", () =>
    Effect.gen(function* () {
      const { fake, gateway } = yield* setup
      const held = fake.server.putMedia({ contentType: "image/jpeg", bytes: photo })
      const withKey = new WhatsAppNumber({
        ...number,
        providerApiKey: { sid: apiKey.sid, secret: Redacted.make(apiKey.secret) }
      })
      const file = yield* gateway.fetchMedia({ from: withKey, providerMediaId: held.providerMediaId })
      assert.strictEqual(file.mimeType, "image/jpeg")
      assert.strictEqual(file.sizeBytes, photo.length)
      assert.isNull(file.sha256)
      assert.deepStrictEqual(new Uint8Array(yield* bytesOf(file.body)), photo)
      const requests = yield* fake.requests
      assert.deepStrictEqual(
        requests.map((r) => [r.operation, r.username]),
        [
          ["media", apiKey.sid],
          ["media-file", null]
        ]
      )
      assert.strictEqual(
        requests[0]?.path,
        `/2010-04-01/Accounts/${number.providerAccountId}/Messages/${held.file.messageSid}/Media/${held.file.mediaSid}`
      )
    })
  )

  it.scoped("a deleted file is MediaGone; a file of another account is refused as misconfiguration", () =>
    Effect.gen(function* () {
      const { fake, gateway } = yield* setup
      const held = fake.server.putMedia({ contentType: "audio/ogg", bytes: photo.subarray(0, 10) })
      fake.server.deleteMedia(held.file.mediaSid)
      const gone = yield* Effect.flip(gateway.fetchMedia({ from: number, providerMediaId: held.providerMediaId }))
      assert.strictEqual(gone._tag, "MediaGone")
      const wrongToken = new WhatsAppNumber({ ...number, accessToken: Redacted.make("not-the-token") })
      const other = fake.server.putMedia({ contentType: "audio/ogg", bytes: photo.subarray(0, 10) })
      const refused = yield* Effect.flip(
        gateway.fetchMedia({ from: wrongToken, providerMediaId: other.providerMediaId })
      )
      assert.strictEqual(refused._tag, "ProviderMisconfigured")
    })
  )

  it.scoped("retries a download that did not start (503, a reset), never one Twilio refused", () =>
    Effect.gen(function* () {
      const { fake, gateway } = yield* setup
      const held = fake.server.putMedia({ contentType: "video/mp4", bytes: photo })
      yield* fake.fail({ fault: { kind: "twilio-error", code: 20503 }, operations: ["media"] })
      yield* fake.fail({ fault: { kind: "reset" }, operations: ["media-file"] })
      const file = yield* gateway.fetchMedia({ from: number, providerMediaId: held.providerMediaId })
      assert.deepStrictEqual(new Uint8Array(yield* bytesOf(file.body)), photo)
      assert.deepStrictEqual(
        (yield* fake.requests).map((r) => r.operation),
        ["media", "media", "media-file", "media", "media-file"]
      )

      yield* fake.reset
      yield* fake.fail({ fault: { kind: "twilio-error", code: 20003 }, operations: ["media"], times: "always" })
      const refused = yield* Effect.flip(gateway.fetchMedia({ from: number, providerMediaId: held.providerMediaId }))
      assert.strictEqual(refused._tag, "ProviderMisconfigured")
      assert.strictEqual((yield* fake.requests).length, 1)
    })
  )

  it.scoped("refuses an old media-sid-only id, a URL and a malformed id with ProviderRejected, sending nothing", () =>
    Effect.gen(function* () {
      const { fake, gateway } = yield* setup
      const held = fake.server.putMedia({ contentType: "image/png", bytes: photo })
      for (const providerMediaId of [
        held.file.mediaSid,
        held.url,
        `${held.file.messageSid}/../${held.file.mediaSid}`,
        `MM${"g".repeat(32)}/${held.file.mediaSid}`,
        ""
      ]) {
        const error = yield* Effect.flip(gateway.fetchMedia({ from: number, providerMediaId }))
        assert.strictEqual(error._tag, "ProviderRejected", providerMediaId)
      }
      assert.deepStrictEqual(yield* fake.requests, [])
    })
  )
})
