/**
 * The core's `MediaStore` on a directory (`PARLEY_MEDIA_DIR`): one file per message's media under
 * `<dir>/<businessId>/<messageId>`, with its type and SHA-256 beside it in `<messageId>.json`. A copy is written to a
 * temporary name, hashed as it goes, and renamed into place only when complete and matching: a crash or a bad hash
 * never leaves a half file that could be served. The metadata is renamed last, and `get` needs it.
 */
import { createHash, randomBytes } from "node:crypto"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { type BusinessId, MediaCorrupted, MediaStore, type MessageId, StorageError } from "@parley/core"
import { Effect, Layer, Option, Schema, Stream } from "effect"

const Meta = Schema.parseJson(
  Schema.Struct({ mimeType: Schema.String, sizeBytes: Schema.NonNegativeInt, sha256: Schema.String })
)
const decodeMeta = Schema.decodeUnknownOption(Meta)

const failed = (operation: string) => (cause: unknown) =>
  new StorageError({
    operation: `MediaDirectory.${operation}`,
    reason: cause instanceof Error ? cause.message : String(cause)
  })

const attempt = <A>(operation: string, run: () => Promise<A>) =>
  Effect.tryPromise({ try: run, catch: failed(operation) })

// Ids are UUIDs (checked by the core before a store is asked); the pattern keeps any other value off the path.
const safe = /^[0-9a-fA-F-]{36}$/

export const make = (directory: string): MediaStore.MediaStore["Type"] => {
  const root = Path.resolve(directory)
  const pathsOf = (businessId: BusinessId, messageId: MessageId) => {
    if (!safe.test(businessId) || !safe.test(messageId)) return undefined
    const folder = Path.join(root, businessId.toLowerCase())
    return { folder, data: Path.join(folder, messageId.toLowerCase()), meta: Path.join(folder, `${messageId}.json`) }
  }

  const get: MediaStore.MediaStore["Type"]["get"] = (businessId, messageId) =>
    Effect.gen(function* () {
      const paths = pathsOf(businessId, messageId)
      if (paths === undefined) return Option.none()
      const text = yield* attempt("get", () => Fs.promises.readFile(paths.meta, "utf8")).pipe(
        Effect.catchIf(
          (error) => error.reason.includes("ENOENT"),
          () => Effect.succeed(undefined)
        )
      )
      if (text === undefined) return Option.none()
      const meta = decodeMeta(text)
      if (Option.isNone(meta)) return Option.none()
      const body = Stream.fromAsyncIterable(
        Fs.createReadStream(paths.data, { highWaterMark: 64 * 1024 }),
        failed("read")
      ).pipe(Stream.map((chunk) => (chunk instanceof Uint8Array ? chunk : new TextEncoder().encode(String(chunk)))))
      return Option.some({ ...meta.value, body })
    })

  const put: MediaStore.MediaStore["Type"]["put"] = (businessId, messageId, file) =>
    Effect.gen(function* () {
      const paths = pathsOf(businessId, messageId)
      if (paths === undefined) return yield* Effect.fail(failed("put")(new Error("not a stored message's id")))
      yield* attempt("put", () => Fs.promises.mkdir(paths.folder, { recursive: true }))
      const temporary = `${paths.data}.partial-${randomBytes(6).toString("hex")}`
      const hash = createHash("sha256")
      let size = 0
      const written = Effect.acquireUseRelease(
        attempt("put", () => Fs.promises.open(temporary, "w")),
        (handle) =>
          Stream.runForEach(file.body, (chunk) =>
            Effect.zipRight(
              Effect.sync(() => {
                hash.update(chunk)
                size += chunk.length
              }),
              attempt("put", () => handle.write(chunk))
            )
          ),
        (handle) => Effect.promise(() => handle.close())
      )
      yield* written.pipe(Effect.onError(() => Effect.promise(() => Fs.promises.rm(temporary, { force: true }))))
      const actual = hash.digest("hex")
      if (file.expectedSha256 !== null && actual !== file.expectedSha256) {
        yield* Effect.promise(() => Fs.promises.rm(temporary, { force: true }))
        return yield* Effect.fail(new MediaCorrupted({ expected: file.expectedSha256, actual }))
      }
      const metaTemporary = `${paths.meta}.partial-${randomBytes(6).toString("hex")}`
      const meta = JSON.stringify({ mimeType: file.mimeType, sizeBytes: size, sha256: actual })
      yield* attempt("put", async () => {
        await Fs.promises.writeFile(metaTemporary, meta)
        await Fs.promises.rename(temporary, paths.data)
        await Fs.promises.rename(metaTemporary, paths.meta)
      })
    })

  return MediaStore.MediaStore.of({ get, put })
}

/** A `MediaStore` on `directory` (created when missing). */
export const layer = (directory: string): Layer.Layer<MediaStore.MediaStore> =>
  Layer.sync(MediaStore.MediaStore, () => make(directory))
