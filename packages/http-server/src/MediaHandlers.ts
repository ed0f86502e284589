/**
 * The media endpoints. A download streams the provider's bytes through, hashing them on the way: the whole file is
 * never in memory. An upload's file part is spooled to a temporary file while it is counted, so its size and type
 * are checked against WhatsApp's rules before a byte reaches the provider, and it is then streamed from disk.
 */
import { createHash } from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { HttpApiBuilder, HttpServerResponse, type Multipart } from "@effect/platform"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { InvalidRequest, Media, MediaLibrary } from "@parley/core"
import { Effect, Exit, Metric, Scope, Stream } from "effect"
import { Api } from "./Api.js"
import { type ApiError, invalidRequest } from "./ApiError.js"
import { toApiError } from "./ErrorMapping.js"
import { CurrentActor } from "./Security.js"

/** Downloads whose bytes did not match the provider's SHA-256 (the client's connection was cut). */
export const integrityFailures = Metric.counter("parley_media_sha256_mismatches_total", {
  description: "Media downloads cut off because the bytes did not match the provider's SHA-256"
})

const extensions: Readonly<Record<string, string>> = {
  "image/jpeg": "jpg",
  "image/png": "png",
  "image/webp": "webp",
  "video/mp4": "mp4",
  "video/3gpp": "3gp",
  "audio/ogg": "ogg",
  "audio/mpeg": "mp3",
  "audio/mp4": "m4a",
  "audio/aac": "aac",
  "audio/amr": "amr",
  "application/pdf": "pdf",
  "text/plain": "txt"
}

/**
 * `attachment` with an ASCII fallback `filename` and the exact name as RFC 5987 `filename*` (RFC 6266): quotes,
 * backslashes, control and non-ASCII characters never reach the header raw.
 */
export const contentDisposition = (filename: string): string => {
  const fallback = filename.replace(/[^\x20-\x7e]|["\\%]/g, "_").slice(0, 200) || "file"
  const encoded = encodeURIComponent(filename).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`
  )
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encoded}`
}

const filenameOf = (opened: MediaLibrary.OpenedMedia): string => {
  if (opened.filename !== null && opened.filename.length > 0) return opened.filename
  const extension = extensions[Media.baseMimeType(opened.mimeType)] ?? "bin"
  return `${opened.kind}-${opened.message.id}.${extension}`
}

/**
 * The bytes, hashed as they pass. The last chunk is held back until the hash is known: on a mismatch it is never
 * sent and the connection is cut (`cut`), so the client sees a body shorter than its Content-Length, never a
 * complete file with the wrong bytes. Logged and counted.
 */
const verified = (opened: MediaLibrary.OpenedMedia, cut: () => void) => {
  const expected = opened.expectedSha256
  if (expected === null) return opened.body
  const hash = createHash("sha256")
  let held: Uint8Array | undefined
  return opened.body.pipe(
    Stream.mapConcat((chunk) => {
      hash.update(chunk)
      const previous = held
      held = chunk
      return previous === undefined ? [] : [previous]
    }),
    Stream.concat(
      Stream.suspend(() => {
        const actual = hash.digest("hex")
        if (actual === expected) return held === undefined ? Stream.empty : Stream.succeed(held)
        return Stream.fromEffect(
          Effect.zipRight(
            Metric.increment(integrityFailures),
            Effect.logError("media download did not match its SHA-256; connection cut").pipe(
              Effect.annotateLogs({ messageId: opened.message.id, expected, actual })
            )
          ).pipe(Effect.zipRight(Effect.sync(cut)))
        ).pipe(Stream.flatMap(() => Stream.die(new Error("media SHA-256 mismatch"))))
      })
    )
  )
}

// ---------------------------------------------------------------------------------------------------------------
// Upload spooling

interface Spooled {
  readonly path: string
  readonly mimeType: string
  readonly filename: string
  readonly sizeBytes: number
  readonly head: Uint8Array
}

const headBytes = 32

/**
 * Writes a file part to `path`, counting; stops with `MediaTooLarge` as soon as the part passes the largest size
 * its type could be allowed (the exact rule is checked on the whole file after).
 */
const spool = (part: Multipart.File, path: string) =>
  Effect.acquireUseRelease(
    Effect.promise(() => Fs.promises.open(path, "w")),
    (handle) =>
      Effect.gen(function* () {
        const kind = Media.kindOf(part.contentType)
        if (kind === undefined) {
          return yield* Effect.fail(
            new Media.MediaTypeUnsupported({
              mimeType: Media.baseMimeType(part.contentType),
              allowed: Media.allMimeTypes
            })
          )
        }
        const rule: Media.MediaRule = Media.rules[kind]
        const ceiling = rule.maxAnimatedBytes ?? rule.maxBytes
        let size = 0
        const head = new Uint8Array(headBytes)
        yield* Stream.runForEach(part.content, (chunk) =>
          Effect.gen(function* () {
            if (size < headBytes) head.set(chunk.subarray(0, headBytes - size), size)
            size += chunk.length
            if (size > ceiling) {
              return yield* Effect.fail(
                new Media.MediaTooLarge({
                  kind,
                  mimeType: Media.baseMimeType(part.contentType),
                  sizeBytes: size,
                  maxBytes: ceiling
                })
              )
            }
            yield* Effect.promise(() => handle.write(chunk))
          })
        ).pipe(
          Effect.catchTag("MultipartError", (error) =>
            Effect.fail(invalidRequest([{ path: "file", message: `the upload could not be read: ${error.reason}` }]))
          )
        )
        return {
          path,
          mimeType: part.contentType,
          filename: part.name,
          sizeBytes: size,
          head: head.subarray(0, Math.min(size, headBytes))
        } satisfies Spooled
      }),
    (handle) => Effect.promise(() => handle.close())
  )

const fileStream = (path: string): Stream.Stream<Uint8Array> =>
  Stream.fromAsyncIterable(Fs.createReadStream(path, { highWaterMark: 64 * 1024 }), (cause) => cause).pipe(
    Stream.map((chunk) => (chunk instanceof Uint8Array ? chunk : new TextEncoder().encode(String(chunk)))),
    Stream.orDie
  )

/** A temporary directory for one upload, removed with the scope. */
const tempDir = Effect.acquireRelease(
  Effect.promise(() => Fs.promises.mkdtemp(Path.join(Os.tmpdir(), "parley-upload-"))),
  (dir) => Effect.promise(() => Fs.promises.rm(dir, { recursive: true, force: true }))
)

export const MediaLive = HttpApiBuilder.group(Api, "media", (handlers) =>
  Effect.gen(function* () {
    const library = yield* MediaLibrary.MediaLibrary
    return handlers
      .handle("getMessageMedia", ({ path, request }) =>
        Effect.gen(function* () {
          const actor = yield* CurrentActor
          // The provider's response must stay open after this handler returns, while the body streams: its scope
          // is closed by the body's end (or the client leaving), or here when opening fails.
          const scope = yield* Scope.make()
          const opened = yield* library.open(actor, path.id).pipe(
            Scope.extend(scope),
            Effect.onError((cause) => Scope.close(scope, Exit.failCause(cause)))
          )
          const cut = () => NodeHttpServerRequest.toServerResponse(request).destroy()
          const body = verified(opened, cut).pipe(Stream.ensuring(Scope.close(scope, Exit.void)))
          return HttpServerResponse.stream(body, {
            contentType: opened.mimeType,
            ...(opened.sizeBytes === null ? {} : { contentLength: opened.sizeBytes }),
            headers: {
              "content-disposition": contentDisposition(filenameOf(opened)),
              "x-content-type-options": "nosniff",
              "cache-control": "private, no-store"
            }
          })
        }).pipe(Effect.mapError(toApiError))
      )
      .handle("uploadMedia", ({ payload }) =>
        Effect.scoped(
          Effect.gen(function* () {
            const actor = yield* CurrentActor
            const dir = yield* tempDir
            let whatsappNumberId: string | undefined
            let file: Spooled | undefined
            yield* Stream.runForEach(payload, (part) =>
              Effect.gen(function* () {
                if (part._tag === "Field") {
                  if (part.key === "whatsappNumberId") whatsappNumberId = part.value
                  return
                }
                if (part.key !== "file" || file !== undefined) {
                  return yield* Effect.fail(
                    invalidRequest([{ path: part.key, message: "only one file, in the field `file`, is accepted" }])
                  )
                }
                file = yield* spool(part, Path.join(dir, "upload"))
              })
            ).pipe(
              Effect.catchTag("MultipartError", (error) =>
                Effect.fail(invalidRequest([{ path: "", message: `the form could not be read: ${error.reason}` }]))
              )
            )
            if (whatsappNumberId === undefined) {
              return yield* Effect.fail(InvalidRequest.single("whatsappNumberId", "is missing"))
            }
            if (file === undefined) return yield* Effect.fail(InvalidRequest.single("file", "is missing"))
            const uploaded = yield* library.upload(actor, {
              whatsappNumberId,
              mimeType: file.mimeType,
              filename: file.filename,
              file: { sizeBytes: file.sizeBytes, head: file.head },
              body: fileStream(file.path)
            })
            return {
              message: "Media uploaded",
              data: {
                mediaId: uploaded.providerMediaId,
                type: uploaded.kind,
                mimeType: uploaded.mimeType,
                sizeBytes: uploaded.sizeBytes
              }
            }
          })
        ).pipe(Effect.mapError((error): ApiError => toApiError(error)))
      )
  })
)
