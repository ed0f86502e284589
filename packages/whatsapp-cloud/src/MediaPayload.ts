/**
 * Meta's media wire formats: the body of a media send, the answer of `GET /{media-id}`, and the streamed multipart
 * body of `POST /{phone-number-id}/media`. Pure: no I/O.
 */
import type { CustomerIdentity, Media, MessageId } from "@parley/core"
import { Schema, Stream } from "effect"
import { recipientOf } from "./MessagePayload.js"

/** `{ type: "image", image: { id | link, caption?, filename? } }`: exactly one of id and link, as Meta requires. */
export const mediaMessage = (request: {
  readonly to: CustomerIdentity
  readonly messageId: MessageId
  readonly media: Media.MediaSource
}) => {
  const { media } = request
  const object: Record<string, string> =
    media.providerMediaId !== undefined ? { id: media.providerMediaId } : { link: media.link ?? "" }
  if (media.caption !== undefined) object.caption = media.caption
  if (media.filename !== undefined) object.filename = media.filename
  return {
    messaging_product: "whatsapp" as const,
    recipient_type: "individual" as const,
    to: recipientOf(request.to),
    biz_opaque_callback_data: request.messageId,
    type: media.kind,
    [media.kind]: object
  }
}

// `file_size` arrives as a number from some API versions and a string from others.
const FileSize = Schema.Union(Schema.NonNegativeInt, Schema.NumberFromString.pipe(Schema.int(), Schema.nonNegative()))

/** `GET /{media-id}`: where to download the file (for about 5 minutes) and what it is. */
export const MediaInfo = Schema.Struct({
  url: Schema.String.pipe(Schema.minLength(1)),
  mime_type: Schema.optional(Schema.String),
  sha256: Schema.optional(Schema.String),
  file_size: Schema.optional(FileSize),
  id: Schema.optional(Schema.String),
  messaging_product: Schema.optional(Schema.String)
})
export type MediaInfo = typeof MediaInfo.Type

/** `POST /{phone-number-id}/media`: the new media id. */
export const UploadResponse = Schema.Struct({ id: Schema.String.pipe(Schema.minLength(1)) })

const encoder = new TextEncoder()

/** A filename safe inside a quoted multipart header: no quotes, backslashes or line breaks. */
const headerFilename = (filename: string): string => filename.replace(/["\\\r\n]/g, "_")

/**
 * The multipart body of an upload, streamed: the two fields Meta requires, then the file part around `body`.
 * Its exact length is known up front, so the request carries a `Content-Length` and nothing is buffered.
 */
export const uploadBody = <E>(
  file: { readonly mimeType: string; readonly filename: string; readonly sizeBytes: number },
  body: Stream.Stream<Uint8Array, E>,
  boundary: string
): { readonly contentType: string; readonly contentLength: number; readonly stream: Stream.Stream<Uint8Array, E> } => {
  const field = (name: string, value: string) =>
    `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`
  const head = encoder.encode(
    field("messaging_product", "whatsapp") +
      field("type", file.mimeType) +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${headerFilename(file.filename)}"\r\n` +
      `Content-Type: ${file.mimeType}\r\n\r\n`
  )
  const tail = encoder.encode(`\r\n--${boundary}--\r\n`)
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    contentLength: head.length + file.sizeBytes + tail.length,
    stream: Stream.concat(Stream.concat(Stream.succeed(head), body), Stream.succeed(tail))
  }
}
