/**
 * Keyed rate limiters that make callers wait their turn on the Effect `Clock` (so the TestClock drives them):
 * a spaced sliding window for a number's throughput (never more than `limit` in any `window`, evenly spread) and a
 * token bucket for Meta's pair rate (a burst, then one per interval).
 *
 * A reservation is taken before the caller sleeps, so concurrent callers queue in arrival order. The pure `*Step`
 * functions hold the arithmetic; the `make*` functions wrap them in a `Ref` and the clock.
 */
import { RateLimit, type RateLimitStore } from "@parley/core"
import { Clock, Deferred, Duration, Effect, Either, Ref } from "effect"

/** How long the caller must wait before its slot, or (Left) how long it would have had to wait: nothing reserved. */
export type Reservation = Either.Either<number, number>

/** `E`: how the limiter's state can fail to be read (never, in memory; a `StorageError` for a shared store). */
export interface Limiter<E = never> {
  /**
   * Reserves the next slot for `key` and returns the wait in milliseconds, or `Left(wait)` without reserving when
   * the wait would exceed `maxWaitMillis`.
   */
  readonly reserve: (key: string, maxWaitMillis: number) => Effect.Effect<Reservation, E>
  /** Holds every slot of `key` until `millis` from now (the provider said to slow down). */
  readonly pause: (key: string, millis: number) => Effect.Effect<void, E>
}

export interface StoreOptions {
  /**
   * The most callers one reservation serves (default 64). A batch never spans more than a second of the key's
   * schedule, so a slow limit (the pair rate) reserves one slot at a time.
   */
  readonly maxBatch?: number
  /**
   * A reservation answered later than this, or one interval of the key's schedule if that is longer, is given up
   * and taken again, up to `maxRetakes` times (20 ms, 3).
   */
  readonly staleAfterMillis?: number
  readonly maxRetakes?: number
}

/** A caller's slot, and when (this process's clock) the reservation that holds it was answered. */
interface Slot {
  readonly reservation: Reservation
  readonly answered: number
}

interface KeyQueue {
  readonly lock: Effect.Semaphore
  readonly pending: Array<Deferred.Deferred<Slot, RateLimit.StoreError>>
  users: number
}

/**
 * A limiter whose state lives in a `RateLimitStore` (shared by every process on the store), under keys prefixed by
 * `namespace` so several limits can share one store.
 *
 * Callers of one key in this process are coalesced: one reservation is in flight per key at a time, and it takes a
 * batch of consecutive slots for every caller waiting then (one round trip for many grants). A reservation answered
 * more than `staleAfterMillis` after it was sent (the process or the database stalled) may be stale, so its slots
 * are given up and taken again; so is a caller's slot when the caller resumes more than `staleAfterMillis` after its
 * slot. Otherwise a stall would release every slot due during it at once. "Sent" is when the request left for the
 * store (`RateLimit.timed`): time spent waiting for a pooled connection comes before the database picks the slots,
 * so it makes no answer stale. A caller's wait counts from when the reservation was answered.
 *
 * Lateness is judged against the longer of `staleAfterMillis` and one interval of the schedule. A send that goes D
 * late can share a window only with slots up to D earlier than the window, so it adds at most ⌈D / interval⌉ sends
 * to any window: within one interval, at most one. For a fast schedule (1,000/s) 20 ms still bounds that at 20;
 * for a slow one (Meta's pair rate, one per 6 s) a retake would bound nothing more and only cost a round trip,
 * which under load (the pool's queue counts in the round trip) was a quarter of a statement per send.
 */
export const fromStore = (
  store: RateLimitStore["Type"],
  namespace: string,
  rate: RateLimit.Rate,
  options: StoreOptions = {}
): Effect.Effect<Limiter<RateLimit.StoreError>> =>
  Effect.sync(() => {
    const maxBatch = Math.max(1, Math.min(options.maxBatch ?? 64, Math.floor(1_000 / rate.intervalMillis) + 1))
    const staleAfter = Math.max(options.staleAfterMillis ?? 20, rate.intervalMillis)
    const maxRetakes = options.maxRetakes ?? 3
    const queues = new Map<string, KeyQueue>()

    // Uninterruptible: the callers it took are answered whatever happens to the caller that serves them.
    const serve = (queue: KeyQueue, key: string, maxWaitMillis: number) =>
      Effect.uninterruptible(
        Effect.gen(function* () {
          const batch = queue.pending.splice(0, maxBatch)
          if (batch.length === 0) return
          let result: Either.Either<RateLimit.Batch, RateLimit.StoreError>
          let answered: number
          for (let retakes = 0; ; retakes++) {
            const [reserved, sent] = yield* RateLimit.timed(
              Effect.either(store.reserveBatch(`${namespace}:${key}`, rate, batch.length, maxWaitMillis))
            )
            result = reserved
            answered = yield* Clock.currentTimeMillis
            const granted = Either.isRight(result) && Either.isRight(result.right)
            if (!granted || answered - sent <= staleAfter || retakes >= maxRetakes) break
          }
          const outcome = result
          const at = answered
          yield* Effect.forEach(batch, (caller, i) =>
            Either.isLeft(outcome)
              ? Deferred.fail(caller, outcome.left)
              : Deferred.succeed(caller, {
                  reservation: Either.map(outcome.right, (waits) => waits[i] ?? 0),
                  answered: at
                })
          )
        })
      )

    const queueOf = (key: string) => {
      let queue = queues.get(key)
      if (queue === undefined) {
        queue = { lock: Effect.unsafeMakeSemaphore(1), pending: [], users: 0 }
        queues.set(key, queue)
      }
      queue.users++
      return queue
    }

    return {
      reserve: (key, maxWaitMillis) =>
        Effect.suspend(() => {
          const queue = queueOf(key)
          return Effect.gen(function* () {
            for (let retakes = 0; ; retakes++) {
              const me = yield* Deferred.make<Slot, RateLimit.StoreError>()
              queue.pending.push(me)
              // Whoever holds the key's lock serves the callers waiting then; a caller served by another is done.
              while (!(yield* Deferred.isDone(me))) yield* queue.lock.withPermits(1)(serve(queue, key, maxWaitMillis))
              const slot = yield* Deferred.await(me)
              if (Either.isLeft(slot.reservation)) return slot.reservation
              const remaining = slot.reservation.right - ((yield* Clock.currentTimeMillis) - slot.answered)
              if (remaining >= -staleAfter || retakes >= maxRetakes) return Either.right(Math.max(0, remaining))
            }
          }).pipe(
            Effect.ensuring(
              Effect.sync(() => {
                queue.users--
                if (queue.users === 0) queues.delete(key)
              })
            )
          )
        }),
      pause: (key, millis) => store.pause(`${namespace}:${key}`, millis)
    }
  })

/**
 * Waits for `key`'s turn. Fails with the wait it would have taken when that exceeds `maxWait`.
 */
export const take = (
  limiter: Limiter,
  key: string,
  maxWait: Duration.DurationInput = Duration.infinity
): Effect.Effect<void, number> => {
  const max = Duration.toMillis(maxWait)
  return Effect.flatMap(limiter.reserve(key, max), (reservation) =>
    Either.match(reservation, {
      onLeft: (wait) => Effect.fail(wait),
      onRight: (wait) => (wait > 0 ? Effect.sleep(Duration.millis(wait)) : Effect.void)
    })
  )
}

// ---------------------------------------------------------------------------------------------------------------
// Sliding window

export interface WindowState {
  /** The last `limit` grant times (ms), oldest at `head` once full. */
  readonly ring: ReadonlyArray<number>
  readonly head: number
  readonly pausedUntil: number
}

export const emptyWindow: WindowState = { ring: [], head: 0, pausedUntil: 0 }

/**
 * The slot for a caller at `now`: never more than `limit` grants in any half-open interval of length `window`, and
 * grants spaced by at least `window / limit`, so a burst leaves as an even stream rather than a spike at the start
 * of each window (network jitter on a spike is what makes the provider count more than the limit in its own
 * window). Grants are monotonic, so the oldest of the last `limit` decides the window bound.
 */
export const windowStep = (
  state: WindowState,
  options: { readonly limit: number; readonly windowMillis: number },
  now: number,
  maxWaitMillis: number
): readonly [Reservation, WindowState] => {
  const full = state.ring.length >= options.limit
  const count = state.ring.length
  let at = Math.max(now, state.pausedUntil)
  if (count > 0) {
    const newest = state.ring[(state.head + count - 1) % count] ?? 0
    at = Math.max(at, newest + options.windowMillis / options.limit)
  }
  if (full) at = Math.max(at, (state.ring[state.head] ?? 0) + options.windowMillis)
  const wait = at - now
  if (wait > maxWaitMillis) return [Either.left(wait), state]
  if (!full) return [Either.right(wait), { ...state, ring: [...state.ring, at] }]
  const ring = state.ring.slice()
  ring[state.head] = at
  return [Either.right(wait), { ...state, ring, head: (state.head + 1) % options.limit }]
}

const windowIdle = (state: WindowState, windowMillis: number, now: number) => {
  if (state.pausedUntil > now) return false
  if (state.ring.length === 0) return true
  const newest = state.ring[(state.head + state.ring.length - 1) % state.ring.length] ?? 0
  return newest + windowMillis <= now
}

// ---------------------------------------------------------------------------------------------------------------
// Token bucket

export interface BucketState {
  /** May go negative: each unit below zero is a caller already queued for a future token. */
  readonly tokens: number
  readonly updatedAt: number
  readonly pausedUntil: number
}

export const fullBucket = (capacity: number, now: number): BucketState => ({
  tokens: capacity,
  updatedAt: now,
  pausedUntil: 0
})

/** Refills at one token per `refillMillis` up to `capacity`, then takes one (or queues for the next). */
export const bucketStep = (
  state: BucketState,
  options: { readonly capacity: number; readonly refillMillis: number },
  now: number,
  maxWaitMillis: number
): readonly [Reservation, BucketState] => {
  const elapsed = Math.max(0, now - state.updatedAt)
  const tokens = Math.min(options.capacity, state.tokens + elapsed / options.refillMillis)
  const tokenWait = tokens >= 1 ? 0 : (1 - tokens) * options.refillMillis
  const wait = Math.max(tokenWait, state.pausedUntil - now, 0)
  const updatedAt = Math.max(now, state.updatedAt)
  if (wait > maxWaitMillis) return [Either.left(wait), { ...state, tokens, updatedAt }]
  return [Either.right(wait), { tokens: tokens - 1, updatedAt, pausedUntil: state.pausedUntil }]
}

// ---------------------------------------------------------------------------------------------------------------
// Effectful wrappers

/** Keys idle long enough to be equivalent to new ones are forgotten once the map grows past this size. */
const sweepThreshold = 10_000

const keyed = <S>(
  initial: (now: number) => S,
  step: (state: S, now: number, maxWaitMillis: number) => readonly [Reservation, S],
  pause: (state: S, until: number) => S,
  idle: (state: S, now: number) => boolean
): Effect.Effect<Limiter> =>
  Effect.map(
    Ref.make<{ readonly states: Map<string, S>; readonly lastNow: number }>({ states: new Map(), lastNow: 0 }),
    (ref): Limiter => ({
      reserve: (key, maxWaitMillis) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Ref.modify(ref, (current) => {
            // Clamp to the latest clock reading seen, so grants stay monotonic across racing fibers.
            const at = Math.max(now, current.lastNow)
            const states = current.states
            if (states.size > sweepThreshold) {
              for (const [k, s] of states) if (idle(s, at)) states.delete(k)
            }
            const [reservation, next] = step(states.get(key) ?? initial(at), at, maxWaitMillis)
            states.set(key, next)
            const fromNow = (wait: number) => wait + (at - now)
            return [Either.mapBoth(reservation, { onLeft: fromNow, onRight: fromNow }), { states, lastNow: at }]
          })
        ),
      pause: (key, millis) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Ref.update(ref, (current) => {
            const at = Math.max(now, current.lastNow)
            current.states.set(key, pause(current.states.get(key) ?? initial(at), now + millis))
            return { states: current.states, lastNow: at }
          })
        )
    })
  )

/** At most `limit` slots per key in any `window` (default: one second), spaced by `window / limit`. */
export const makeSlidingWindow = (options: {
  readonly limit: number
  readonly window?: Duration.DurationInput
}): Effect.Effect<Limiter> => {
  const limit = Math.max(1, Math.floor(options.limit))
  const windowMillis = Duration.toMillis(options.window ?? "1 second")
  return keyed<WindowState>(
    () => emptyWindow,
    (state, now, max) => windowStep(state, { limit, windowMillis }, now, max),
    (state, until) => ({ ...state, pausedUntil: Math.max(state.pausedUntil, until) }),
    (state, now) => windowIdle(state, windowMillis, now)
  )
}

/** A burst of `capacity` per key, then one slot per `refillEvery`. */
export const makeTokenBucket = (options: {
  readonly capacity: number
  readonly refillEvery: Duration.DurationInput
}): Effect.Effect<Limiter> => {
  const capacity = Math.max(1, Math.floor(options.capacity))
  const refillMillis = Math.max(1, Duration.toMillis(options.refillEvery))
  return keyed<BucketState>(
    (now) => fullBucket(capacity, now),
    (state, now, max) => bucketStep(state, { capacity, refillMillis }, now, max),
    (state, until) => ({ ...state, pausedUntil: Math.max(state.pausedUntil, until) }),
    (state, now) => state.pausedUntil <= now && state.tokens + (now - state.updatedAt) / refillMillis >= capacity
  )
}

/** A limiter that never waits (for a disabled limit). */
export const unlimited: Limiter = {
  reserve: () => Effect.succeed(Either.right(0)),
  pause: () => Effect.void
}
