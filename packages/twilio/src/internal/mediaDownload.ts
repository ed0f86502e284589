/**
 * Downloads a customer's media from Twilio's Media subresource,
 * `GET {apiBaseUrl}/2010-04-01/Accounts/{AC}/Messages/{MM}/Media/{ME}`, with the number's HTTP Basic credentials.
 * Twilio answers a redirect (302/307) to a short-lived signed URL on its media host; that hop is followed WITHOUT the
 * credentials, which are only ever sent to the configured API base. The body is handed on as a stream, never
 * buffered. Twilio keeps media until it is deleted, so a 404 means the file is gone.
 */
import { type HttpClient, HttpClientRequest, type HttpClientResponse } from "@effect/platform"
import {
  type GatewayError,
  type MediaFile,
  MediaGone,
  ProviderRejected,
  ProviderUnavailable,
  type WhatsAppNumber
} from "@parley/core"
import { Clock, type Duration, Effect, Either, Option, Schedule, type Scope, Stream } from "effect"
import * as TwilioError from "../TwilioError.js"
import type * as TwilioHttp from "./twilioHttp.js"

/** The provider media id the webhook decoder stores for Twilio: `MM…/ME…` (or `SM…/ME…`), message and media SIDs. */
const mediaIdPattern = /^((?:MM|SM)[0-9a-fA-F]{32})\/(ME[0-9a-fA-F]{32})$/

export const parseMediaId = (
  providerMediaId: string
): Either.Either<{ readonly messageSid: string; readonly mediaSid: string }, ProviderRejected> => {
  const match = mediaIdPattern.exec(providerMediaId)
  if (match?.[1] === undefined || match[2] === undefined) {
    return Either.left(
      new ProviderRejected({
        code: null,
        title: /^ME[0-9a-fA-F]{32}$/.test(providerMediaId)
          ? "this Twilio media was stored by an older Parley with its media SID only; its message SID is needed to download it"
          : "not a Twilio media id (expected MM…/ME…)"
      })
    )
  }
  return Either.right({ messageSid: match[1], mediaSid: match[2] })
}

export interface Settings {
  readonly apiBaseUrl: string
  readonly requestTimeout: Duration.Duration
  readonly retry: TwilioHttp.RetryPolicy
}

export interface Credentials {
  readonly accountSid: string
  readonly username: string
  readonly password: string
}

/** Redirects followed at most (Twilio uses one). */
const maxRedirects = 3

const isRedirect = (status: number) =>
  status === 301 || status === 302 || status === 303 || status === 307 || status === 308

const readText = (response: HttpClientResponse.HttpClientResponse) => response.text.pipe(Effect.orElseSucceed(() => ""))

export const make = (client: HttpClient.HttpClient, settings: Settings) => {
  const get = (request: HttpClientRequest.HttpClientRequest) =>
    client.execute(request).pipe(
      Effect.timeoutFail({
        duration: settings.requestTimeout,
        onTimeout: () => new ProviderUnavailable({ code: null, title: "the media download did not start in time" })
      }),
      Effect.catchTag("RequestError", "ResponseError", (error) =>
        Effect.fail(new ProviderUnavailable({ code: null, title: `the media download failed: ${error.message}` }))
      )
    )

  /** A non-2xx answer from the API itself, mapped by Twilio's error table (404 is gone, handled by the caller). */
  const failureOf = (response: HttpClientResponse.HttpClientResponse): Effect.Effect<never, GatewayError> =>
    Effect.gen(function* () {
      const error = TwilioError.fromResponse(response.status, yield* readText(response))
      const kind = TwilioError.kindOf(error)
      if (kind === "ambiguous") {
        return yield* Effect.fail(new ProviderUnavailable({ code: error.code, title: error.message }))
      }
      const now = yield* Clock.currentTimeMillis
      const retryAfter = Option.getOrElse(TwilioError.retryAfterFromHeaders(response.headers, now), () =>
        TwilioError.defaultRetryAfterSeconds(error.code)
      )
      return yield* Effect.fail(TwilioError.toGatewayError(error, kind, retryAfter))
    })

  const fileOf = (response: HttpClientResponse.HttpClientResponse): MediaFile => {
    const declared = Number(response.headers["content-length"] ?? Number.NaN)
    return {
      mimeType: response.headers["content-type"] ?? "application/octet-stream",
      sizeBytes: Number.isSafeInteger(declared) && declared >= 0 ? declared : null,
      // Twilio gives no digest of the file.
      sha256: null,
      body: response.stream.pipe(
        Stream.mapError(
          (error) => new ProviderUnavailable({ code: null, title: `the media download broke off: ${error.message}` })
        )
      )
    }
  }

  // A download is a read: a failed start (unreachable, 503, a timeout before the headers) is tried again within the
  // gateway's retry policy (attempts, budget), backing off exponentially from its base delay up to its maximum.
  const retrySchedule = Schedule.exponential(settings.retry.baseDelay).pipe(
    Schedule.either(Schedule.spaced(settings.retry.maxDelay)),
    Schedule.jittered,
    Schedule.intersect(Schedule.recurs(settings.retry.maxAttempts - 1)),
    Schedule.upTo(settings.retry.budget)
  )

  /** The response whose body is the file, headers read and body not yet. */
  const open = (credentials: Credentials, providerMediaId: string, resource: URL) =>
    Effect.gen(function* () {
      let response = yield* get(
        HttpClientRequest.get(resource).pipe(HttpClientRequest.basicAuth(credentials.username, credentials.password))
      )
      let location = resource
      for (let hops = 0; isRedirect(response.status); hops++) {
        const target = response.headers.location
        if (hops >= maxRedirects || target === undefined) {
          return yield* Effect.fail(
            new ProviderUnavailable({ code: null, title: "the media download redirected without end or target" })
          )
        }
        const next = yield* Effect.try({
          try: () => new URL(target, location),
          catch: () => new ProviderRejected({ code: null, title: "the media download redirected to no URL" })
        })
        if (next.protocol !== "https:" && next.origin !== resource.origin) {
          return yield* Effect.fail(
            new ProviderRejected({ code: null, title: "the media download redirected to a plain-http URL" })
          )
        }
        // The signed URL authorizes itself: the Basic credentials never leave for another host.
        location = next
        response = yield* get(HttpClientRequest.get(next))
      }
      if (response.status === 404) return yield* Effect.fail(new MediaGone({ providerMediaId }))
      if (response.status < 200 || response.status >= 300) {
        // Only the API's own answers carry Twilio's error body; the media host's are plain failures.
        if (location === resource) return yield* failureOf(response)
        return yield* Effect.fail(
          new ProviderUnavailable({ code: null, title: `the media download answered HTTP ${response.status}` })
        )
      }
      return response
    })

  const fetchMedia = (
    from: WhatsAppNumber,
    credentials: Credentials,
    providerMediaId: string
  ): Effect.Effect<MediaFile, MediaGone | GatewayError, Scope.Scope> =>
    Effect.gen(function* () {
      const { messageSid, mediaSid } = yield* parseMediaId(providerMediaId)
      const resource = new URL(
        `${settings.apiBaseUrl}/2010-04-01/Accounts/${encodeURIComponent(credentials.accountSid)}/Messages/${messageSid}/Media/${mediaSid}`
      )
      const response = yield* open(credentials, providerMediaId, resource).pipe(
        Effect.retry({ schedule: retrySchedule, while: (error) => error._tag === "ProviderUnavailable" })
      )
      return fileOf(response)
    }).pipe(
      Effect.withSpan("TwilioGateway.fetchMedia", {
        attributes: { "twilio.media_id": providerMediaId, "parley.whatsapp_number_id": from.id }
      })
    )

  return { fetchMedia }
}
