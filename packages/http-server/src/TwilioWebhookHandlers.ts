/**
 * Twilio's webhook endpoint (`POST /webhooks/twilio`), for inbound messages and status callbacks alike. The body is
 * form-encoded and signed with `X-Twilio-Signature`: HMAC-SHA1, keyed with the auth token of the account that owns
 * the number, over the URL Twilio called and the sorted parameters. So the signature is checked with the token of
 * the Twilio number the webhook names (`To` of an inbound message, `From` of a status callback), over the public URL
 * (`PARLEY_PUBLIC_URL`: behind a proxy the server sees another scheme, host or port), BEFORE anything is stored.
 * A webhook no registered number's token verifies is refused (403): unlike Meta's app secret, Twilio's tokens are
 * per account, so one for a number nobody registered cannot be verified and is not kept.
 *
 * Then, like Meta's: stored durably (dedupe by body), the worker woken, and an empty TwiML answer, which Twilio
 * accepts without logging an error.
 */
import { HttpApiBuilder, HttpServerResponse } from "@effect/platform"
import { type WhatsAppNumber, WhatsAppNumberDirectory } from "@parley/core"
import { WebhookInbox } from "@parley/postgres"
import { TwilioWebhook } from "@parley/twilio"
import { Array as Arr, DateTime, Effect, Either, Option } from "effect"
import { Api } from "./Api.js"
import { ApiError } from "./ApiError.js"
import { toApiError } from "./ErrorMapping.js"
import * as Metrics from "./Metrics.js"
import { formParams } from "./WebhookDecoding.js"
import { WebhookProcessor } from "./WebhookProcessor.js"

export interface TwilioWebhookSettings {
  /** `PARLEY_PUBLIC_URL` (no trailing slash): unset → every POST is refused (503). */
  readonly publicUrl: Option.Option<string>
}

const signatureHeader = TwilioWebhook.signatureHeader

/** The path Twilio is given for a number's webhooks and its sends' status callbacks. */
export const path = "/webhooks/twilio"

/** Where Twilio posts a number's status callbacks: Parley's public URL, or nowhere when it has none. */
export const statusCallbackUrl = (publicUrl: Option.Option<string>) => (_from: WhatsAppNumber) =>
  Option.match(publicUrl, { onNone: () => null, onSome: (base) => `${base}${path}` })

const whatsappAddress = /^whatsapp:(\+\d{7,15})$/

/**
 * The Twilio numbers a webhook may be for, most likely first: the one its decoding names, then `To` (inbound
 * messages are addressed to the business) and `From` (status callbacks come from it). The signature decides.
 */
export const candidates = (
  params: ReadonlyArray<readonly [string, string]>,
  receivedAt: DateTime.Utc
): ReadonlyArray<string> => {
  const decoded = Either.getOrUndefined(TwilioWebhook.decode(params, receivedAt))?.providerPhoneNumberId
  const address = (name: string) => {
    const value = params.find(([key]) => key === name)?.[1]
    return value === undefined ? undefined : whatsappAddress.exec(value)?.[1]
  }
  return Arr.dedupe([decoded, address("To"), address("From")].filter((id): id is string => id !== undefined))
}

const refused = (reason: string) => ApiError.make(403, "invalid_signature", `webhook signature ${reason}`)

export const TwilioWebhooksLive = (settings: TwilioWebhookSettings) =>
  HttpApiBuilder.group(Api, "twilioWebhooks", (handlers) =>
    Effect.gen(function* () {
      const store = yield* WebhookInbox.WebhookInbox
      const processor = yield* WebhookProcessor
      const numbers = yield* WhatsAppNumberDirectory
      return handlers.handleRaw("receiveTwilioWebhook", ({ request }) =>
        Effect.gen(function* () {
          const publicUrl = yield* Option.match(settings.publicUrl, {
            onNone: () =>
              Effect.fail(
                ApiError.make(503, "webhook_not_configured", "Twilio webhooks are off: set PARLEY_PUBLIC_URL")
              ),
            onSome: Effect.succeed
          })
          const body = new Uint8Array(yield* Effect.orDie(request.arrayBuffer))
          const params = formParams(body)
          const signature = request.headers[signatureHeader]
          // The URL Twilio called: the configured public base, and the path and query this request came with.
          const url = TwilioWebhook.publicUrl(publicUrl, request.url)
          const reject = (reason: string) =>
            Effect.gen(function* () {
              yield* Effect.annotateLogs(Effect.logWarning("Twilio webhook signature rejected"), { reason })
              yield* Metrics.countWebhook("rejected")
              return yield* Effect.fail(refused(reason))
            })
          if (signature === undefined || signature === "") return yield* reject("missing")
          let verified = false
          const receivedAt = yield* DateTime.now
          for (const id of candidates(params, receivedAt)) {
            const number = yield* numbers.findByProviderId(id, "twilio").pipe(Effect.mapError(toApiError))
            if (
              Option.isSome(number) &&
              TwilioWebhook.verifySignature({ url, params, signature, authToken: number.value.accessToken })
            ) {
              verified = true
              break
            }
          }
          if (!verified) return yield* reject("mismatch")
          const appended = yield* store
            .append({ body, receivedAt, provider: "twilio" })
            .pipe(Effect.mapError(toApiError))
          yield* Metrics.countWebhook(appended._tag === "Stored" ? "received" : "duplicate")
          // Already durable: the worker applies it at once (or, if this process dies now, after its restart).
          if (appended._tag === "Stored") yield* processor.wake
          // An empty TwiML answer: Twilio logs an error for an empty body or a missing content type.
          return HttpServerResponse.text(TwilioWebhook.emptyResponse.body, {
            contentType: TwilioWebhook.emptyResponse.contentType
          })
        })
      )
    })
  )
