/**
 * Meta's webhooks: the GET verification handshake, the `X-Hub-Signature-256` check over the raw body bytes, and
 * decoding a whole payload into the core's `InboundMessage`s and `StatusUpdate`s, grouped by business number.
 *
 * Decoding is total: malformed JSON or a body that is not an envelope is a typed error; inside a valid envelope
 * every item is decoded on its own, an unknown message type becomes `unsupported` (raw item kept in `content`),
 * and an item that cannot be routed at all (no id, no sender, an unknown status) is reported in `skipped`.
 */

import { createHash, createHmac, timingSafeEqual } from "node:crypto"
import {
  BusinessScopedUserId,
  CustomerIdentity,
  DeliveryFailure,
  type InboundMessage,
  type MediaKind,
  MediaReference,
  MessageId,
  type MessageType,
  Phone,
  type SkippedItem,
  type StatusUpdate,
  TemplateStatus,
  type WebhookBatch
} from "@parley/core"
import { Either, Option, Redacted, Schema } from "effect"
import * as Payload from "./WebhookPayload.js"

// ---------------------------------------------------------------------------------------------------------------
// Errors

/** The GET handshake was not Meta's, or carried the wrong verify token. */
export class WebhookVerificationRefused extends Schema.TaggedError<WebhookVerificationRefused>()(
  "WebhookVerificationRefused",
  { reason: Schema.Literal("mode", "verify_token", "challenge") }
) {
  override get message() {
    return `webhook verification refused: bad ${this.reason}`
  }
}

/** The POST is not signed by an app secret we know. */
export class WebhookSignatureInvalid extends Schema.TaggedError<WebhookSignatureInvalid>()("WebhookSignatureInvalid", {
  reason: Schema.Literal("missing", "malformed", "mismatch")
}) {
  override get message() {
    return `webhook signature ${this.reason}`
  }
}

/** The body is not JSON, not UTF-8, or not a webhook envelope (`{ "entry": [...] }`). */
export class WebhookPayloadInvalid extends Schema.TaggedError<WebhookPayloadInvalid>()("WebhookPayloadInvalid", {
  reason: Schema.String
}) {
  override get message() {
    return `webhook payload invalid: ${this.reason}`
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Handshake

const sha256 = (value: string) => createHash("sha256").update(value, "utf8").digest()

/** Constant-time string equality (hashing first makes the lengths equal). */
const sameSecret = (a: string, b: string) => timingSafeEqual(sha256(a), sha256(b))

type Query = URLSearchParams | Readonly<Record<string, string | ReadonlyArray<string> | undefined>>

const single = (query: Query, name: string): string | undefined => {
  if (query instanceof URLSearchParams) {
    const values = query.getAll(name)
    return values.length === 1 ? values[0] : undefined
  }
  const value = query[name]
  if (typeof value === "string") return value
  return value !== undefined && value.length === 1 ? value[0] : undefined
}

/**
 * Meta's subscription check: `hub.mode=subscribe`, the configured `hub.verify_token`, and a `hub.challenge` to echo
 * back as the plain-text body of a 200. Anything else is refused (answer 403).
 */
export const verifyHandshake = (
  query: Query,
  verifyToken: Redacted.Redacted<string>
): Either.Either<string, WebhookVerificationRefused> => {
  if (single(query, "hub.mode") !== "subscribe") return Either.left(new WebhookVerificationRefused({ reason: "mode" }))
  const token = single(query, "hub.verify_token")
  if (token === undefined || !sameSecret(token, Redacted.value(verifyToken))) {
    return Either.left(new WebhookVerificationRefused({ reason: "verify_token" }))
  }
  const challenge = single(query, "hub.challenge")
  if (challenge === undefined || !/^[\x21-\x7e]{1,1024}$/.test(challenge)) {
    return Either.left(new WebhookVerificationRefused({ reason: "challenge" }))
  }
  return Either.right(challenge)
}

// ---------------------------------------------------------------------------------------------------------------
// Signature

export const signatureHeader = "x-hub-signature-256"

/** `sha256=<lowercase hex HMAC-SHA256 of the exact bytes>`, as Meta computes it. */
export const sign = (rawBody: Uint8Array | string, appSecret: Redacted.Redacted<string> | string): string => {
  const secret = typeof appSecret === "string" ? appSecret : Redacted.value(appSecret)
  return `sha256=${createHmac("sha256", secret).update(rawBody).digest("hex")}`
}

const headerPattern = /^sha256=([0-9a-fA-F]{64})$/

/**
 * Checks `X-Hub-Signature-256` over the raw body as received (never a re-serialisation: Meta escapes non-ASCII and
 * `/`). The header must be `sha256=` and 64 hex digits; the digests are compared in constant time. Several secrets
 * may be given during a rotation.
 */
export const verifySignature = (
  rawBody: Uint8Array | string,
  header: string | ReadonlyArray<string> | null | undefined,
  appSecrets: Redacted.Redacted<string> | ReadonlyArray<Redacted.Redacted<string>>
): Either.Either<void, WebhookSignatureInvalid> => {
  // Several X-Hub-Signature-256 headers are malformed (null), none is missing (undefined).
  const value =
    typeof header === "string" ? header : header?.length === 1 ? header[0] : header?.length ? null : undefined
  if (value === undefined || (value !== null && value.trim().length === 0)) {
    return Either.left(new WebhookSignatureInvalid({ reason: "missing" }))
  }
  const match = value === null ? null : headerPattern.exec(value.trim())
  if (match === null || match[1] === undefined) return Either.left(new WebhookSignatureInvalid({ reason: "malformed" }))
  const received = Buffer.from(match[1], "hex")
  const secrets = Redacted.isRedacted(appSecrets) ? [appSecrets] : appSecrets
  let valid = false
  for (const secret of secrets) {
    const expected = createHmac("sha256", Redacted.value(secret)).update(rawBody).digest()
    // Both are 32 bytes here, so timingSafeEqual cannot throw; check every secret to keep the timing flat.
    if (timingSafeEqual(expected, received)) valid = true
  }
  return valid ? Either.right(undefined) : Either.left(new WebhookSignatureInvalid({ reason: "mismatch" }))
}

// ---------------------------------------------------------------------------------------------------------------
// Decoding

// The provider-neutral shapes live in the core (every provider decodes into them); re-exported unchanged.
export type { NumberUpdates, SkippedItem, WebhookBatch } from "@parley/core"

interface MutableUpdates {
  providerPhoneNumberId: string
  displayPhoneNumber: string | null
  wabaId: string | null
  inbound: Array<InboundMessage>
  statuses: Array<StatusUpdate>
  errors: Array<DeliveryFailure>
  skipped: Array<SkippedItem>
}

const decodeEnvelope = Schema.decodeUnknownEither(Payload.Envelope)
const decodeEntry = Schema.decodeUnknownEither(Payload.Entry)
const decodeChange = Schema.decodeUnknownEither(Payload.Change)
const decodeMessagesValue = Schema.decodeUnknownEither(Payload.MessagesValue)
const decodeContact = Schema.decodeUnknownOption(Payload.Contact)
const decodeBase = Schema.decodeUnknownEither(Payload.MessageBase)
const decodeContent = Schema.decodeUnknownOption(Payload.MessageContent)
const decodeStatus = Schema.decodeUnknownEither(Payload.Status)
const decodeErrorItem = Schema.decodeUnknownOption(Payload.ErrorItem)
const decodeUserId = Schema.decodeUnknownOption(BusinessScopedUserId)
const decodeMessageId = Schema.decodeUnknownOption(MessageId)

const utf8 = new TextDecoder("utf-8", { fatal: true })

/** Parses the raw body; never throws. */
export const parse = (rawBody: Uint8Array | string): Either.Either<unknown, WebhookPayloadInvalid> =>
  Either.try({
    try: () => JSON.parse(typeof rawBody === "string" ? rawBody : utf8.decode(rawBody)) as unknown,
    catch: (cause) =>
      new WebhookPayloadInvalid({
        reason: cause instanceof SyntaxError ? `not JSON: ${cause.message}` : "not UTF-8 text"
      })
  })

/** Decodes a raw webhook body (verify its signature first). */
export const decode = (rawBody: Uint8Array | string): Either.Either<WebhookBatch, WebhookPayloadInvalid> =>
  Either.flatMap(parse(rawBody), decodeUnknown)

const isRecord = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const failureOf = (error: Payload.ErrorItem): DeliveryFailure =>
  new DeliveryFailure(
    {
      code: Number.isSafeInteger(error.code) ? error.code : Math.trunc(error.code) || 0,
      title: error.title ?? error.message ?? error.error_data?.details ?? "unknown error"
    },
    true
  )

/** A template's new review status, from a `message_template_status_update` change. */
export interface TemplateStatusChange {
  /** `entry[].id`: the WhatsApp Business Account the template belongs to. */
  readonly wabaId: string
  readonly name: string
  readonly language: string
  readonly status: TemplateStatus
}

const decodeTemplateValue = Schema.decodeUnknownEither(Payload.TemplateStatusValue)
const isTemplateStatus = Schema.is(TemplateStatus)

/**
 * The review status an event sets: a status itself, or `REINSTATED` (sendable again: APPROVED). Notices that change
 * no status (FLAGGED: at risk; LOCKED: not editable) are `None`.
 */
const statusOfTemplateEvent = (event: string): Option.Option<TemplateStatus> =>
  event === "REINSTATED" ? Option.some("APPROVED") : isTemplateStatus(event) ? Option.some(event) : Option.none()

/** The template status changes of an already-parsed webhook body (Parley ignored them before events). */
export const templateStatusChanges = (json: unknown): ReadonlyArray<TemplateStatusChange> => {
  const envelope = decodeEnvelope(json)
  if (Either.isLeft(envelope)) return []
  const changes: Array<TemplateStatusChange> = []
  for (const rawEntry of envelope.right.entry) {
    const entry = decodeEntry(rawEntry)
    if (Either.isLeft(entry) || entry.right.id === undefined) continue
    for (const rawChange of entry.right.changes) {
      const change = decodeChange(rawChange)
      if (Either.isLeft(change) || change.right.field !== "message_template_status_update") continue
      const value = decodeTemplateValue(change.right.value)
      if (Either.isLeft(value)) continue
      const status = statusOfTemplateEvent(value.right.event)
      if (Option.isNone(status)) continue
      changes.push({
        wabaId: entry.right.id,
        name: value.right.message_template_name,
        language: value.right.message_template_language,
        status: status.value
      })
    }
  }
  return changes
}

/** Decodes an already-parsed webhook body. */
export const decodeUnknown = (json: unknown): Either.Either<WebhookBatch, WebhookPayloadInvalid> => {
  if (!isRecord(json)) return Either.left(new WebhookPayloadInvalid({ reason: "expected a JSON object" }))
  const envelope = decodeEnvelope(json)
  if (Either.isLeft(envelope)) {
    return Either.left(new WebhookPayloadInvalid({ reason: "expected an object with an `entry` array" }))
  }
  const byNumber = new Map<string, MutableUpdates>()
  for (const rawEntry of envelope.right.entry) {
    const entry = decodeEntry(rawEntry)
    if (Either.isLeft(entry)) continue
    for (const rawChange of entry.right.changes) {
      const change = decodeChange(rawChange)
      // Other fields (template status, account, quality, …) carry no messages: not routed by number.
      if (Either.isLeft(change) || change.right.field !== "messages") continue
      const value = decodeMessagesValue(change.right.value)
      if (Either.isLeft(value)) continue
      const { metadata } = value.right
      let updates = byNumber.get(metadata.phone_number_id)
      if (updates === undefined) {
        updates = {
          providerPhoneNumberId: metadata.phone_number_id,
          displayPhoneNumber: metadata.display_phone_number ?? null,
          wabaId: entry.right.id ?? null,
          inbound: [],
          statuses: [],
          errors: [],
          skipped: []
        }
        byNumber.set(metadata.phone_number_id, updates)
      }
      const contacts = value.right.contacts.flatMap((c) => Option.toArray(decodeContact(c)))
      for (const rawMessage of value.right.messages) {
        const decoded = inboundOf(rawMessage, contacts)
        if (Either.isRight(decoded)) updates.inbound.push(decoded.right)
        else updates.skipped.push({ kind: "message", reason: decoded.left, raw: rawMessage })
      }
      for (const rawStatus of value.right.statuses) {
        const decoded = statusOf(rawStatus)
        if (Either.isRight(decoded)) updates.statuses.push(decoded.right)
        else updates.skipped.push({ kind: "status", reason: decoded.left, raw: rawStatus })
      }
      for (const rawError of value.right.errors) {
        Option.map(decodeErrorItem(rawError), (error) => updates.errors.push(failureOf(error)))
      }
    }
  }
  return Either.right(Array.from(byNumber.values()))
}

// ---------------------------------------------------------------------------------------------------------------
// Inbound messages

const customerOf = (
  base: Payload.MessageBase,
  contacts: ReadonlyArray<Payload.Contact>
): Either.Either<{ readonly customer: CustomerIdentity; readonly name: Option.Option<string> }, string> => {
  const contact =
    contacts.find(
      (c) =>
        (base.from.length > 0 && c.wa_id === base.from) ||
        (base.from_user_id !== undefined && c.user_id === base.from_user_id)
    ) ?? (contacts.length === 1 ? contacts[0] : undefined)
  const phone = base.from.length > 0 ? Option.getRight(Phone.parseWaId(base.from)) : Option.none()
  const userId = decodeUserId(base.from_user_id ?? contact?.user_id)
  if (Option.isNone(phone) && Option.isNone(userId)) return Either.left("no sender: neither a wa_id nor a user id")
  const name = Option.fromNullable(contact?.profile?.name).pipe(Option.filter((n) => n.length > 0))
  return Either.right({ customer: new CustomerIdentity({ phone, userId }, true), name })
}

const mediaOf = (media: Payload.Media, kind: MediaKind): MediaReference =>
  new MediaReference(
    {
      providerMediaId: media.id,
      url: media.url ?? null,
      mimeType: media.mime_type ?? null,
      sha256: media.sha256 ?? null,
      filename: media.filename ?? null,
      kind,
      caption: media.caption ?? null,
      // Webhooks carry no size; a download learns it.
      sizeBytes: null,
      voice: media.voice ?? null,
      animated: media.animated ?? null
    },
    true
  )

interface Body {
  readonly messageType: MessageType
  readonly text: string | null
  readonly media: MediaReference | null
  readonly content: Readonly<Record<string, unknown>> | null
  readonly replyTo?: string
}

const mediaExtras = (media: Payload.Media): Readonly<Record<string, unknown>> | null => {
  const extras: Record<string, unknown> = {}
  if (media.voice !== undefined) extras.voice = media.voice
  if (media.animated !== undefined) extras.animated = media.animated
  return Object.keys(extras).length > 0 ? extras : null
}

const bodyOf = (content: Payload.MessageContent): Body => {
  switch (content.type) {
    case "text":
      return { messageType: "text", text: content.text.body, media: null, content: null }
    case "image":
      return {
        messageType: "image",
        text: content.image.caption ?? null,
        media: mediaOf(content.image, "image"),
        content: null
      }
    case "video":
      return {
        messageType: "video",
        text: content.video.caption ?? null,
        media: mediaOf(content.video, "video"),
        content: null
      }
    case "audio":
      return {
        messageType: "audio",
        text: null,
        media: mediaOf(content.audio, "audio"),
        content: mediaExtras(content.audio)
      }
    case "document":
      return {
        messageType: "document",
        text: content.document.caption ?? null,
        media: mediaOf(content.document, "document"),
        content: null
      }
    case "sticker":
      return {
        messageType: "sticker",
        text: null,
        media: mediaOf(content.sticker, "sticker"),
        content: mediaExtras(content.sticker)
      }
    case "location":
      return {
        messageType: "location",
        text: content.location.name ?? null,
        media: null,
        content: { location: content.location }
      }
    case "contacts":
      return { messageType: "contacts", text: null, media: null, content: { contacts: content.contacts } }
    case "interactive": {
      const reply = content.interactive
      const text =
        "button_reply" in reply
          ? reply.button_reply.title
          : "list_reply" in reply
            ? reply.list_reply.title
            : "nfm_reply" in reply
              ? (reply.nfm_reply.body ?? null)
              : null
      return { messageType: "interactive", text, media: null, content: { interactive: reply } }
    }
    case "button":
      return { messageType: "button", text: content.button.text, media: null, content: { button: content.button } }
    case "reaction":
      return {
        messageType: "reaction",
        text: content.reaction.emoji !== undefined && content.reaction.emoji.length > 0 ? content.reaction.emoji : null,
        media: null,
        content: { reaction: content.reaction },
        replyTo: content.reaction.message_id
      }
    case "order":
      return { messageType: "order", text: content.order.text ?? null, media: null, content: { order: content.order } }
    case "system":
      return {
        messageType: "system",
        text: content.system.body ?? null,
        media: null,
        content: { system: content.system }
      }
  }
}

/** Adds what every type may carry (ad referral, forwarding flags) to the type-specific content. */
const withCommon = (
  content: Readonly<Record<string, unknown>> | null,
  base: Payload.MessageBase
): Readonly<Record<string, unknown>> | null => {
  const extra: Record<string, unknown> = {}
  if (base.referral !== undefined) extra.referral = base.referral
  if (base.context?.forwarded !== undefined) extra.forwarded = base.context.forwarded
  if (base.context?.frequently_forwarded !== undefined) extra.frequentlyForwarded = base.context.frequently_forwarded
  if (base.context?.referred_product !== undefined) extra.referredProduct = base.context.referred_product
  if (Object.keys(extra).length === 0) return content
  return { ...(content ?? {}), ...extra }
}

const inboundOf = (raw: unknown, contacts: ReadonlyArray<Payload.Contact>): Either.Either<InboundMessage, string> => {
  const base = decodeBase(raw)
  if (Either.isLeft(base)) return Either.left("not a message: it needs an id, a timestamp and a type")
  return Either.map(customerOf(base.right, contacts), ({ customer, name }) => {
    const content = decodeContent(raw)
    // An unknown type, or a known type whose content Parley cannot read, is kept whole as `unsupported`.
    const body: Body = Option.getOrElse(Option.map(content, bodyOf), () => ({
      messageType: "unsupported" as const,
      text: null,
      media: null,
      content: isRecord(raw) ? raw : null
    }))
    return {
      providerMessageId: base.right.id,
      customer,
      customerName: name,
      timestamp: base.right.timestamp,
      messageType: body.messageType,
      text: body.text,
      media: body.media,
      content: body.messageType === "unsupported" ? body.content : withCommon(body.content, base.right),
      replyToProviderMessageId: base.right.context?.id ?? body.replyTo ?? null
    }
  })
}

// ---------------------------------------------------------------------------------------------------------------
// Statuses

const statusNames: Readonly<Record<string, StatusUpdate["status"]>> = {
  sent: "sent",
  delivered: "delivered",
  read: "read",
  // A voice message was played: at least read.
  played: "read",
  failed: "failed"
}

const statusOf = (raw: unknown): Either.Either<StatusUpdate, string> => {
  const decoded = decodeStatus(raw)
  if (Either.isLeft(decoded)) return Either.left("not a status: it needs an id, a status and a timestamp")
  const item = decoded.right
  const status = Object.hasOwn(statusNames, item.status) ? statusNames[item.status] : undefined
  if (status === undefined) return Either.left(`unknown status ${JSON.stringify(item.status)}`)
  const firstError = item.errors?.[0]
  return Either.right({
    providerMessageId: item.id,
    status,
    timestamp: item.timestamp,
    failure: status === "failed" && firstError !== undefined ? Option.some(failureOf(firstError)) : Option.none(),
    messageId: decodeMessageId(item.biz_opaque_callback_data)
  })
}
