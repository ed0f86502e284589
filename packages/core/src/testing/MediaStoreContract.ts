/**
 * The contract every `MediaStore` adapter passes (memory, a directory, …): a copy reads back byte for byte with its
 * type, size and SHA-256; a copy whose bytes do not match the expected SHA-256 is never visible; copies are per
 * business and message; a later copy replaces the earlier one; a body that fails keeps nothing.
 */
import { assert, layer } from "@effect/vitest"
import { Chunk, Effect, type Layer, Option, Stream } from "effect"
import { BusinessId, MessageId } from "../Ids.js"
import { MediaStore } from "../MediaStore.js"

let counter = 0
const fresh = () => {
  const n = (++counter).toString(16).padStart(12, "0")
  return {
    businessId: BusinessId.make(`00000000-0000-4000-8000-${n}`),
    messageId: MessageId.make(`00000000-0000-4000-9000-${n}`)
  }
}

const collect = <E>(stream: Stream.Stream<Uint8Array, E>) =>
  Effect.map(Stream.runCollect(stream), (chunks) => {
    const all = Chunk.toReadonlyArray(chunks)
    const out = new Uint8Array(all.reduce((n, c) => n + c.length, 0))
    let offset = 0
    for (const chunk of all) {
      out.set(chunk, offset)
      offset += chunk.length
    }
    return out
  })

/**
 * `sha256`: lowercase hex SHA-256 of bytes, to state the expected hashes (the core has no crypto of its own).
 */
export const runMediaStoreContract = <E>(
  name: string,
  store: Layer.Layer<MediaStore, E>,
  sha256: (bytes: Uint8Array) => string
): void =>
  layer(store, { excludeTestServices: true, timeout: 60_000 })(`MediaStore contract: ${name}`, (it) => {
    const file = Uint8Array.from({ length: 200_000 }, (_, i) => (i * 17) % 256)
    const inChunks = (bytes: Uint8Array) =>
      Stream.fromIterable([bytes.subarray(0, 70_000), bytes.subarray(70_000, 140_000), bytes.subarray(140_000)])

    it.effect("a copy reads back byte for byte, with its type, size and SHA-256", () =>
      Effect.gen(function* () {
        const media = yield* MediaStore
        const { businessId, messageId } = fresh()
        assert.isTrue(Option.isNone(yield* media.get(businessId, messageId)))
        yield* media.put(businessId, messageId, {
          mimeType: "application/pdf",
          expectedSha256: sha256(file),
          body: inChunks(file)
        })
        const copy = Option.getOrThrow(yield* media.get(businessId, messageId))
        assert.deepStrictEqual(
          [copy.mimeType, copy.sizeBytes, copy.sha256],
          ["application/pdf", file.length, sha256(file)]
        )
        assert.deepStrictEqual(yield* collect(copy.body), file)
      })
    )

    it.effect("bytes that do not match the expected SHA-256 are refused and never visible", () =>
      Effect.gen(function* () {
        const media = yield* MediaStore
        const { businessId, messageId } = fresh()
        const error = yield* Effect.flip(
          media.put(businessId, messageId, {
            mimeType: "image/png",
            expectedSha256: "0".repeat(64),
            body: inChunks(file)
          })
        )
        assert.strictEqual(error._tag, "MediaCorrupted")
        assert.isTrue(Option.isNone(yield* media.get(businessId, messageId)))
      })
    )

    it.effect("without an expected SHA-256 the copy records the one it computed", () =>
      Effect.gen(function* () {
        const media = yield* MediaStore
        const { businessId, messageId } = fresh()
        yield* media.put(businessId, messageId, { mimeType: "image/png", expectedSha256: null, body: inChunks(file) })
        assert.strictEqual(Option.getOrThrow(yield* media.get(businessId, messageId)).sha256, sha256(file))
      })
    )

    it.effect("a body that fails keeps nothing", () =>
      Effect.gen(function* () {
        const media = yield* MediaStore
        const { businessId, messageId } = fresh()
        const broken = Stream.concat(inChunks(file), Stream.fail("the transfer broke" as const))
        const error = yield* Effect.flip(
          media.put(businessId, messageId, { mimeType: "image/png", expectedSha256: null, body: broken })
        )
        assert.strictEqual(error, "the transfer broke")
        assert.isTrue(Option.isNone(yield* media.get(businessId, messageId)))
      })
    )

    it.effect("copies are per business and message, and a later copy replaces the earlier one", () =>
      Effect.gen(function* () {
        const media = yield* MediaStore
        const a = fresh()
        const b = fresh()
        yield* media.put(a.businessId, a.messageId, {
          mimeType: "text/plain",
          expectedSha256: null,
          body: inChunks(file)
        })
        assert.isTrue(Option.isNone(yield* media.get(b.businessId, a.messageId)))
        assert.isTrue(Option.isNone(yield* media.get(a.businessId, b.messageId)))
        const second = file.subarray(0, 10)
        yield* media.put(a.businessId, a.messageId, {
          mimeType: "text/plain",
          expectedSha256: sha256(second),
          body: Stream.succeed(second)
        })
        const copy = Option.getOrThrow(yield* media.get(a.businessId, a.messageId))
        assert.deepStrictEqual(yield* collect(copy.body), second)
      })
    )
  })
