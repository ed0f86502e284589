/**
 * Media messages: the five kinds WhatsApp carries as files, what each accepts (MIME types, sizes, caption,
 * filename), the input of a media send, and the typed refusals. Pure: the bytes themselves only pass through ports.
 */
import { Either, Encoding, Schema } from "effect"
import { RequestIssue } from "./InvalidRequest.js"
import { NonBlank, Storable } from "./Text.js"

export const MediaKind = Schema.Literal("image", "audio", "video", "document", "sticker")
export type MediaKind = typeof MediaKind.Type

export interface MediaRule {
  /** MIME types (without parameters) the provider accepts for this kind. */
  readonly mimeTypes: ReadonlyArray<string>
  /** Largest file, in bytes. A sticker's is its static size; animated stickers may reach `maxAnimatedBytes`. */
  readonly maxBytes: number
  readonly maxAnimatedBytes?: number
  /** Whether a send of this kind may carry a caption. */
  readonly caption: boolean
  /** Whether a send of this kind may carry a filename (the extension decides how WhatsApp shows it). */
  readonly filename: boolean
}

// WhatsApp states its limits in MB and KB without saying which; decimal units are the stricter reading, so a file
// Parley accepts is never refused by the provider for its size.
const MB = 1_000_000
const KB = 1_000

/** WhatsApp's per-kind rules (Cloud API media reference). One table: uploads, sends and docs all read it. */
export const rules = {
  image: { mimeTypes: ["image/jpeg", "image/png"], maxBytes: 5 * MB, caption: true, filename: false },
  video: { mimeTypes: ["video/mp4", "video/3gpp", "video/3gp"], maxBytes: 16 * MB, caption: true, filename: false },
  audio: {
    mimeTypes: ["audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"],
    maxBytes: 16 * MB,
    caption: false,
    filename: false
  },
  document: {
    mimeTypes: [
      "text/plain",
      "application/pdf",
      "application/msword",
      "application/vnd.ms-excel",
      "application/vnd.ms-powerpoint",
      "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
      "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
      "application/vnd.openxmlformats-officedocument.presentationml.presentation"
    ],
    maxBytes: 100 * MB,
    caption: true,
    filename: true
  },
  sticker: {
    mimeTypes: ["image/webp"],
    maxBytes: 100 * KB,
    maxAnimatedBytes: 500 * KB,
    caption: false,
    filename: false
  }
} as const satisfies Record<MediaKind, MediaRule>

/** The largest file any kind accepts: the ceiling of an upload before its type is known. */
export const maxUploadBytes: number = Math.max(
  ...Object.values(rules).map((r: MediaRule) => r.maxAnimatedBytes ?? r.maxBytes)
)

/** `Audio/OGG; codecs=opus` → `audio/ogg`: providers compare the type without its parameters. */
export const baseMimeType = (mimeType: string): string => (mimeType.split(";")[0] ?? "").trim().toLowerCase()

/** The kind a file of this MIME type is sent as (`image/webp` is a sticker), if WhatsApp takes it at all. */
export const kindOf = (mimeType: string): MediaKind | undefined => {
  const base = baseMimeType(mimeType)
  return MediaKind.literals.find((kind) => (rules[kind].mimeTypes as ReadonlyArray<string>).includes(base))
}

/** Every MIME type some kind accepts, for a refusal that lists them. */
export const allMimeTypes: ReadonlyArray<string> = MediaKind.literals.flatMap((kind) => rules[kind].mimeTypes)

/**
 * Whether a WebP file is animated, from its first 21 bytes: an extended (`VP8X`) WebP whose header sets the
 * animation flag (bit 1 of byte 20). A shorter or non-extended header is a still image.
 */
export const isAnimatedWebp = (head: Uint8Array): boolean =>
  head.length >= 21 &&
  String.fromCharCode(head[0] ?? 0, head[1] ?? 0, head[2] ?? 0, head[3] ?? 0) === "RIFF" &&
  String.fromCharCode(head[12] ?? 0, head[13] ?? 0, head[14] ?? 0, head[15] ?? 0) === "VP8X" &&
  ((head[20] ?? 0) & 0x02) !== 0

/** The file's MIME type is not one WhatsApp accepts for any kind (HTTP 415). */
export class MediaTypeUnsupported extends Schema.TaggedError<MediaTypeUnsupported>()("MediaTypeUnsupported", {
  mimeType: Schema.String,
  allowed: Schema.Array(Schema.String)
}) {
  override get message() {
    return `${this.mimeType === "" ? "a file without a type" : this.mimeType} cannot be sent on WhatsApp; allowed: ${this.allowed.join(", ")}`
  }
}

/** The file is larger than its kind allows (HTTP 413). */
export class MediaTooLarge extends Schema.TaggedError<MediaTooLarge>()("MediaTooLarge", {
  kind: MediaKind,
  mimeType: Schema.String,
  sizeBytes: Schema.Number,
  maxBytes: Schema.Number
}) {
  override get message() {
    return `a ${this.kind} (${this.mimeType}) may be at most ${this.maxBytes} bytes; this one is ${this.sizeBytes}`
  }
}

/** The message exists but carries no file (HTTP 404). */
export class MessageHasNoMedia extends Schema.TaggedError<MessageHasNoMedia>()("MessageHasNoMedia", {
  messageId: Schema.String
}) {}

/** No message with this id in the business (HTTP 404). */
export class MessageNotFound extends Schema.TaggedError<MessageNotFound>()("MessageNotFound", {
  messageId: Schema.String
}) {}

/** The provider no longer has the file (its retention passed) and no copy was kept (HTTP 410). Final. */
export class MediaGone extends Schema.TaggedError<MediaGone>()("MediaGone", {
  providerMediaId: Schema.String
}) {}

/** What a file to upload is, as far as can be told before sending it: its type, size and first bytes. */
export interface UploadCandidate {
  readonly mimeType: string
  readonly sizeBytes: number
  /** The file's first bytes (at least 21 tell an animated WebP from a still one). */
  readonly head: Uint8Array
}

/** The kind an upload is sent as, or why WhatsApp would refuse it: decided before a byte leaves Parley. */
export const checkUpload = (file: UploadCandidate): Either.Either<MediaKind, MediaTypeUnsupported | MediaTooLarge> => {
  const kind = kindOf(file.mimeType)
  if (kind === undefined) {
    return Either.left(new MediaTypeUnsupported({ mimeType: baseMimeType(file.mimeType), allowed: allMimeTypes }))
  }
  const rule: MediaRule = rules[kind]
  const maxBytes =
    kind === "sticker" && isAnimatedWebp(file.head) ? (rule.maxAnimatedBytes ?? rule.maxBytes) : rule.maxBytes
  return file.sizeBytes > maxBytes
    ? Either.left(
        new MediaTooLarge({ kind, mimeType: baseMimeType(file.mimeType), sizeBytes: file.sizeBytes, maxBytes })
      )
    : Either.right(kind)
}

/** A provider media id as Parley passes it on: short, no spaces or path characters. */
export const ProviderMediaId = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9._:-]{1,128}$/, { message: () => "must be a media id returned by an upload" })
)

/** An HTTPS URL the provider fetches the file from. */
export const MediaLink = Storable.pipe(
  Schema.maxLength(2000),
  Schema.pattern(/^https:\/\/[^\s/?#]+[^\s]*$/, { message: () => "must be an https URL" })
)

/** Meta's limit for a media caption. */
export const maxCaptionLength = 1024

/** A media message to send: a kind and exactly one of `link` or `mediaId`; caption and filename where allowed. */
export const SendMediaInput = Schema.Struct({
  kind: MediaKind,
  link: Schema.optional(MediaLink),
  mediaId: Schema.optional(ProviderMediaId),
  caption: Schema.optional(NonBlank.pipe(Schema.maxLength(maxCaptionLength))),
  filename: Schema.optional(NonBlank.pipe(Schema.maxLength(240)))
})
export type SendMediaInput = typeof SendMediaInput.Type

/** The problems of a decoded media send the schema cannot see: one source, caption and filename by kind. */
export const sendProblems = (input: SendMediaInput): ReadonlyArray<RequestIssue> => {
  const issues: Array<RequestIssue> = []
  const issue = (path: string, message: string) => issues.push(new RequestIssue({ path, message }, true))
  if ((input.link === undefined) === (input.mediaId === undefined)) {
    issue(input.link === undefined ? "" : "mediaId", "give exactly one of link or mediaId")
  }
  const rule: MediaRule = rules[input.kind]
  if (input.caption !== undefined && !rule.caption) issue("caption", `a ${input.kind} cannot carry a caption`)
  if (input.filename !== undefined && !rule.filename) issue("filename", `a ${input.kind} cannot carry a filename`)
  return issues
}

/** Where a media message's file is: an uploaded id or a link, with what goes with it. */
export interface MediaSource {
  readonly kind: MediaKind
  readonly link?: string
  readonly providerMediaId?: string
  readonly caption?: string
  readonly filename?: string
}

export const sourceOf = (input: SendMediaInput): MediaSource => ({
  kind: input.kind,
  ...(input.link === undefined ? {} : { link: input.link }),
  ...(input.mediaId === undefined ? {} : { providerMediaId: input.mediaId }),
  ...(input.caption === undefined ? {} : { caption: input.caption }),
  ...(input.filename === undefined ? {} : { filename: input.filename })
})

/**
 * A SHA-256 as lowercase hex, from either encoding providers use (Meta's webhooks send base64, its media endpoint
 * hex); `undefined` when `value` is neither.
 */
export const sha256Hex = (value: string): string | undefined => {
  const trimmed = value.trim()
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) return trimmed.toLowerCase()
  if (!/^[A-Za-z0-9+/_-]{43}=?$/.test(trimmed)) return undefined
  const standard = trimmed.replace(/-/g, "+").replace(/_/g, "/")
  return Either.match(Encoding.decodeBase64(standard.length === 43 ? `${standard}=` : standard), {
    onLeft: () => undefined,
    onRight: (bytes) => (bytes.length === 32 ? Encoding.encodeHex(bytes) : undefined)
  })
}
