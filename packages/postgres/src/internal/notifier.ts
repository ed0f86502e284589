/**
 * The wake-ups of event followers (`NOTIFY parley_events, <business id>`), sent after the writes commit rather than
 * inside them.
 *
 * Why not inside: a transaction that ran NOTIFY takes a cluster-wide lock (PostgreSQL's heavyweight lock on
 * "database 0", so that queue entries appear in commit order) from just before its commit until its commit record
 * is flushed. Every notifying commit therefore waits for the previous one's WAL flush: with a NOTIFY in each write,
 * all of Parley's writes — two per send — would commit one at a time.
 *
 * Instead, a write that recorded events names its businesses here once it has committed (`notifying` wraps the
 * transaction; an autocommit statement calls `notifyLater` after it returns), and one statement per short window
 * notifies every business named meanwhile: at most one notifying commit per window and process, whatever the rate
 * of writes. The window is real time (not the Effect clock), so a test clock never holds a wake-up back.
 *
 * What it costs: a follower on another process wakes up to `window` later. A wake-up lost with a crash between a
 * commit and its window's statement costs at most one poll interval, since followers also read the feed on a
 * timer; the feed, not the notification, is the truth.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import { Context, Effect, FiberRef } from "effect"
import { json } from "./columns.js"
import { realDelay } from "./realDelay.js"

/** The channel followers LISTEN on; the payload is the business id. */
export const channel = "parley_events"

/** How long a process gathers businesses before one notifying statement. */
export const windowMs = 5

interface State {
  readonly pending: Set<string>
  scheduled: boolean
}

/** Per `SqlClient` (per process and database). */
const states = new WeakMap<object, State>()

const stateOf = (sql: object): State => {
  const existing = states.get(sql)
  if (existing !== undefined) return existing
  const state: State = { pending: new Set(), scheduled: false }
  states.set(sql, state)
  return state
}

/**
 * Schedules the notification of `businessIds` (committed changes) in this process's next window. Never fails and
 * never waits: the statement runs on a fiber of its own, on a pooled connection (an empty context, so never on a
 * transaction's connection), and a failure only costs followers a poll interval.
 */
export const notifyLater = (sql: SqlClient.SqlClient, businessIds: Iterable<string>): Effect.Effect<void> =>
  Effect.suspend(() => {
    const state = stateOf(sql)
    for (const id of businessIds) state.pending.add(id)
    if (state.scheduled || state.pending.size === 0) return Effect.void
    state.scheduled = true
    const flush = Effect.suspend(() => {
      const ids = Array.from(state.pending)
      state.pending.clear()
      state.scheduled = false
      return sql`SELECT pg_notify(${channel}, b) FROM jsonb_array_elements_text(${json(ids)}::jsonb) AS b`
    })
    return realDelay(windowMs).pipe(
      Effect.zipRight(flush),
      Effect.ignore,
      Effect.provide(Context.empty()),
      Effect.forkDaemon,
      Effect.asVoid
    )
  })

/** The businesses whose events the enclosing `notifying` write recorded, when there is one. */
const gathering = FiberRef.unsafeMake<Set<string> | undefined>(undefined)

/**
 * Runs a write (a transaction, or statements that each commit) and, once it has succeeded, schedules the wake-ups
 * for the events it recorded (`eventsRecorded`). Nested inside another `notifying`, it leaves them to the outer one,
 * whose success is the commit.
 */
export const notifying =
  (sql: SqlClient.SqlClient) =>
  <A, E, R>(write: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.flatMap(FiberRef.get(gathering), (outer) => {
      if (outer !== undefined) return write
      const businesses = new Set<string>()
      return write.pipe(
        Effect.locally(gathering, businesses),
        Effect.tap(() => notifyLater(sql, businesses))
      )
    })

/**
 * Says that the current write recorded events of these businesses. Inside `notifying`, they are notified once it
 * succeeds; outside (a statement that has already committed), in the next window.
 */
export const eventsRecorded = (sql: SqlClient.SqlClient, businessIds: Iterable<string>): Effect.Effect<void> =>
  Effect.flatMap(FiberRef.get(gathering), (businesses) => {
    if (businesses === undefined) return notifyLater(sql, businessIds)
    for (const id of businessIds) businesses.add(id)
    return Effect.void
  })
