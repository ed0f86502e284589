/**
 * The port that reads a business's recorded events: the feed (keyset pages after a cursor) and the live stream
 * (the same feed, followed). Storage adapters record the events themselves, in the atomic step of each change (see
 * `Event`); this port only reads them, and forgets them after the retention period.
 *
 * Order: each adapter defines one total order in which an event, once served, is never preceded by one served
 * later ("commit-safe"); a cursor is a position in it. A page after a cursor therefore never skips an event that
 * commits late, and following the feed from a cursor yields every later event exactly once.
 */
import { Chunk, Context, type DateTime, Duration, Effect, Option, type Queue, type Scope, Stream } from "effect"
import type { InvalidCursor } from "./Cursor.js"
import type { Event, EventType } from "./Event.js"
import type { BusinessId } from "./Ids.js"
import type { StorageError } from "./StorageError.js"

/** An event with its position in the feed (an opaque cursor string) and when it was stored. */
export interface RecordedEvent {
  readonly cursor: string
  readonly recordedAt: DateTime.Utc
  readonly event: Event
}

export interface EventQuery {
  /** Only events after this cursor (one this port returned); from the oldest kept event when `None`. */
  readonly after: Option.Option<string>
  /** Only these types; every type when absent or empty. */
  readonly types?: ReadonlyArray<EventType> | undefined
  readonly limit: number
}

export class EventLog extends Context.Tag("@parley/core/EventLog")<
  EventLog,
  {
    /** Oldest first, in the feed's order, strictly after `query.after`, at most `query.limit`. */
    readonly read: (
      businessId: BusinessId,
      query: EventQuery
    ) => Effect.Effect<ReadonlyArray<RecordedEvent>, StorageError | InvalidCursor>

    /** The cursor of the business's newest servable event (`None` when it has none): "from now" for a follower. */
    readonly head: (businessId: BusinessId) => Effect.Effect<Option.Option<string>, StorageError>

    /**
     * The business's events after `after` (after `head` when `None`), then every new one as it is recorded, by any
     * process, without gaps or repeats. Never ends by itself.
     */
    readonly subscribe: (
      businessId: BusinessId,
      options: { readonly after: Option.Option<string>; readonly types?: ReadonlyArray<EventType> | undefined }
    ) => Stream.Stream<RecordedEvent, StorageError | InvalidCursor>

    /**
     * Forgets at most `limit` events (of any business) stored before `cutoff`; returns how many. An adapter keeps
     * the ones it still needs past the cutoff (the PostgreSQL one: events an outbound webhook delivery has yet to
     * send), so a batch may come back short while older events remain.
     */
    readonly purge: (input: {
      readonly cutoff: DateTime.Utc
      readonly limit: number
    }) => Effect.Effect<number, StorageError>
  }
>() {}

/** How many events a follower reads per query. */
export const followBatch = 500

/**
 * `subscribe` on top of `read` and `head`, for adapters: reads until caught up, then waits for a wake-up (an
 * event recorded somewhere, possibly not for this business) or for `pollInterval`, the backstop for a lost one.
 * `wakeups` is subscribed before the first read, so a wake-up between a read and the wait is never missed.
 */
export const follow = <E>(options: {
  readonly read: (after: Option.Option<string>) => Effect.Effect<ReadonlyArray<RecordedEvent>, E>
  readonly head: Effect.Effect<Option.Option<string>, E>
  readonly after: Option.Option<string>
  readonly wakeups: Effect.Effect<Queue.Dequeue<unknown>, never, Scope.Scope>
  readonly pollInterval: Duration.DurationInput
}): Stream.Stream<RecordedEvent, E> =>
  Stream.unwrapScoped(
    Effect.gen(function* () {
      const wakeups = yield* options.wakeups
      const start = Option.isSome(options.after) ? options.after : yield* options.head
      const wait = Effect.raceFirst(
        Effect.zipRight(wakeups.take, wakeups.takeAll),
        Effect.sleep(Duration.decode(options.pollInterval))
      )
      const next = (cursor: Option.Option<string>): Effect.Effect<ReadonlyArray<RecordedEvent>, E> =>
        Effect.flatMap(options.read(cursor), (rows) =>
          rows.length > 0 ? Effect.succeed(rows) : Effect.zipRight(wait, next(cursor))
        )
      return Stream.unfoldChunkEffect(start, (cursor) =>
        Effect.map(next(cursor), (rows) => {
          const last = rows[rows.length - 1]
          return Option.some([
            Chunk.fromIterable(rows),
            last === undefined ? cursor : Option.some(last.cursor)
          ] as const)
        })
      )
    })
  )
