/**
 * The media use cases beside the inbox's sends: opening a message's file for download, and uploading a file for
 * later sends. Like `Inbox`, it needs ports and provides none; the bytes only pass through the gateway's streams.
 */
import { Context, Effect, Either, Layer, Option, Schema, type Scope, Stream } from "effect"
import { type Actor, type MissingScope, requireScope } from "./Actor.js"
import { ConversationRepository } from "./ConversationRepository.js"
import { MessageId, WhatsAppNumberId } from "./Ids.js"
import * as Media from "./Media.js"
import { type MediaCorrupted, MediaStore, type StoredMedia } from "./MediaStore.js"
import type { MediaReference, Message } from "./Message.js"
import { MessageRepository } from "./MessageRepository.js"
import { type GatewayError, type MediaFile, MessagingGateway, ProviderUnavailable } from "./MessagingGateway.js"
import type { StorageError } from "./StorageError.js"
import { WhatsAppNumberNotFound } from "./WhatsAppNumber.js"
import { WhatsAppNumberDirectory } from "./WhatsAppNumberDirectory.js"

/** A message's file, opened: the provider's stream with what the message itself says about the file. */
export interface OpenedMedia extends MediaFile {
  readonly message: Message
  readonly kind: Media.MediaKind
  readonly filename: string | null
  /** The SHA-256 (lowercase hex) the bytes must have: the provider's, else the one the webhook carried. */
  readonly expectedSha256: string | null
}

/** A file the caller read from its client, with its first bytes (for the sticker rule) and its exact size. */
export interface UploadInput {
  readonly whatsappNumberId: string
  readonly mimeType: string
  readonly filename: string
  readonly file: Omit<Media.UploadCandidate, "mimeType">
  readonly body: Stream.Stream<Uint8Array>
}

export interface Uploaded {
  readonly providerMediaId: string
  readonly kind: Media.MediaKind
  readonly mimeType: string
  readonly sizeBytes: number
}

export type OpenError =
  | MissingScope
  | Media.MessageNotFound
  | Media.MessageHasNoMedia
  | Media.MediaGone
  | MediaCorrupted
  | WhatsAppNumberNotFound
  | GatewayError
  | StorageError

export type UploadError =
  | MissingScope
  | WhatsAppNumberNotFound
  | Media.MediaTypeUnsupported
  | Media.MediaTooLarge
  | GatewayError
  | StorageError

export class MediaLibrary extends Context.Tag("@parley/core/MediaLibrary")<
  MediaLibrary,
  {
    /**
     * Opens the file of one of the business's messages. The body is readable while `Scope` is open.
     * Scope `messaging:messages:read`.
     */
    readonly open: (actor: Actor, messageId: string) => Effect.Effect<OpenedMedia, OpenError, Scope.Scope>
    /**
     * Hands a file to the provider for a number, after `Media.checkUpload` accepted its type and size (nothing is
     * sent otherwise). Scope `messaging:messages:send`.
     */
    readonly upload: (actor: Actor, input: UploadInput) => Effect.Effect<Uploaded, UploadError>
  }
>() {}

const decodeMessageId = Schema.decodeUnknownOption(MessageId)
const decodeNumberId = Schema.decodeUnknownOption(WhatsAppNumberId)

const kindOfMessage = (message: Message, media: MediaReference): Media.MediaKind | undefined =>
  media.kind ?? Media.MediaKind.literals.find((k) => k === message.messageType)

export const make = Effect.gen(function* () {
  const messages = yield* MessageRepository
  const conversations = yield* ConversationRepository
  const numbers = yield* WhatsAppNumberDirectory
  const gateway = yield* MessagingGateway
  const store = yield* Effect.serviceOption(MediaStore)

  const findNumber = (actor: Actor, rawId: string) =>
    Effect.gen(function* () {
      const notFound = () => new WhatsAppNumberNotFound({ whatsappNumberId: rawId })
      const id = yield* Effect.orElseFail(decodeNumberId(rawId), notFound)
      return yield* Effect.orElseFail(yield* numbers.findById(actor.businessId, id), notFound)
    })

  const open = Effect.fn("MediaLibrary.open")(function* (actor: Actor, rawId: string) {
    yield* requireScope(actor, "messaging:messages:read")
    const notFound = () => new Media.MessageNotFound({ messageId: rawId })
    const id = yield* Effect.orElseFail(decodeMessageId(rawId), notFound)
    const message = yield* Effect.orElseFail(yield* messages.findById(actor.businessId, id), notFound)
    const media = message.media
    const kind = media === null ? undefined : kindOfMessage(message, media)
    if (media === null || media.providerMediaId === null || kind === undefined) {
      return yield* Effect.fail(new Media.MessageHasNoMedia({ messageId: message.id }))
    }
    const fromCopy = (copy: StoredMedia): OpenedMedia => ({
      mimeType: copy.mimeType,
      sizeBytes: copy.sizeBytes,
      sha256: copy.sha256,
      // A storage failure mid-stream is the provider's `ProviderUnavailable` to the reader: the transfer broke.
      body: copy.body.pipe(
        Stream.mapError((e) => new ProviderUnavailable({ code: null, title: `the kept copy broke off: ${e.message}` }))
      ),
      message,
      kind,
      filename: media.filename,
      // Checked when it was written; checking again costs nothing and catches a copy damaged on disk.
      expectedSha256: copy.sha256
    })
    if (Option.isSome(store)) {
      const copy = yield* store.value.get(actor.businessId, message.id)
      if (Option.isSome(copy)) return fromCopy(copy.value)
    }
    const conversation = yield* Effect.orElseFail(
      yield* conversations.findById(actor.businessId, message.conversationId),
      notFound
    )
    const number = yield* findNumber(actor, conversation.whatsappNumberId)
    const file = yield* gateway.fetchMedia({ from: number, providerMediaId: media.providerMediaId })
    const expected = file.sha256 ?? media.sha256
    const mimeType = file.mimeType.length > 0 ? file.mimeType : (media.mimeType ?? "application/octet-stream")
    const expectedSha256 = expected === null ? null : (Media.sha256Hex(expected) ?? null)
    if (Option.isSome(store)) {
      // The first fetch keeps a copy (checked against the provider's SHA-256 as it is written), then serves it.
      yield* store.value.put(actor.businessId, message.id, { mimeType, expectedSha256, body: file.body })
      const copy = yield* store.value.get(actor.businessId, message.id)
      if (Option.isSome(copy)) return fromCopy(copy.value)
    }
    return { ...file, mimeType, message, kind, filename: media.filename, expectedSha256 } satisfies OpenedMedia
  })

  const upload = Effect.fn("MediaLibrary.upload")(function* (actor: Actor, input: UploadInput) {
    yield* requireScope(actor, "messaging:messages:send")
    const number = yield* findNumber(actor, input.whatsappNumberId)
    const kind = yield* Either.match(Media.checkUpload({ ...input.file, mimeType: input.mimeType }), {
      onLeft: (refusal) => Effect.fail(refusal),
      onRight: (kind) => Effect.succeed(kind)
    })
    const mimeType = Media.baseMimeType(input.mimeType)
    // Opus in OGG is the one audio type whose parameters matter to WhatsApp: keep them as the client sent them.
    const providerType = mimeType === "audio/ogg" ? input.mimeType.trim() : mimeType
    const { providerMediaId } = yield* gateway.uploadMedia({
      from: number,
      mimeType: providerType,
      filename: input.filename,
      sizeBytes: input.file.sizeBytes,
      body: input.body
    })
    return { providerMediaId, kind, mimeType, sizeBytes: input.file.sizeBytes } satisfies Uploaded
  })

  return MediaLibrary.of({ open, upload })
})

export const layer = Layer.effect(MediaLibrary, make)
