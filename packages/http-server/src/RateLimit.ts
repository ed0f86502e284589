/**
 * The per-API-key request rate: a token bucket per key (burst = one minute's allowance, refilled continuously).
 * Over the limit a request gets 429 with `Retry-After`. In memory, per process.
 */
import { Clock, Context, Effect, Layer } from "effect"

export interface RateLimitOptions {
  /** Requests per minute per key; 0 turns the limit off. */
  readonly perMinute: number
}

export class RateLimit extends Context.Tag("@parley/http-server/RateLimit")<
  RateLimit,
  {
    /** Takes one request from the key's bucket: `undefined` when allowed, else seconds until a retry may pass. */
    readonly take: (key: string) => Effect.Effect<number | undefined>
  }
>() {}

interface Bucket {
  tokens: number
  at: number
}

export const make = (options: RateLimitOptions): RateLimit["Type"] => {
  if (options.perMinute <= 0) return { take: () => Effect.succeed(undefined) }
  const capacity = options.perMinute
  const perMilli = options.perMinute / 60_000
  const buckets = new Map<string, Bucket>()
  return {
    take: (key) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const bucket = buckets.get(key) ?? { tokens: capacity, at: now }
        bucket.tokens = Math.min(capacity, bucket.tokens + (now - bucket.at) * perMilli)
        bucket.at = now
        buckets.set(key, bucket)
        if (bucket.tokens >= 1) {
          bucket.tokens -= 1
          return undefined
        }
        return Math.max(1, Math.ceil((1 - bucket.tokens) / perMilli / 1000))
      })
  }
}

export const layer = (options: RateLimitOptions): Layer.Layer<RateLimit> => Layer.sync(RateLimit, () => make(options))
