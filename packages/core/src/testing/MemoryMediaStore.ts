/**
 * A `MediaStore` in memory, for tests and embedders that want copies only for the process's life. It checks the
 * SHA-256 like any adapter, with the hash passed in (the core has no crypto of its own).
 */
import { Chunk, Effect, Layer, Option, Ref, Stream } from "effect"
import type { BusinessId, MessageId } from "../Ids.js"
import { MediaCorrupted, MediaStore } from "../MediaStore.js"

interface Copy {
  readonly mimeType: string
  readonly bytes: Uint8Array
  readonly sha256: string
}

/** `sha256`: lowercase hex SHA-256 of the bytes (e.g. node:crypto's `createHash("sha256")`). */
export const make = (sha256: (bytes: Uint8Array) => string) =>
  Effect.map(Ref.make<ReadonlyMap<string, Copy>>(new Map()), (copies) => {
    const keyOf = (businessId: BusinessId, messageId: MessageId) => `${businessId}/${messageId}`
    return MediaStore.of({
      get: (businessId, messageId) =>
        Effect.map(Ref.get(copies), (all) =>
          Option.map(Option.fromNullable(all.get(keyOf(businessId, messageId))), (copy) => ({
            mimeType: copy.mimeType,
            sizeBytes: copy.bytes.length,
            sha256: copy.sha256,
            body: Stream.succeed(copy.bytes)
          }))
        ),
      put: (businessId, messageId, file) =>
        Effect.gen(function* () {
          const chunks = Chunk.toReadonlyArray(yield* Stream.runCollect(file.body))
          const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0))
          let offset = 0
          for (const chunk of chunks) {
            bytes.set(chunk, offset)
            offset += chunk.length
          }
          const actual = sha256(bytes)
          if (file.expectedSha256 !== null && actual !== file.expectedSha256) {
            return yield* Effect.fail(new MediaCorrupted({ expected: file.expectedSha256, actual }))
          }
          yield* Ref.update(copies, (all) =>
            new Map(all).set(keyOf(businessId, messageId), { mimeType: file.mimeType, bytes, sha256: actual })
          )
        })
    })
  })

export const layer = (sha256: (bytes: Uint8Array) => string): Layer.Layer<MediaStore> =>
  Layer.effect(MediaStore, make(sha256))
