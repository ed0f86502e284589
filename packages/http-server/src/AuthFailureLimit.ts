/**
 * Failed authentications per client address (API keys and the admin token alike): a token bucket per address
 * (burst = one minute's allowance, refilled continuously). An address that has used it up gets 429 with
 * `Retry-After` before its credential is even looked at, so guessing keys or the admin token costs a minute per
 * `perMinute` guesses. In memory, per process; kept apart from the per-key request rate (`RateLimit`).
 *
 * The address is the TCP peer's: behind a reverse proxy every client shares the proxy's address.
 */
import { HttpServerRequest } from "@effect/platform"
import { Clock, Context, Effect, Layer, Option } from "effect"
import { ApiError } from "./ApiError.js"

export interface AuthFailureLimitOptions {
  /** Failed authentications per minute per address; 0 turns the limit off. */
  readonly perMinute: number
}

export class AuthFailureLimit extends Context.Tag("@parley/http-server/AuthFailureLimit")<
  AuthFailureLimit,
  {
    /** Seconds until the address may try again when it has used up its failures, else `undefined`. */
    readonly blocked: (address: string) => Effect.Effect<number | undefined>
    /** Counts one failed authentication from the address. */
    readonly failed: (address: string) => Effect.Effect<void>
  }
>() {}

interface Bucket {
  tokens: number
  at: number
}

/** Addresses kept before full buckets (nothing to remember) are swept. */
const sweepAbove = 10_000

export const make = (options: AuthFailureLimitOptions): AuthFailureLimit["Type"] => {
  if (options.perMinute <= 0) return { blocked: () => Effect.succeed(undefined), failed: () => Effect.void }
  const capacity = options.perMinute
  const perMilli = options.perMinute / 60_000
  const buckets = new Map<string, Bucket>()
  const refill = (bucket: Bucket, now: number) => {
    bucket.tokens = Math.min(capacity, bucket.tokens + (now - bucket.at) * perMilli)
    bucket.at = now
  }
  return {
    blocked: (address) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const bucket = buckets.get(address)
        if (bucket === undefined) return undefined
        refill(bucket, now)
        return bucket.tokens >= 1 ? undefined : Math.max(1, Math.ceil((1 - bucket.tokens) / perMilli / 1000))
      }),
    failed: (address) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        if (buckets.size >= sweepAbove) {
          for (const [key, bucket] of buckets) {
            refill(bucket, now)
            if (bucket.tokens >= capacity) buckets.delete(key)
          }
        }
        const bucket = buckets.get(address) ?? { tokens: capacity, at: now }
        refill(bucket, now)
        bucket.tokens = Math.max(0, bucket.tokens - 1)
        buckets.set(address, bucket)
      })
  }
}

export const layer = (options: AuthFailureLimitOptions): Layer.Layer<AuthFailureLimit> =>
  Layer.sync(AuthFailureLimit, () => make(options))

export const tooManyFailures = (retryAfterSeconds: number) =>
  ApiError.make(
    429,
    "rate_limited",
    "too many failed authentications from this address; retry after the number of seconds in Retry-After",
    { retryAfterSeconds, reason: "failed_authentication" },
    { "retry-after": String(retryAfterSeconds) }
  )

/**
 * Runs an authentication under the limit of the request's client address: 429 at once when the address is
 * blocked, and every 401 it answers counted.
 */
export const guard = <A>(
  limit: AuthFailureLimit["Type"],
  authenticate: Effect.Effect<A, ApiError>
): Effect.Effect<A, ApiError> =>
  Effect.gen(function* () {
    const request = yield* Effect.serviceOption(HttpServerRequest.HttpServerRequest)
    const address = Option.getOrElse(
      Option.flatMap(request, (r) => r.remoteAddress),
      () => "unknown"
    )
    const wait = yield* limit.blocked(address)
    if (wait !== undefined) return yield* Effect.fail(tooManyFailures(wait))
    return yield* authenticate.pipe(
      Effect.tapError((error) => (error.status === 401 ? limit.failed(address) : Effect.void))
    )
  })
