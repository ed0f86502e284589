/**
 * Twilio's webhooks: the `X-Twilio-Signature` check, and decoding one form-encoded POST (an inbound WhatsApp
 * message or a status callback) into the core's provider-neutral `NumberUpdates`.
 *
 * Which URL to sign: Twilio signs the exact public URL it called (scheme, host, port, path and query). Behind a
 * TLS-terminating proxy or load balancer the server sees another scheme, host or port, so the URL must come from
 * configuration (the URL registered at Twilio as the webhook or `StatusCallback`), never be rebuilt from the
 * request's `Host` header. `verifySignature` also accepts the same URL with the scheme's default port added or
 * removed, because Twilio is inconsistent about `:443` when signing.
 *
 * Dates: Twilio's webhooks carry no timestamp, so inbound messages and statuses are dated by the time Parley
 * received the request (`receivedAt`), which `decode` takes as an argument.
 */
import { createHmac, timingSafeEqual } from "node:crypto"
import {
  CustomerIdentity,
  DeliveryFailure,
  E164,
  type InboundMessage,
  MediaReference,
  type MessageType,
  type NumberUpdates,
  Phone,
  type SkippedItem,
  type StatusUpdate
} from "@parley/core"
import { DateTime, Either, Option, Redacted, Schema } from "effect"
import { maskPhones } from "./TwilioError.js"

/** The request is not a Twilio WhatsApp webhook Parley can route (no business number in it). */
export class TwilioWebhookInvalid extends Schema.TaggedError<TwilioWebhookInvalid>()("TwilioWebhookInvalid", {
  reason: Schema.String
}) {
  override get message() {
    return `Twilio webhook invalid: ${this.reason}`
  }
}

export const signatureHeader = "x-twilio-signature"

export type Params = ReadonlyArray<readonly [string, string]>

/** The signed string: the URL, then each parameter's name and value, sorted by name (then value), no separators. */
export const signedPayload = (url: string, params: Params): string => {
  const sorted = [...params].sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
  return url + sorted.map(([name, value]) => name + value).join("")
}

const secretOf = (token: Redacted.Redacted<string> | string) =>
  typeof token === "string" ? token : Redacted.value(token)

/** `X-Twilio-Signature` for a POST to `url` with `params`: base64 HMAC-SHA1 keyed with the auth token. */
export const sign = (url: string, params: Params, authToken: Redacted.Redacted<string> | string): string =>
  createHmac("sha1", secretOf(authToken)).update(signedPayload(url, params), "utf8").digest("base64")

/** The URL as given, and with the scheme's default port added or removed (Twilio signs either form). */
export const urlVariants = (url: string): ReadonlyArray<string> => {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return [url]
  }
  const defaultPort = parsed.protocol === "https:" ? "443" : parsed.protocol === "http:" ? "80" : null
  if (defaultPort === null) return [url]
  const authority = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)(.*)$/i.exec(url)
  if (authority === null) return [url]
  const [, scheme = "", host = "", rest = ""] = authority
  const withPort = host.endsWith(`:${defaultPort}`) ? host : /:\d+$/.test(host) ? null : `${host}:${defaultPort}`
  const withoutPort = host.endsWith(`:${defaultPort}`) ? host.slice(0, -(defaultPort.length + 1)) : null
  const variants = [url]
  if (withPort !== null && withPort !== host) variants.push(scheme + withPort + rest)
  if (withoutPort !== null) variants.push(scheme + withoutPort + rest)
  return variants
}

/**
 * The URL Twilio signed, for a request the server received at `requestTarget` (its path and query as received,
 * e.g. `request.url`), given the configured public base URL Parley is reached at (`https://parley.example.com`, or
 * with the path prefix a proxy strips: `https://example.com/parley`). Scheme, host and port come from the
 * configuration only, never from the request's `Host` or `X-Forwarded-*` headers, which a client controls.
 */
export const publicUrl = (publicBaseUrl: string, requestTarget: string): string => {
  const base = publicBaseUrl.replace(/\/+$/, "")
  const target = requestTarget.startsWith("/") ? requestTarget : `/${requestTarget}`
  return base + target
}

/** What Twilio expects back from a webhook: 200 with an empty TwiML document (an empty body is logged as 12300). */
export const emptyResponse = { contentType: "text/xml", body: "<Response/>" } as const

/**
 * Checks `X-Twilio-Signature`. `url` is the public URL Twilio called (see the module comment); `params` the POST's
 * form fields as received (a repeated name once per value). Digests are compared in constant time.
 */
export const verifySignature = (input: {
  readonly url: string
  readonly params: Params
  readonly signature: string | null | undefined
  readonly authToken: Redacted.Redacted<string> | string
}): boolean => {
  const signature = input.signature?.trim()
  if (signature === undefined || !/^[A-Za-z0-9+/]{27}=$/.test(signature)) return false
  const received = Buffer.from(signature, "base64")
  if (received.length !== 20) return false
  let valid = false
  for (const url of urlVariants(input.url)) {
    const expected = createHmac("sha1", secretOf(input.authToken))
      .update(signedPayload(url, input.params), "utf8")
      .digest()
    // Both digests are 20 bytes: timingSafeEqual cannot throw. Every variant is checked to keep the timing flat.
    if (timingSafeEqual(expected, received)) valid = true
  }
  return valid
}

// ---------------------------------------------------------------------------------------------------------------
// Decoding

const whatsappPrefix = "whatsapp:"

const decodeE164 = Schema.decodeUnknownOption(E164)

/** `whatsapp:+15550001111` → `+15550001111`; anything else → none. */
export const addressOf = (value: string | undefined): Option.Option<E164> =>
  value?.startsWith(whatsappPrefix) ? decodeE164(value.slice(whatsappPrefix.length)) : Option.none()

/** Twilio's statuses onto Parley's: the ones before `sent` are no change for Parley (null). */
export const statusNames = {
  accepted: null,
  scheduled: null,
  queued: null,
  sending: null,
  sent: "sent",
  delivered: "delivered",
  read: "read",
  failed: "failed",
  undelivered: "failed"
} as const satisfies Record<string, StatusUpdate["status"] | null>

const inboundStatuses = new Set(["received", "receiving"])

const first = (params: Params, name: string): string | undefined => params.find(([n]) => n === name)?.[1]

const nonEmpty = (value: string | undefined): string | undefined =>
  value !== undefined && value.length > 0 ? value : undefined

const asRecord = (params: Params): Readonly<Record<string, string>> => {
  const record: Record<string, string> = {}
  for (const [name, value] of params) if (!Object.hasOwn(record, name)) record[name] = value
  return record
}

/**
 * Decodes one Twilio webhook POST (verify its signature first). An inbound message is recognised by its
 * `SmsStatus`/`MessageStatus` of `received` (or the absence of any `MessageStatus`), a status callback by any other
 * `MessageStatus`. The business number is the inbound message's `To`, or the status callback's `From`; without it
 * the request cannot be routed and is invalid. A message or status that cannot be decoded is `skipped`.
 */
export const decode = (
  params: Params,
  receivedAt: DateTime.Utc = DateTime.unsafeNow()
): Either.Either<NumberUpdates, TwilioWebhookInvalid> => {
  const status = first(params, "MessageStatus") ?? first(params, "SmsStatus")
  const isInbound = status === undefined || inboundStatuses.has(status)
  const numberField = isInbound ? "To" : "From"
  const number = addressOf(first(params, numberField))
  if (Option.isNone(number)) {
    return Either.left(
      new TwilioWebhookInvalid({ reason: `expected ${numberField} as whatsapp:+E164 (the business number)` })
    )
  }
  const updates = {
    providerPhoneNumberId: number.value,
    displayPhoneNumber: number.value.slice(1),
    wabaId: null,
    inbound: [] as Array<InboundMessage>,
    statuses: [] as Array<StatusUpdate>,
    errors: [],
    skipped: [] as Array<SkippedItem>
  } satisfies NumberUpdates
  if (isInbound) {
    const decoded = inboundOf(params, receivedAt)
    if (Either.isRight(decoded)) updates.inbound.push(decoded.right)
    else updates.skipped.push({ kind: "message", reason: decoded.left, raw: asRecord(params) })
  } else {
    const decoded = statusOf(params, status, receivedAt)
    if (Either.isRight(decoded)) {
      if (Option.isSome(decoded.right)) updates.statuses.push(decoded.right.value)
      else
        updates.skipped.push({ kind: "status", reason: `${status} is not a change for Parley`, raw: asRecord(params) })
    } else updates.skipped.push({ kind: "status", reason: decoded.left, raw: asRecord(params) })
  }
  return Either.right(updates)
}

const statusOf = (
  params: Params,
  status: string,
  receivedAt: DateTime.Utc
): Either.Either<Option.Option<StatusUpdate>, string> => {
  const sid = nonEmpty(first(params, "MessageSid") ?? first(params, "SmsSid"))
  if (sid === undefined) return Either.left("a status callback needs a MessageSid")
  if (!Object.hasOwn(statusNames, status)) return Either.left(`unknown status ${JSON.stringify(status)}`)
  const mapped = statusNames[status as keyof typeof statusNames]
  if (mapped === null) return Either.right(Option.none())
  const code = Number(first(params, "ErrorCode"))
  const failure =
    mapped === "failed"
      ? Option.some(
          new DeliveryFailure(
            {
              code: Number.isSafeInteger(code) ? code : 0,
              title: maskPhones(nonEmpty(first(params, "ErrorMessage")) ?? `Twilio status ${status}`)
            },
            true
          )
        )
      : Option.none()
  return Either.right(
    Option.some({ providerMessageId: sid, status: mapped, timestamp: receivedAt, failure, messageId: Option.none() })
  )
}

/**
 * Twilio's media URL is `…/Accounts/AC…/Messages/MM…/Media/ME…`: the provider's media id keeps the message and
 * media SIDs (`MM…/ME…`), all a download needs, so the gateway builds the URL from its own API base and the number's
 * account rather than trusting a URL read back from storage.
 */
const mediaIdOf = (url: string): string | null => {
  const match = /\/Messages\/((?:MM|SM)[0-9a-fA-F]{32})\/Media\/(ME[0-9a-fA-F]{32})(?:[/?#]|$)/.exec(url)
  return match?.[1] === undefined || match[2] === undefined ? null : `${match[1]}/${match[2]}`
}

const mediaTypeOf = (mimeType: string | null): MessageType => {
  if (mimeType === null) return "document"
  if (mimeType === "image/webp") return "sticker"
  if (mimeType.startsWith("image/")) return "image"
  if (mimeType.startsWith("video/")) return "video"
  if (mimeType.startsWith("audio/")) return "audio"
  return "document"
}

const mediaOf = (params: Params): ReadonlyArray<MediaReference> => {
  const count = Math.min(10, Math.max(0, Number.parseInt(first(params, "NumMedia") ?? "0", 10) || 0))
  const media: Array<MediaReference> = []
  for (let index = 0; index < count; index++) {
    const url = nonEmpty(first(params, `MediaUrl${index}`))
    if (url === undefined) continue
    media.push(
      new MediaReference(
        {
          providerMediaId: mediaIdOf(url),
          url,
          mimeType: nonEmpty(first(params, `MediaContentType${index}`)) ?? null,
          sha256: null,
          filename: null
        },
        true
      )
    )
  }
  return media
}

/** What every type may carry: forwarding flags and a click-to-WhatsApp ad referral. */
const commonContent = (params: Params): Record<string, unknown> => {
  const content: Record<string, unknown> = {}
  const forwarded = first(params, "Forwarded")
  if (forwarded !== undefined) content.forwarded = forwarded === "true"
  const frequently = first(params, "FrequentlyForwarded")
  if (frequently !== undefined) content.frequentlyForwarded = frequently === "true"
  const referral: Record<string, string> = {}
  for (const [name, value] of params) {
    if (name.startsWith("Referral") && !Object.hasOwn(referral, name)) referral[name] = value
  }
  if (Object.keys(referral).length > 0) content.referral = referral
  return content
}

interface Body {
  readonly messageType: MessageType
  readonly text: string | null
  readonly media: MediaReference | null
  readonly content: Record<string, unknown> | null
}

const bodyOf = (params: Params): Body => {
  const text = nonEmpty(first(params, "Body")) ?? null
  const latitude = first(params, "Latitude")
  const longitude = first(params, "Longitude")
  if (latitude !== undefined && longitude !== undefined) {
    const location: Record<string, unknown> = { latitude: Number(latitude), longitude: Number(longitude) }
    const label = nonEmpty(first(params, "Label"))
    const address = nonEmpty(first(params, "Address"))
    if (label !== undefined) location.name = label
    if (address !== undefined) location.address = address
    return { messageType: "location", text: label ?? null, media: null, content: { location } }
  }
  const media = mediaOf(params)
  const [head, ...rest] = media
  if (head !== undefined) {
    return {
      messageType: mediaTypeOf(head.mimeType),
      text,
      media: head,
      // WhatsApp sends one file per message; should Twilio ever report more, none is dropped.
      content: rest.length > 0 ? { moreMedia: rest.map((m) => ({ url: m.url, mimeType: m.mimeType })) } : null
    }
  }
  const buttonPayload = first(params, "ButtonPayload")
  const buttonText = nonEmpty(first(params, "ButtonText"))
  if (buttonPayload !== undefined || buttonText !== undefined) {
    return {
      messageType: "button",
      text: buttonText ?? text,
      media: null,
      content: { button: { payload: buttonPayload ?? null, text: buttonText ?? null } }
    }
  }
  if (text !== null) return { messageType: "text", text, media: null, content: null }
  return { messageType: "unsupported", text: null, media: null, content: asRecord(params) }
}

const inboundOf = (params: Params, receivedAt: DateTime.Utc): Either.Either<InboundMessage, string> => {
  const sid = nonEmpty(first(params, "MessageSid") ?? first(params, "SmsMessageSid") ?? first(params, "SmsSid"))
  if (sid === undefined) return Either.left("an inbound message needs a MessageSid")
  const waId = first(params, "WaId")
  const phone = Option.orElse(addressOf(first(params, "From")), () =>
    waId === undefined ? Option.none() : Option.getRight(Phone.parseWaId(waId))
  )
  if (Option.isNone(phone)) return Either.left("no sender: From is not whatsapp:+E164 and WaId is not a phone number")
  const body = bodyOf(params)
  const common = commonContent(params)
  const content =
    body.messageType === "unsupported" || Object.keys(common).length === 0
      ? body.content
      : { ...body.content, ...common }
  return Either.right({
    providerMessageId: sid,
    customer: CustomerIdentity.byPhone(phone.value),
    customerName: Option.fromNullable(nonEmpty(first(params, "ProfileName"))),
    timestamp: receivedAt,
    messageType: body.messageType,
    text: body.text,
    media: body.media,
    content,
    replyToProviderMessageId: nonEmpty(first(params, "OriginalRepliedMessageSid")) ?? null
  })
}
