/**
 * The core's `MessagingGateway` on Meta's WhatsApp Cloud API: `POST {baseUrl}/{version}/{phone-number-id}/messages`
 * with the number's bearer token, throttled per number and per recipient, retried only when Meta provably did not
 * accept the message.
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import {
  type Accepted,
  type GatewayError,
  MessagingGateway,
  ProviderRateLimited,
  ProviderRejected,
  ProviderUnavailable,
  RateLimit,
  RateLimitStore,
  type SendMedia,
  type SendTemplate,
  type SendText,
  type WhatsAppNumber
} from "@parley/core"
import { Clock, Config, type ConfigError, Duration, Effect, Either, Layer, Option, Redacted, Schema } from "effect"
import * as GraphHttp from "./internal/graphHttp.js"
import * as MediaOperations from "./internal/mediaOperations.js"
import * as MediaPayload from "./MediaPayload.js"
import * as MessagePayload from "./MessagePayload.js"
import * as ProviderMetrics from "./ProviderMetrics.js"
import * as RateLimiter from "./RateLimiter.js"

export interface RetryOptions {
  /** Attempts in all, the first included (default 4). */
  readonly maxAttempts?: number
  /** No retry starts later than this after the first attempt (default 10 seconds). */
  readonly budget?: Duration.DurationInput
  /** First backoff ceiling; it doubles per attempt (default 250 millis). */
  readonly baseDelay?: Duration.DurationInput
  /** Largest backoff ceiling (default 4 seconds). */
  readonly maxDelay?: Duration.DurationInput
}

export interface Options {
  /** Default `https://graph.facebook.com`; point it at a proxy or at the fake Cloud API. */
  readonly baseUrl?: string
  /** Graph API version, default `v24.0`. */
  readonly apiVersion?: string
  /** Per attempt, from sending the request to reading the whole answer (default 15 seconds). */
  readonly requestTimeout?: Duration.DurationInput
  readonly retry?: RetryOptions
  /**
   * The most messages per second any number may send, whatever its own throughput (default 1000, Meta's highest
   * tier). Each number is spaced by its own `messagesPerSecond` (Meta's tier, 80 by default) when that is lower.
   */
  readonly messagesPerSecond?: number
  /** Meta's pair rate (same number → same user): a burst, then one per `every` (45 and 6 seconds); false: off. */
  readonly pairRate?: { readonly burst?: number; readonly every?: Duration.DurationInput } | false
  /** A send whose turn is further away than this fails with `ProviderRateLimited` (default 30 seconds). */
  readonly maxQueueWait?: Duration.DurationInput
  /** Ask WhatsApp to preview the first link of a text (default false). */
  readonly previewUrls?: boolean
  /**
   * Hosts a media download URL may point at (the number's token goes with it). Default `lookaside.fbsbx.com`;
   * the Graph API's own origin (`baseUrl`) is always allowed.
   */
  readonly mediaHosts?: ReadonlyArray<string>
  /** Applied to the `HttpClient` (tracing, proxies, extra headers). */
  readonly transformClient?: (client: HttpClient.HttpClient) => HttpClient.HttpClient
}

export const defaults = {
  baseUrl: "https://graph.facebook.com",
  apiVersion: "v24.0",
  requestTimeout: Duration.seconds(15),
  retry: {
    maxAttempts: 4,
    budget: Duration.seconds(10),
    baseDelay: Duration.millis(250),
    maxDelay: Duration.seconds(4)
  },
  messagesPerSecond: 1000,
  maxMessagesPerSecond: 1000,
  pairBurst: 45,
  pairEvery: Duration.seconds(6),
  maxQueueWait: Duration.seconds(30)
} as const

/** The options with every default applied. */
export interface Settings {
  readonly baseUrl: string
  readonly apiVersion: string
  readonly requestTimeout: Duration.Duration
  readonly retry: GraphHttp.RetryPolicy
  readonly messagesPerSecond: number
  readonly pairRate: { readonly burst: number; readonly every: Duration.Duration } | false
  readonly maxQueueWait: Duration.Duration
  readonly previewUrls: boolean
  readonly mediaHosts: ReadonlyArray<string>
}

export const settings = (options: Options = {}): Settings => ({
  baseUrl: (options.baseUrl ?? defaults.baseUrl).replace(/\/+$/, ""),
  apiVersion: options.apiVersion ?? defaults.apiVersion,
  requestTimeout: Duration.decode(options.requestTimeout ?? defaults.requestTimeout),
  retry: {
    maxAttempts: Math.max(1, Math.floor(options.retry?.maxAttempts ?? defaults.retry.maxAttempts)),
    budget: Duration.decode(options.retry?.budget ?? defaults.retry.budget),
    baseDelay: Duration.decode(options.retry?.baseDelay ?? defaults.retry.baseDelay),
    maxDelay: Duration.decode(options.retry?.maxDelay ?? defaults.retry.maxDelay)
  },
  messagesPerSecond: Math.min(
    defaults.maxMessagesPerSecond,
    Math.max(1, Math.floor(options.messagesPerSecond ?? defaults.messagesPerSecond))
  ),
  pairRate:
    options.pairRate === false
      ? false
      : {
          burst: Math.max(1, Math.floor(options.pairRate?.burst ?? defaults.pairBurst)),
          every: Duration.decode(options.pairRate?.every ?? defaults.pairEvery)
        },
  maxQueueWait: Duration.decode(options.maxQueueWait ?? defaults.maxQueueWait),
  previewUrls: options.previewUrls ?? false,
  mediaHosts: options.mediaHosts ?? MediaOperations.defaultMediaHosts
})

const decodeSendResponse = Schema.decodeUnknownEither(Schema.parseJson(MessagePayload.SendResponse))

const accepted = (body: string): Effect.Effect<Accepted, GraphHttp.AttemptFailure> =>
  Either.match(decodeSendResponse(body), {
    onLeft: () =>
      Effect.fail(
        GraphHttp.AttemptFailure.Ambiguous({ reason: "the provider answered 2xx without a readable message id" })
      ),
    onRight: (response) => {
      const waId = response.contacts?.[0]?.wa_id
      return Effect.succeed({
        providerMessageId: response.messages[0].id,
        recipientWaId: waId !== undefined && waId.length > 0 ? waId : null
      })
    }
  })

const queueFull = (limit: string, waitMillis: number) =>
  GraphHttp.AttemptFailure.Final({
    error: new ProviderRateLimited({
      code: null,
      title: `${limit}: the next slot is ${Math.ceil(waitMillis)} ms away`,
      retryAfterSeconds: Math.ceil(waitMillis / 1000)
    })
  })

/** A limit whose state cannot be read is not a reason to send unthrottled: the attempt fails, provably unsent. */
const storeUnavailable = (error: { readonly message: string }) =>
  GraphHttp.AttemptFailure.Transient({
    error: new ProviderUnavailable({ code: null, title: `the rate limits could not be read: ${error.message}` })
  })

/**
 * The two limits: in a `RateLimitStore` when the context has one (shared by every process on it, e.g. PostgreSQL),
 * otherwise in this process's memory. A number's rate is a burst of 1 every `1 s / messagesPerSecond`, which is the
 * memory limiter's spaced window: never more than `messagesPerSecond` in any second, evenly spread.
 *
 * Numbers differ in throughput (Meta's tier is a property of the number), so there is one number limiter per rate,
 * made on first use. In the store they share the key's state (a GCRA schedule is a time, whatever the interval), so
 * a number whose tier changes keeps its schedule; in memory a changed rate starts from rest.
 */
const limiters = (config: Settings) =>
  Effect.gen(function* () {
    const store = yield* Effect.serviceOption(RateLimitStore)
    const ceiling = (messagesPerSecond: number) =>
      Math.max(1, Math.min(config.messagesPerSecond, Math.floor(messagesPerSecond)))
    if (Option.isSome(store)) {
      const numberRate = (messagesPerSecond: number): RateLimit.Rate => ({
        intervalMillis: 1_000 / messagesPerSecond,
        burst: 1
      })
      const numbersAt = yield* Effect.cachedFunction(
        (messagesPerSecond: number): Effect.Effect<RateLimiter.Limiter<RateLimit.StoreError>> =>
          RateLimiter.fromStore(store.value, numberNamespace, numberRate(messagesPerSecond))
      )
      const pairRate =
        config.pairRate === false
          ? undefined
          : { intervalMillis: Math.max(1, Duration.toMillis(config.pairRate.every)), burst: config.pairRate.burst }
      const pairs =
        pairRate === undefined
          ? RateLimiter.unlimited
          : yield* RateLimiter.fromStore(store.value, pairNamespace, pairRate)
      const pairKey = (number: string, recipient: string) => `${number}:${recipient}`
      return {
        numbersOf: (number: WhatsAppNumber) => numbersAt(ceiling(number.messagesPerSecond)),
        pairs,
        pairKey,
        // The keys as the two limiters write them, so either path moves the same schedules.
        both:
          pairRate === undefined
            ? undefined
            : (number: WhatsAppNumber, pair: string, maxWaitMillis: number) => {
                const rate = numberRate(ceiling(number.messagesPerSecond))
                return {
                  numberInterval: rate.intervalMillis,
                  reserve: store.value.reserveBoth(
                    { key: `${pairNamespace}:${pair}`, rate: pairRate, maxWaitMillis },
                    { key: `${numberNamespace}:${number.providerPhoneNumberId}`, rate, maxWaitMillis }
                  )
                }
              }
      }
    }
    const numbersAt = yield* Effect.cachedFunction(
      (messagesPerSecond: number): Effect.Effect<RateLimiter.Limiter<RateLimit.StoreError>> =>
        RateLimiter.makeSlidingWindow({ limit: messagesPerSecond, window: "1 second" })
    )
    const pairs: RateLimiter.Limiter<RateLimit.StoreError> =
      config.pairRate === false
        ? RateLimiter.unlimited
        : yield* RateLimiter.makeTokenBucket({ capacity: config.pairRate.burst, refillEvery: config.pairRate.every })
    return {
      numbersOf: (number: WhatsAppNumber) => numbersAt(ceiling(number.messagesPerSecond)),
      pairs,
      pairKey: (number: string, recipient: string) => `${number}\u0000${recipient}`,
      both: undefined
    }
  })

const pairNamespace = "whatsapp.pair"
const numberNamespace = "whatsapp.number"

/**
 * A turn woken later than this is given up and taken again: a process that stalls (CPU, GC) would otherwise wake
 * every turn due during the stall at once, as one burst the provider counts in one second.
 */
const maxLatenessMillis = 20
/** Turns given up for lateness before a send goes late anyway (the limit then errs towards sending less). */
const maxRetakes = 3

/** Waits for `key`'s turn; a turn further than `maxWait` is a full queue, reported as the provider's rate limit. */
const takeTurn = (
  limiter: RateLimiter.Limiter<RateLimit.StoreError>,
  key: string,
  maxWait: Duration.Duration,
  limit: string
): Effect.Effect<void, GraphHttp.AttemptFailure> => {
  const turn = (retakes: number): Effect.Effect<void, GraphHttp.AttemptFailure> =>
    Effect.gen(function* () {
      const reservation = yield* limiter
        .reserve(key, Duration.toMillis(maxWait))
        .pipe(Effect.mapError(storeUnavailable))
      if (Either.isLeft(reservation)) return yield* Effect.fail(queueFull(limit, reservation.left))
      const wait = reservation.right
      if (wait <= 0) return
      const due = (yield* Clock.currentTimeMillis) + wait
      yield* Effect.sleep(Duration.millis(wait))
      if ((yield* Clock.currentTimeMillis) - due > maxLatenessMillis && retakes < maxRetakes) {
        return yield* turn(retakes + 1)
      }
    })
  return turn(0)
}

const pairLimit = "pair rate limit (same recipient)"
const numberLimit = "throughput limit (messages per second)"

/** Sleeps `wait`; `true` when it woke more than the lateness bound after its time (the turn is then taken again). */
const sleepUntilTurn = (wait: number): Effect.Effect<boolean> =>
  wait <= 0
    ? Effect.succeed(false)
    : Effect.gen(function* () {
        const due = (yield* Clock.currentTimeMillis) + wait
        yield* Effect.sleep(Duration.millis(wait))
        return (yield* Clock.currentTimeMillis) - due > maxLatenessMillis
      })

/**
 * The pair's turn, then the number's, in one statement of the store when the pair lets the send through at once
 * (almost always: Meta's pair rate starts with a burst of 45): `reserveBoth` takes the number's slot only then, so
 * no number slot is ever held while the send waits for its recipient. Otherwise the send waits for the pair's slot
 * and takes the number's turn after it, as two `takeTurn`s do. The lateness rules are the limiters': a number slot
 * answered more than `max(20 ms, its interval)` after it was sent (`RateLimit.timed`: not counting a wait for a
 * pooled connection), or woken more than 20 ms late, is given up and taken again through the number's limiter (its
 * schedule is the same row); so is a pair slot woken late.
 */
const takeBothTurns = (
  reserveBoth: Effect.Effect<RateLimit.Both, RateLimit.StoreError>,
  numberInterval: number,
  pairTurn: Effect.Effect<void, GraphHttp.AttemptFailure>,
  numberTurn: Effect.Effect<void, GraphHttp.AttemptFailure>
): Effect.Effect<void, GraphHttp.AttemptFailure> =>
  Effect.gen(function* () {
    const [[pair, number], sent] = yield* Effect.mapError(RateLimit.timed(reserveBoth), storeUnavailable)
    const answered = yield* Clock.currentTimeMillis
    if (Either.isLeft(pair)) return yield* Effect.fail(queueFull(pairLimit, pair.left))
    if (Option.isNone(number)) {
      // Only when the pair's slot waits: that wait, then the number's turn as usual.
      if (yield* sleepUntilTurn(pair.right)) yield* pairTurn
      return Option.none<RateLimit.Reservation>()
    }
    if (Either.isRight(number.value) && answered - sent > Math.max(maxLatenessMillis, numberInterval)) {
      return Option.none<RateLimit.Reservation>()
    }
    return Option.some(number.value)
  }).pipe(
    ProviderMetrics.timeLimiter("pair"),
    Effect.flatMap((number) =>
      Option.match(number, {
        onNone: () => numberTurn,
        onSome: (reservation) =>
          Either.match(reservation, {
            onLeft: (wait) => Effect.fail(queueFull(numberLimit, wait)),
            onRight: (wait) => Effect.flatMap(sleepUntilTurn(wait), (late) => (late ? numberTurn : Effect.void))
          }).pipe(ProviderMetrics.timeLimiter("number"))
      })
    )
  )

/**
 * Builds the gateway on the `HttpClient` in context, throttled through the `RateLimitStore` in context when there is
 * one (see {@link limiters}).
 */
export const make = (options: Options = {}): Effect.Effect<MessagingGateway["Type"], never, HttpClient.HttpClient> =>
  Effect.gen(function* () {
    const base = yield* HttpClient.HttpClient
    const client = options.transformClient ? options.transformClient(base) : base
    const config = settings(options)
    const { numbersOf, pairs, pairKey: pairKeyOf, both } = yield* limiters(config)
    // A failed pause only means the provider's next 429 comes a little sooner; the send it came from has its answer.
    const pause = (limiter: RateLimiter.Limiter<RateLimit.StoreError>, key: string, millis: number) =>
      limiter
        .pause(key, millis)
        .pipe(
          Effect.catchAll((error) => Effect.logWarning("could not record the provider's rate limit", error.message))
        )

    const messagesUrl = (from: WhatsAppNumber) =>
      `${config.baseUrl}/${config.apiVersion}/${encodeURIComponent(from.providerPhoneNumberId)}/messages`

    const request = (from: WhatsAppNumber, body: unknown) =>
      HttpClientRequest.post(messagesUrl(from)).pipe(
        HttpClientRequest.bearerToken(Redacted.value(from.accessToken)),
        HttpClientRequest.acceptJson,
        HttpClientRequest.bodyUnsafeJson(body)
      )

    const send = (from: WhatsAppNumber, recipient: string, body: unknown): Effect.Effect<Accepted, GatewayError> => {
      const numberKey = from.providerPhoneNumberId
      const pairKey = pairKeyOf(numberKey, recipient)
      const numbers = numbersOf(from)
      const pairTurn = takeTurn(pairs, pairKey, config.maxQueueWait, pairLimit)
      const numberTurn = Effect.flatMap(numbers, (limiter) =>
        takeTurn(limiter, numberKey, config.maxQueueWait, numberLimit)
      )
      const combined = both?.(from, pairKey, Duration.toMillis(config.maxQueueWait))
      const turns =
        combined === undefined
          ? Effect.zipRight(
              pairTurn.pipe(ProviderMetrics.timeLimiter("pair")),
              numberTurn.pipe(ProviderMetrics.timeLimiter("number"))
            )
          : takeBothTurns(combined.reserve, combined.numberInterval, pairTurn, numberTurn)
      const attempt = Effect.gen(function* () {
        yield* turns
        const response = yield* GraphHttp.execute(client, request(from, body), config.requestTimeout).pipe(
          ProviderMetrics.timeRequest("send")
        )
        return yield* accepted(response.body)
      })
      return GraphHttp.retrying(attempt, config.retry, {
        idempotent: false,
        onRateLimited: ({ error, graphCode }) => {
          const millis = error.retryAfterSeconds * 1000
          if (graphCode === 131056) return pause(pairs, pairKey, millis)
          if (graphCode === null || graphCode === 130429 || graphCode === 4 || graphCode === 80007) {
            return Effect.flatMap(numbers, (limiter) => pause(limiter, numberKey, millis))
          }
          return Effect.void
        }
      })
    }

    const sendText = (input: SendText) => {
      if (input.text.length === 0 || input.text.length > MessagePayload.maxTextLength) {
        return Effect.fail(
          new ProviderRejected({
            code: null,
            title: `text must be 1 to ${MessagePayload.maxTextLength} characters, got ${input.text.length}`
          })
        )
      }
      return send(
        input.from,
        MessagePayload.recipientOf(input.to),
        MessagePayload.textMessage(input, config.previewUrls)
      ).pipe(
        ProviderMetrics.countSend("text"),
        Effect.withSpan("CloudApiGateway.sendText", {
          attributes: {
            "parley.message_id": input.messageId,
            "whatsapp.phone_number_id": input.from.providerPhoneNumberId
          }
        })
      )
    }

    const sendTemplate = (input: SendTemplate) =>
      send(input.from, MessagePayload.recipientOf(input.to), MessagePayload.templateMessage(input)).pipe(
        ProviderMetrics.countSend("template"),
        Effect.withSpan("CloudApiGateway.sendTemplate", {
          attributes: {
            "parley.message_id": input.messageId,
            "whatsapp.phone_number_id": input.from.providerPhoneNumberId,
            "whatsapp.template": input.template.name
          }
        })
      )

    const sendMedia = (input: SendMedia) =>
      send(input.from, MessagePayload.recipientOf(input.to), MediaPayload.mediaMessage(input)).pipe(
        ProviderMetrics.countSend("media"),
        Effect.withSpan("CloudApiGateway.sendMedia", {
          attributes: {
            "parley.message_id": input.messageId,
            "whatsapp.phone_number_id": input.from.providerPhoneNumberId,
            "whatsapp.media_kind": input.media.kind
          }
        })
      )

    const media = MediaOperations.make(client, config)

    const markRead = (input: { readonly from: WhatsAppNumber; readonly providerMessageId: string }) =>
      GraphHttp.retrying(
        GraphHttp.execute(
          client,
          request(input.from, MessagePayload.readReceipt(input.providerMessageId)),
          config.requestTimeout
        ).pipe(ProviderMetrics.timeRequest("mark_read")),
        config.retry,
        { idempotent: true }
      ).pipe(
        Effect.asVoid,
        Effect.withSpan("CloudApiGateway.markRead", {
          attributes: { "whatsapp.phone_number_id": input.from.providerPhoneNumberId }
        })
      )

    return MessagingGateway.of({
      sendText,
      sendTemplate,
      sendMedia,
      fetchMedia: media.fetchMedia,
      uploadMedia: media.uploadMedia,
      markRead
    })
  })

export const layer = (options: Options = {}): Layer.Layer<MessagingGateway, never, HttpClient.HttpClient> =>
  Layer.effect(MessagingGateway, make(options))

/**
 * The options from configuration: by default {@link config}, i.e. `WHATSAPP_API_URL`,
 * `WHATSAPP_API_VERSION`, `WHATSAPP_REQUEST_TIMEOUT`, `WHATSAPP_MESSAGES_PER_SECOND`, `WHATSAPP_RETRY_BUDGET`.
 */
export const layerConfig = (
  options: Config.Config.Wrap<Options> = config
): Layer.Layer<MessagingGateway, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Layer.unwrapEffect(Effect.map(Config.unwrap(options), layer))

/** Reads the common options from the environment; unset values keep their defaults. */
export const config: Config.Config<Options> = Config.all({
  baseUrl: Config.option(Config.string("WHATSAPP_API_URL")),
  apiVersion: Config.option(Config.string("WHATSAPP_API_VERSION")),
  requestTimeout: Config.option(Config.duration("WHATSAPP_REQUEST_TIMEOUT")),
  messagesPerSecond: Config.option(Config.integer("WHATSAPP_MESSAGES_PER_SECOND")),
  retryBudget: Config.option(Config.duration("WHATSAPP_RETRY_BUDGET"))
}).pipe(
  Config.map((values): Options => {
    const options: { -readonly [K in keyof Options]: Options[K] } = {}
    if (Option.isSome(values.baseUrl)) options.baseUrl = values.baseUrl.value
    if (Option.isSome(values.apiVersion)) options.apiVersion = values.apiVersion.value
    if (Option.isSome(values.requestTimeout)) options.requestTimeout = values.requestTimeout.value
    if (Option.isSome(values.messagesPerSecond)) options.messagesPerSecond = values.messagesPerSecond.value
    if (Option.isSome(values.retryBudget)) options.retry = { budget: values.retryBudget.value }
    return options
  })
)
