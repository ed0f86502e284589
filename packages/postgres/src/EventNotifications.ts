/**
 * Wake-ups for followers of the event feed: a notification on the `parley_events` channel (payload: the business
 * id) each time a transaction that recorded events commits, from any process. On PostgreSQL they come from
 * `LISTEN` on a dedicated connection (reconnected after a failure); on PGlite, in the same process, from PGlite's
 * own `listen`. A wake-up only tells followers to read the feed again: the feed is the truth, so a lost wake-up
 * costs at most one poll interval.
 */
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer, Queue, Schedule, type Scope, Stream } from "effect"
import { channel } from "./internal/notifier.js"

export class EventNotifications extends Context.Tag("@parley/postgres/EventNotifications")<
  EventNotifications,
  {
    /** A queue of business ids, fed from now on until the scope closes. */
    readonly subscribe: Effect.Effect<Queue.Dequeue<string>, never, Scope.Scope>
  }
>() {}

/** A fan-out to any number of subscribers; `publish` may be called from outside Effect (driver callbacks). */
export const makeHub = () => {
  const subscribers = new Set<Queue.Queue<string>>()
  const publish = (businessId: string) => {
    for (const queue of subscribers) Queue.unsafeOffer(queue, businessId)
  }
  const service: EventNotifications["Type"] = {
    // Sliding: a follower only needs to know that something happened, not how often.
    subscribe: Effect.acquireRelease(
      Effect.tap(Queue.sliding<string>(16), (queue) => Effect.sync(() => subscribers.add(queue))),
      (queue) =>
        Effect.zipRight(
          Effect.sync(() => subscribers.delete(queue)),
          Queue.shutdown(queue)
        )
    )
  }
  return { publish, service }
}

/**
 * `LISTEN parley_events` on the `PgClient`'s dedicated listen connection, for as long as the layer lives. After a
 * lost connection it listens again and wakes everyone, since notifications sent meanwhile are gone.
 */
export const layerPg: Layer.Layer<EventNotifications, never, PgClient.PgClient> = Layer.scoped(
  EventNotifications,
  Effect.gen(function* () {
    const pg = yield* PgClient.PgClient
    const hub = makeHub()
    yield* pg.listen(channel).pipe(
      Stream.runForEach((businessId) => Effect.sync(() => hub.publish(businessId))),
      Effect.zipRight(Effect.sync(() => hub.publish("*"))),
      Effect.ignore,
      Effect.repeat(Schedule.spaced("1 second")),
      Effect.forkScoped
    )
    return hub.service
  })
)
