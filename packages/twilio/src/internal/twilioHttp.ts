/**
 * One Twilio API call and the retry loop around it (the same outcomes and loop as the Cloud API gateway's). Every HTTP client failure is turned into one of four attempt
 * outcomes here, so nothing of `HttpClientError` leaves the package:
 * - `Final`: a definitive answer, never retried;
 * - `Transient`: provably not accepted (connection refused, 503, 20503), retried with full-jitter backoff;
 * - `RateLimited`: not accepted, retried after the reset hint when that fits the budget;
 * - `Ambiguous`: the request may have been accepted (timeout or reset after it was written, an unreadable 2xx body),
 *   never resent unless the call is idempotent.
 */
import type { HttpClient, HttpClientError, HttpClientRequest } from "@effect/platform"
import {
  type GatewayError,
  ProviderMisconfigured,
  ProviderOutcomeUnknown,
  type ProviderRateLimited,
  ProviderRejected,
  ProviderUnavailable
} from "@parley/core"
import { Clock, Data, Duration, Effect, Either, Option, Random } from "effect"
import * as TwilioError from "../TwilioError.js"

export type AttemptFailure = Data.TaggedEnum<{
  Final: { readonly error: Exclude<GatewayError, ProviderOutcomeUnknown> }
  Transient: { readonly error: ProviderUnavailable }
  RateLimited: { readonly error: ProviderRateLimited; readonly code: number | null }
  Ambiguous: { readonly reason: string }
}>
export const AttemptFailure = Data.taggedEnum<AttemptFailure>()

/** A Twilio response with a 2xx status and its body text. */
export interface TwilioResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly body: string
}

/** Node and undici error codes that prove the request never reached the server. */
const unsentCodes = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EADDRNOTAVAIL",
  "UND_ERR_CONNECT_TIMEOUT",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "CERT_HAS_EXPIRED",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE"
])

/** The error codes in a cause chain (`cause.cause…`, `AggregateError.errors`). */
export const errorCodes = (cause: unknown): ReadonlyArray<string> => {
  const codes: Array<string> = []
  const seen = new Set<unknown>()
  const visit = (value: unknown, depth: number) => {
    if (depth > 8 || typeof value !== "object" || value === null || seen.has(value)) return
    seen.add(value)
    const record = value as { readonly code?: unknown; readonly cause?: unknown; readonly errors?: unknown }
    if (typeof record.code === "string") codes.push(record.code)
    visit(record.cause, depth + 1)
    if (Array.isArray(record.errors)) for (const inner of record.errors) visit(inner, depth + 1)
  }
  visit(cause, 0)
  return codes
}

const describeCause = (cause: unknown): string => {
  const codes = errorCodes(cause)
  const message = cause instanceof Error ? cause.message : String(cause)
  return codes.length > 0 ? `${message} (${codes.join(", ")})` : message
}

const headersOf = (headers: Readonly<Record<string, string>>): Readonly<Record<string, string | undefined>> => headers

/**
 * Classifies a non-2xx answer. A 5xx other than 503 may have come after Twilio created the message (a gateway
 * timeout in front of a slow API): ambiguous, so a send is never repeated on it.
 */
const fromErrorResponse = (
  status: number,
  headers: Readonly<Record<string, string | undefined>>,
  body: string
): Effect.Effect<never, AttemptFailure> =>
  Effect.flatMap(Clock.currentTimeMillis, (now): Effect.Effect<never, AttemptFailure> => {
    const error = TwilioError.fromResponse(status, body)
    const kind = TwilioError.kindOf(error)
    if (kind === "ambiguous") {
      return Effect.fail(
        AttemptFailure.Ambiguous({
          reason: `Twilio answered ${status}${error.code === null ? "" : ` (${error.code})`}`
        })
      )
    }
    const retryAfter = Option.getOrElse(TwilioError.retryAfterFromHeaders(headers, now), () =>
      TwilioError.defaultRetryAfterSeconds(error.code)
    )
    const typed = TwilioError.toGatewayError(error, kind, retryAfter)
    switch (typed._tag) {
      case "ProviderUnavailable":
        return Effect.fail(AttemptFailure.Transient({ error: typed }))
      case "ProviderRateLimited":
        return Effect.fail(AttemptFailure.RateLimited({ error: typed, code: error.code }))
      default:
        return Effect.fail(AttemptFailure.Final({ error: typed }))
    }
  })

const fromClientError = (error: HttpClientError.HttpClientError): Effect.Effect<never, AttemptFailure> => {
  if (error._tag === "ResponseError") {
    const response = error.response
    const status = response.status
    if (status >= 200 && status < 300) {
      return Effect.fail(AttemptFailure.Ambiguous({ reason: `the response could not be read: ${error.message}` }))
    }
    return response.text.pipe(
      Effect.orElseSucceed(() => ""),
      Effect.flatMap((body) => fromErrorResponse(status, headersOf(response.headers), body))
    )
  }
  switch (error.reason) {
    case "InvalidUrl":
      return Effect.fail(
        AttemptFailure.Final({
          error: new ProviderMisconfigured({ code: null, title: `invalid Twilio API URL: ${error.message}` })
        })
      )
    case "Encode":
      return Effect.fail(
        AttemptFailure.Final({
          error: new ProviderRejected({ code: null, title: `the request could not be encoded: ${error.message}` })
        })
      )
    case "Transport": {
      const codes = errorCodes(error.cause)
      if (codes.some((code) => unsentCodes.has(code))) {
        return Effect.fail(
          AttemptFailure.Transient({
            error: new ProviderUnavailable({ code: null, title: `connection failed: ${describeCause(error.cause)}` })
          })
        )
      }
      return Effect.fail(
        AttemptFailure.Ambiguous({ reason: `the connection failed after the request: ${describeCause(error.cause)}` })
      )
    }
  }
}

/**
 * Runs one request within `timeout` and reads its body. A 2xx gives the response; everything else an attempt
 * failure. A timeout is ambiguous: the request may have been written and accepted.
 */
export const execute = (
  client: HttpClient.HttpClient,
  request: HttpClientRequest.HttpClientRequest,
  timeout: Duration.Duration
): Effect.Effect<TwilioResponse, AttemptFailure> =>
  client.execute(request).pipe(
    Effect.matchEffect({
      onFailure: fromClientError,
      onSuccess: (response) => {
        const status = response.status
        const headers = headersOf(response.headers)
        const ok = status >= 200 && status < 300
        return response.text.pipe(
          Effect.matchEffect({
            onFailure: (error) =>
              ok
                ? Effect.fail(AttemptFailure.Ambiguous({ reason: `the response could not be read: ${error.message}` }))
                : fromErrorResponse(status, headers, ""),
            onSuccess: (body) =>
              ok ? Effect.succeed({ status, headers, body }) : fromErrorResponse(status, headers, body)
          })
        )
      }
    }),
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () =>
        AttemptFailure.Ambiguous({ reason: `no response within ${Duration.format(timeout)} after sending` })
    })
  )

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  readonly maxAttempts: number
  /** No retry starts later than this after the first attempt started. */
  readonly budget: Duration.Duration
  /** The backoff ceiling doubles from here: attempt n waits random(0, min(maxDelay, baseDelay · 2^(n-1))). */
  readonly baseDelay: Duration.Duration
  readonly maxDelay: Duration.Duration
}

const finalError = (failure: AttemptFailure, idempotent: boolean): GatewayError => {
  switch (failure._tag) {
    case "Final":
    case "Transient":
    case "RateLimited":
      return failure.error
    case "Ambiguous":
      return idempotent
        ? new ProviderUnavailable({ code: null, title: failure.reason })
        : new ProviderOutcomeUnknown({ reason: failure.reason })
  }
}

/**
 * Runs `attempt` until it succeeds, fails finally, or the policy runs out. Full jitter: each wait is uniform in
 * [0, ceiling], raised to the provider's reset hint for rate limits. A wait that would end past the budget is not
 * started: the last error is returned instead. `onRateLimited` lets the caller slow its limiters down.
 */
export const retrying = <A>(
  attempt: Effect.Effect<A, AttemptFailure>,
  policy: RetryPolicy,
  options: {
    readonly idempotent: boolean
    readonly onRateLimited?: (failure: Extract<AttemptFailure, { _tag: "RateLimited" }>) => Effect.Effect<void>
  }
): Effect.Effect<A, GatewayError> =>
  Effect.gen(function* () {
    const started = yield* Clock.currentTimeMillis
    const budget = Duration.toMillis(policy.budget)
    const base = Duration.toMillis(policy.baseDelay)
    const cap = Duration.toMillis(policy.maxDelay)
    let attempts = 0
    while (true) {
      const result = yield* Effect.either(attempt)
      if (Either.isRight(result)) return result.right
      const failure = result.left
      attempts++
      if (failure._tag === "RateLimited" && options.onRateLimited) yield* options.onRateLimited(failure)
      const retryable =
        failure._tag === "Transient" ||
        failure._tag === "RateLimited" ||
        (failure._tag === "Ambiguous" && options.idempotent)
      if (!retryable || attempts >= policy.maxAttempts)
        return yield* Effect.fail(finalError(failure, options.idempotent))
      const ceiling = Math.min(cap, base * 2 ** (attempts - 1))
      const jitter = Math.floor((yield* Random.next) * ceiling)
      const hint = failure._tag === "RateLimited" ? failure.error.retryAfterSeconds * 1000 : 0
      const wait = Math.max(jitter, hint)
      const now = yield* Clock.currentTimeMillis
      if (now + wait - started > budget) return yield* Effect.fail(finalError(failure, options.idempotent))
      yield* Effect.annotateCurrentSpan("retry.attempt", attempts)
      yield* Effect.logDebug("Twilio API attempt failed; retrying").pipe(
        Effect.annotateLogs({ attempt: attempts, waitMillis: wait, failure: failure._tag })
      )
      yield* Effect.sleep(Duration.millis(wait))
    }
  })
