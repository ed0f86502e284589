/**
 * The per-API-key request rate: a token bucket per key (burst = one minute's allowance, refilled continuously).
 * Over the limit a request gets 429 with `Retry-After`. The buckets live in a `RateLimitStore`: this process's
 * memory by default, or the database when several processes share it (then the limit holds across all of them).
 */
import { RateLimit as Limits, RateLimitStore, type StorageError } from "@parley/core"
import { Effect, Either, Layer } from "effect"

export interface RateLimitOptions {
  /** Requests per minute per key; 0 turns the limit off. */
  readonly perMinute: number
}

export class RateLimit extends Effect.Tag("@parley/http-server/RateLimit")<
  RateLimit,
  {
    /** Takes one request from the key's bucket: `undefined` when allowed, else seconds until a retry may pass. */
    readonly take: (key: string) => Effect.Effect<number | undefined, StorageError>
  }
>() {}

/** The limit on a store's buckets, under keys of their own (`api-key:<id>`). */
export const fromStore = (store: RateLimitStore["Type"], options: RateLimitOptions): RateLimit["Type"] => {
  if (options.perMinute <= 0) return { take: () => Effect.succeed(undefined) }
  const rate = { intervalMillis: 60_000 / options.perMinute, burst: options.perMinute }
  return {
    // A request never queues: one that would have to wait is refused with the wait, and reserves nothing.
    take: (key) =>
      Effect.map(
        store.reserve(`api-key:${key}`, rate, 0),
        Either.match({ onLeft: (wait) => Math.max(1, Math.ceil(wait / 1000)), onRight: () => undefined })
      )
  }
}

/** The limit in this process's memory. */
export const layer = (options: RateLimitOptions): Layer.Layer<RateLimit> =>
  Layer.effect(
    RateLimit,
    Effect.map(Limits.makeMemory, (store) => fromStore(store, options))
  )

/** The limit on the `RateLimitStore` in context (e.g. PostgreSQL, shared by every process on it). */
export const layerStore = (options: RateLimitOptions): Layer.Layer<RateLimit, never, RateLimitStore> =>
  Layer.effect(
    RateLimit,
    Effect.map(RateLimitStore, (store) => fromStore(store, options))
  )
