/**
 * The optional copy of media files: a port where Parley keeps the bytes of a message's file the first time it is
 * fetched, so it can still be served once the provider's retention has passed. Without one, files are always
 * streamed from the provider.
 */
import { Context, type Effect, type Option, Schema, type Stream } from "effect"
import type { BusinessId, MessageId } from "./Ids.js"
import type { StorageError } from "./StorageError.js"

/** A kept copy: its bytes, with what was checked when it was written. */
export interface StoredMedia {
  readonly mimeType: string
  readonly sizeBytes: number
  /** Lowercase hex SHA-256 of the bytes, computed while they were written. */
  readonly sha256: string
  readonly body: Stream.Stream<Uint8Array, StorageError>
}

/** The bytes given to `put` did not have the SHA-256 they were said to have; nothing was kept. */
export class MediaCorrupted extends Schema.TaggedError<MediaCorrupted>()("MediaCorrupted", {
  expected: Schema.String,
  actual: Schema.String
}) {
  override get message() {
    return `the file's bytes do not match its SHA-256 (expected ${this.expected}, got ${this.actual})`
  }
}

export class MediaStore extends Context.Tag("@parley/core/MediaStore")<
  MediaStore,
  {
    /** The copy of a message's file, when one was kept. */
    readonly get: (
      businessId: BusinessId,
      messageId: MessageId
    ) => Effect.Effect<Option.Option<StoredMedia>, StorageError>
    /**
     * Keeps a copy of a message's file, streamed to storage. It becomes visible only once complete and, when
     * `expectedSha256` (lowercase hex) is given, only if the bytes match it (`MediaCorrupted` otherwise). Keeping
     * the same message's file again replaces the copy.
     */
    readonly put: <E>(
      businessId: BusinessId,
      messageId: MessageId,
      file: {
        readonly mimeType: string
        readonly expectedSha256: string | null
        readonly body: Stream.Stream<Uint8Array, E>
      }
    ) => Effect.Effect<void, E | MediaCorrupted | StorageError>
  }
>() {}
