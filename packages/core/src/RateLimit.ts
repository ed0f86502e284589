/**
 * The port behind Parley's rate limits (a number's messages per second, Meta's pair rate, an API key's requests
 * per minute), so their state can be shared by every process that serves one business: kept in memory by default,
 * in PostgreSQL when several processes run on one database.
 *
 * A limit is a {@link Rate}: a burst, then one grant per interval. That one shape covers both kinds Parley needs: a
 * number's throughput is a burst of 1 every `1 s / limit` (so never more than `limit` in any second, evenly spread),
 * the pair rate and an API key's budget are a burst refilled one by one. Adapters implement it as the generic cell
 * rate algorithm (GCRA): one "theoretical arrival time" per key, so a grant is one atomic update of one value.
 */
import { Clock, Context, Effect, Either, FiberRef, Layer, Option, Ref } from "effect"
import type { StorageError } from "./StorageError.js"

export interface Rate {
  /** Spacing between grants once the burst is spent, in milliseconds (> 0). */
  readonly intervalMillis: number
  /** Grants that may go at once from rest (>= 1). */
  readonly burst: number
}

/**
 * How long the caller must wait (ms) for the slot just reserved, or (Left) how long it would have had to wait when
 * that exceeds the caller's limit: nothing was reserved.
 */
export type Reservation = Either.Either<number, number>

/** The waits of consecutive slots, or (Left) the wait of the first when it was too long: nothing reserved. */
export type Batch = Either.Either<ReadonlyArray<number>, number>

/** A single reservation from a batch of one. */
export const firstOf = (batch: Batch): Reservation => Either.map(batch, (waits) => waits[0] ?? 0)

/** How a store can fail: its state could not be read or written. */
export type StoreError = StorageError

/** The sending of one timed reservation: when its request left for the store, once the store says so. */
interface Sending {
  sentAt: number | undefined
}

const currentSending = FiberRef.unsafeMake<Sending | undefined>(undefined)

/**
 * Runs a store call and tells when its request was sent (ms on the Effect `Clock`), for callers that judge how late
 * an answer came (a slot answered late may be stale: see the gateway's limiters). By default that is when the call
 * started; a store that queues before sending (for a pooled database connection) marks the moment its request
 * leaves with {@link markSent}, so time spent in that queue, before the database chose the slot, is not counted as
 * lateness: the slot is computed from the database's clock when the statement runs.
 */
export const timed = <A, E, R>(call: Effect.Effect<A, E, R>): Effect.Effect<readonly [A, number], E, R> =>
  Effect.flatMap(Clock.currentTimeMillis, (started) => {
    const sending: Sending = { sentAt: undefined }
    return Effect.map(Effect.locally(call, currentSending, sending), (a) => [a, sending.sentAt ?? started] as const)
  })

/** Whether the current store call is {@link timed}: a store need only mark its sending then. */
export const isTimed: Effect.Effect<boolean> = Effect.map(FiberRef.get(currentSending), (s) => s !== undefined)

/** For stores: the request of the current {@link timed} call leaves now (a no-op when the call is not timed). */
export const markSent: Effect.Effect<void> = Effect.flatMap(FiberRef.get(currentSending), (sending) =>
  sending === undefined
    ? Effect.void
    : Effect.map(Clock.currentTimeMillis, (now) => {
        sending.sentAt = now
      })
)

export class RateLimitStore extends Context.Tag("@parley/core/RateLimitStore")<
  RateLimitStore,
  {
    /**
     * Reserves `key`'s next slot under `rate`. Reservations are taken in arrival order, so concurrent callers (in
     * any process sharing the store) queue rather than fail; one waiting more than `maxWaitMillis` reserves nothing.
     */
    readonly reserve: (key: string, rate: Rate, maxWaitMillis: number) => Effect.Effect<Reservation, StorageError>
    /**
     * Reserves `count` consecutive slots of `key` in one step (for callers that coalesce their waiters): the waits
     * of each, or (Left) the wait of the first when that exceeds `maxWaitMillis`, and then nothing is reserved.
     * `reserve` is this with a count of 1.
     */
    readonly reserveBatch: (
      key: string,
      rate: Rate,
      count: number,
      maxWaitMillis: number
    ) => Effect.Effect<Batch, StorageError>
    /**
     * Two limits a caller passes one after the other (Meta's pair rate, then the number's throughput), in one step
     * when the first lets it through at once: reserves `first`'s next slot and, only if that slot is due now,
     * `second`'s next slot at the same instant. The second is `None` when it was not asked (the first's slot waits,
     * or the first refused): the caller then waits its turn and reserves the second after it, as it would have.
     */
    readonly reserveBoth: (first: Limit, second: Limit) => Effect.Effect<Both, StorageError>
    /** Holds every slot of `key` until `millis` from now (the provider said to slow down). */
    readonly pause: (key: string, millis: number) => Effect.Effect<void, StorageError>
    // Reservations may be `timed` by their caller: a store that waits for something (a pooled connection) before
    // its request leaves calls `markSent` when it leaves.
  }
>() {}

/** A key under its rate, and the longest wait a caller accepts (`RateLimitStore.reserveBoth`). */
export interface Limit {
  readonly key: string
  readonly rate: Rate
  readonly maxWaitMillis: number
}

/** The first limit's reservation, and the second's when the first was due at once. */
export type Both = readonly [Reservation, Option.Option<Reservation>]

/** Whether a reservation's slot is due now: granted, with no wait. */
export const dueNow = (reservation: Reservation): boolean => Either.isRight(reservation) && reservation.right <= 0

/** The GCRA state of one key: `tat` is the earliest time the bucket is full again; times in ms. */
export interface CellState {
  readonly tat: number
  readonly pausedUntil: number
}

/** A key never seen (or idle long enough) is a full bucket. */
export const restingCell: CellState = { tat: 0, pausedUntil: 0 }

/**
 * One reservation at `now`. A pause moves "now" to its end (`now' = max(now, pausedUntil)`); the new `tat` is one
 * interval after `max(tat, now')`, and the grant is at `max(tat - tolerance, now')` with `tolerance = (burst - 1) *
 * interval`. With a burst of 1 this spaces grants by exactly one interval; with a larger burst it is a token bucket
 * of that capacity refilled once per interval (so at most `burst` grants at the end of a pause). Between any two
 * grants j < k, `grant(k) >= grant(j) + (k - j) * interval - tolerance`: fewer than `window / interval + burst` fit
 * in any window. Adapters that store the state elsewhere run this same arithmetic (the PostgreSQL one in SQL).
 */
export const gcraStep = (
  state: CellState,
  rate: Rate,
  now: number,
  maxWaitMillis: number
): readonly [Reservation, CellState] => {
  const [batch, next] = gcraBatch(state, rate, now, maxWaitMillis, 1)
  return [firstOf(batch), next]
}

/**
 * `count` reservations at once, exactly as `count` calls of {@link gcraStep} at the same `now` would make them
 * (slot i is i intervals after the first, never before the pause's end), or none when the first would wait too long.
 */
export const gcraBatch = (
  state: CellState,
  rate: Rate,
  now: number,
  maxWaitMillis: number,
  count: number
): readonly [Batch, CellState] => {
  const n = Math.max(1, Math.floor(count))
  const tolerance = (Math.max(1, rate.burst) - 1) * rate.intervalMillis
  const from = Math.max(now, state.pausedUntil)
  const base = Math.max(state.tat, from)
  const first = Math.max(base - tolerance, from) - now
  if (first > maxWaitMillis) return [Either.left(first), state]
  const waits = Array.from({ length: n }, (_, i) => Math.max(base + i * rate.intervalMillis - tolerance, from) - now)
  return [Either.right(waits), { tat: base + n * rate.intervalMillis, pausedUntil: state.pausedUntil }]
}

/** Keys whose state is equivalent to a new one are forgotten once the map grows past this size. */
const sweepThreshold = 10_000

/**
 * The store in this process's memory, on the Effect `Clock` (so the TestClock drives it): right for one process,
 * and for the embedded database, which one process owns. Each run makes a store of its own (its map is made when
 * it runs, not once when this module loads, when every store would have shared it).
 */
export const makeMemory: Effect.Effect<RateLimitStore["Type"]> = Effect.map(
  Effect.suspend(() => Ref.make({ cells: new Map<string, CellState>(), lastNow: 0 })),
  (ref) => {
    // Clamped to the latest clock reading seen, so grants stay monotonic across racing fibers.
    const now = Effect.flatMap(Clock.currentTimeMillis, (millis) =>
      Ref.modify(ref, (current) => {
        const at = Math.max(millis, current.lastNow)
        return [at, { ...current, lastNow: at }]
      })
    )
    const reserveBatch = (key: string, rate: Rate, count: number, maxWaitMillis: number) =>
      Effect.flatMap(now, (at) =>
        Ref.modify(ref, (current) => {
          const cells = current.cells
          if (cells.size > sweepThreshold) {
            for (const [k, cell] of cells) if (cell.tat <= at && cell.pausedUntil <= at) cells.delete(k)
          }
          const [batch, next] = gcraBatch(cells.get(key) ?? restingCell, rate, at, maxWaitMillis, count)
          cells.set(key, next)
          return [batch, current]
        })
      )
    return RateLimitStore.of({
      reserve: (key, rate, maxWaitMillis) => Effect.map(reserveBatch(key, rate, 1, maxWaitMillis), firstOf),
      reserveBatch,
      reserveBoth: (first, second) =>
        Effect.flatMap(now, (at) =>
          Ref.modify(ref, (current) => {
            const step = (limit: Limit) => {
              const [batch, next] = gcraBatch(
                current.cells.get(limit.key) ?? restingCell,
                limit.rate,
                at,
                limit.maxWaitMillis,
                1
              )
              current.cells.set(limit.key, next)
              return firstOf(batch)
            }
            const reservation = step(first)
            const both: Both = [reservation, dueNow(reservation) ? Option.some(step(second)) : Option.none()]
            return [both, current] as const
          })
        ),
      pause: (key, millis) =>
        Effect.flatMap(now, (at) =>
          Ref.update(ref, (current) => {
            const cell = current.cells.get(key) ?? restingCell
            current.cells.set(key, { ...cell, pausedUntil: Math.max(cell.pausedUntil, at + millis) })
            return current
          })
        )
    })
  }
)

/** {@link makeMemory} as a layer. */
export const layerMemory: Layer.Layer<RateLimitStore> = Layer.effect(RateLimitStore, makeMemory)
