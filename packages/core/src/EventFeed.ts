/**
 * The use cases over a business's events, as its API key (or an embedder's actor) sees them: a page of the feed,
 * and the live stream. Both need the scope `messaging:events:read`; both read only the actor's business.
 */
import { Effect, Option, Stream } from "effect"
import { type Actor, type MissingScope, requireScope } from "./Actor.js"
import type { InvalidCursor } from "./Cursor.js"
import type { EventType } from "./Event.js"
import { EventLog, type RecordedEvent } from "./EventLog.js"
import type { StorageError } from "./StorageError.js"

export const scope = "messaging:events:read" as const

export interface FeedPage {
  readonly events: ReadonlyArray<RecordedEvent>
  /**
   * Where to continue: the cursor of the last event, or the cursor given when the page is empty (there is nothing
   * new yet; ask again later from the same place). `None` only for an empty feed read from its start.
   */
  readonly nextCursor: Option.Option<string>
}

/** Oldest first, strictly after `after`, at most `limit`, of the given types (every type when none). */
export const page = (
  actor: Actor,
  query: { readonly after: Option.Option<string>; readonly types?: ReadonlyArray<EventType>; readonly limit: number }
): Effect.Effect<FeedPage, MissingScope | InvalidCursor | StorageError, EventLog> =>
  Effect.gen(function* () {
    yield* requireScope(actor, scope)
    const log = yield* EventLog
    const events = yield* log.read(actor.businessId, query)
    const last = events[events.length - 1]
    return { events, nextCursor: last === undefined ? query.after : Option.some(last.cursor) }
  }).pipe(Effect.withSpan("EventFeed.page"))

/** The business's events after `after` (from now when `None`), then each new one as it is recorded, forever. */
export const follow = (
  actor: Actor,
  options: { readonly after: Option.Option<string>; readonly types?: ReadonlyArray<EventType> }
): Stream.Stream<RecordedEvent, MissingScope | InvalidCursor | StorageError, EventLog> =>
  Stream.unwrap(
    Effect.gen(function* () {
      yield* requireScope(actor, scope)
      const log = yield* EventLog
      return log.subscribe(actor.businessId, options)
    })
  )
