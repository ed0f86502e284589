/**
 * The verified-key cache behind `ApiKeys.authenticate` on a PostgreSQL server: a key read once is authenticated
 * from memory afterwards (its digest still compared on every request), so an API request costs one statement less.
 *
 * Revocation still takes effect at once, in every process on the database, through `LISTEN parley_api_keys`:
 * - each instance announces itself on the channel every second (`p <instance>`); it uses its cache only while it
 *   has heard its own announcement in the last `usableForMs`, which proves its LISTEN connection delivers;
 * - a revocation notifies `r <instance> <nonce> <short id>` in the statement that revokes. Every instance drops the
 *   key when it hears that, and acknowledges (`a <instance> <nonce>`);
 * - the revoking call returns once it has heard its own notification (so, the channel being one ordered queue, every
 *   announcement made before it) and the acknowledgement of every instance heard recently; an instance that stays
 *   silent is waited for until it can no longer be using its cache (`ackTimeoutMs` > `usableForMs`).
 * So when `revoke` returns, no instance accepts the key any more, as when every request read the key's row.
 *
 * A read that was under way while anything was revoked does not fill the cache (`ticket`/`put`), so a row read
 * before a revocation cannot come back after it.
 */
import { randomBytes } from "node:crypto"
import type * as SqlClient from "@effect/sql/SqlClient"
import type { PgClient } from "@effect/sql-pg"
import { Deferred, Effect, Exit, FiberId, Schedule, type Scope, Stream } from "effect"
import { realDelay } from "./realDelay.js"

export const channel = "parley_api_keys"

const pingEveryMs = 1_000
/** A cache is used while its instance heard its own announcement at most this long ago. */
const usableForMs = 4_000
/** A revocation waits for the instances heard at most this long ago... */
const peerWindowMs = 8_000
/** ...for at most this long: by then a silent instance has stopped using its cache. */
const ackTimeoutMs = 2 * usableForMs
/** Keys kept; beyond, the oldest is dropped (it is read again on its next use). */
const maxEntries = 10_000

export interface KeyCache<A> {
  /** The cached value, when the cache may be used now. */
  readonly get: (shortId: string) => A | undefined
  /** Taken before reading a key from the database; `put` keeps the row only if nothing was revoked since. */
  readonly ticket: () => number
  readonly put: (shortId: string, value: A, ticket: number) => void
  /**
   * Runs the revoking statement, given the payload it must notify followed by the key's short id (`pg_notify(channel,
   * payload || short_id)`), then drops the key here and waits until no instance accepts it any more. `shortIdOf`
   * says which key the statement revoked (`undefined`: none, nothing to wait for).
   */
  readonly revoke: <X, E, R>(
    statement: (payload: string) => Effect.Effect<X, E, R>,
    shortIdOf: (result: X) => string | undefined
  ) => Effect.Effect<X, E, R>
}

interface Waiter {
  echoed: boolean
  readonly acked: Set<string>
  pending: ReadonlyArray<string> | undefined
  readonly done: () => void
}

/** A cache that is never used: for clients without LISTEN (each request reads the key, as before). */
export const none = <A>(): KeyCache<A> => ({
  get: () => undefined,
  ticket: () => -1,
  put: () => {},
  revoke: (statement) => statement("")
})

/** The cache of one instance, listening on `pg` until the scope closes. */
export const make = <A>(
  pg: PgClient.PgClient,
  sql: SqlClient.SqlClient
): Effect.Effect<KeyCache<A>, never, Scope.Scope> =>
  Effect.gen(function* () {
    const instance = randomBytes(8).toString("hex")
    const entries = new Map<string, A>()
    const peers = new Map<string, number>()
    const waiters = new Map<string, Waiter>()
    let generation = 0
    let heardSelfAt = Number.NEGATIVE_INFINITY
    /** Done once this instance has heard itself: from then on its revocations' notices come back to it. */
    const listening = Deferred.unsafeMake<void>(FiberId.none)

    const usable = (now: number) => now - heardSelfAt <= usableForMs
    const invalidate = (shortId: string | undefined) => {
      generation++
      if (shortId === undefined) entries.clear()
      else entries.delete(shortId)
    }
    const check = (waiter: Waiter) => {
      if (waiter.echoed && waiter.pending?.every((peer) => waiter.acked.has(peer))) waiter.done()
    }
    // Background statements: not part of any request's trace.
    const notify = (payload: string) =>
      sql`SELECT pg_notify(${channel}, ${payload})`.pipe(Effect.ignore, Effect.withTracerEnabled(false))

    const heard = (message: string): Effect.Effect<void> => {
      const now = performance.now()
      const [kind, from = "", nonce = "", ...rest] = message.split(" ")
      peers.set(from, now)
      if (kind === "p" && from === instance) {
        heardSelfAt = now
        Deferred.unsafeDone(listening, Exit.void)
        // Processes that stopped (restarts) are forgotten once nothing was heard from them for the window.
        for (const [peer, at] of peers) if (now - at > peerWindowMs) peers.delete(peer)
      }
      if (kind === "r") {
        invalidate(rest.join(" "))
        // Acknowledged on the side, so waiting for a pooled connection never holds up the next notice.
        if (from !== instance) return Effect.asVoid(Effect.fork(notify(`a ${instance} ${nonce}`)))
        const waiter = waiters.get(nonce)
        if (waiter !== undefined) {
          waiter.echoed = true
          waiter.pending = [...peers]
            .filter(([peer, at]) => peer !== instance && now - at <= peerWindowMs)
            .map(([p]) => p)
          check(waiter)
        }
      }
      if (kind === "a") {
        const waiter = waiters.get(nonce)
        if (waiter !== undefined) {
          waiter.acked.add(from)
          check(waiter)
        }
      }
      return Effect.void
    }

    yield* pg
      .listen(channel)
      .pipe(
        Stream.runForEach(heard),
        Effect.ignore,
        Effect.zipRight(Effect.sync(() => invalidate(undefined))),
        Effect.repeat(Schedule.spaced("1 second")),
        Effect.withTracerEnabled(false),
        Effect.forkScoped
      )
    yield* notify(`p ${instance}`).pipe(Effect.zipRight(realDelay(pingEveryMs)), Effect.forever, Effect.forkScoped)

    const get = (shortId: string) => {
      if (entries.size === 0) return undefined
      if (!usable(performance.now())) {
        invalidate(undefined)
        return undefined
      }
      return entries.get(shortId)
    }

    const put = (shortId: string, value: A, ticket: number) => {
      if (ticket !== generation || !usable(performance.now())) return
      if (entries.size >= maxEntries && !entries.has(shortId)) {
        const oldest = entries.keys().next()
        if (oldest.done !== true) entries.delete(oldest.value)
      }
      entries.set(shortId, value)
    }

    const revoke = <X, E, R>(
      statement: (payload: string) => Effect.Effect<X, E, R>,
      shortIdOf: (result: X) => string | undefined
    ) =>
      Effect.suspend(() => {
        // Registered before the statement runs: its echo may arrive before the statement's own answer.
        const nonce = randomBytes(8).toString("hex")
        const settled = Deferred.unsafeMake<void>(FiberId.none)
        waiters.set(nonce, {
          echoed: false,
          acked: new Set(),
          pending: undefined,
          done: () => Deferred.unsafeDone(settled, Exit.void)
        })
        // Just after start the LISTEN may not be up yet: a revocation then waits for it rather than for the timeout.
        return Effect.race(Deferred.await(listening), realDelay(ackTimeoutMs)).pipe(
          Effect.zipRight(statement(`r ${instance} ${nonce} `)),
          Effect.tap((result) => {
            const shortId = shortIdOf(result)
            if (shortId === undefined) return Effect.void
            invalidate(shortId)
            return Effect.race(Deferred.await(settled), realDelay(ackTimeoutMs))
          }),
          Effect.ensuring(Effect.sync(() => waiters.delete(nonce)))
        )
      })

    return {
      get,
      ticket: () => (usable(performance.now()) ? generation : -1),
      put,
      revoke
    } satisfies KeyCache<A>
  })
