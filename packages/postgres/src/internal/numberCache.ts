/**
 * The WhatsApp numbers a process sends from, as read (row and opened access token), kept per `SqlClient` (that is,
 * per process and database) and `Secrets`, so a send does not read and decrypt its number each time.
 *
 * How stale an entry may be:
 * - a change made through this process (`Tenancy`: a replaced access token, a new throughput tier) invalidates
 *   every entry once its statement has committed; a read that began before the invalidation is not kept, so it
 *   cannot put the old row back;
 * - a change made through another process is seen within `maxAge`: entries are read again when older. Until then,
 *   a send from this process may use the old token (the provider refuses it as misconfigured: the message fails
 *   and its Idempotency-Key is released, so a retry sends it with the new one) or the old tier.
 * A number that is not found is never cached. The cache holds at most `maxEntries` numbers.
 */
import type { WhatsAppNumber } from "@parley/core"
import { Clock, Duration, Effect, Option } from "effect"

export const maxAge = Duration.seconds(5)
const maxAgeMillis = Duration.toMillis(maxAge)
const maxEntries = 10_000

interface Entry {
  readonly number: WhatsAppNumber
  readonly at: number
  /** The client's generation when it was read: an invalidation since makes it stale. */
  readonly generation: number
}

interface ClientCache {
  /** Bumped by every invalidation. */
  generation: number
  /** Per `Secrets`: a directory opening tokens with other keys must not see these. */
  readonly bySecrets: WeakMap<object, Map<string, Entry>>
}

/** Keyed by the process's `SqlClient` (any object, so the cache can be tested alone). */
const caches = new WeakMap<object, ClientCache>()

const cacheOf = (sql: object): ClientCache => {
  const existing = caches.get(sql)
  if (existing !== undefined) return existing
  const cache: ClientCache = { generation: 0, bySecrets: new WeakMap() }
  caches.set(sql, cache)
  return cache
}

const entriesOf = (cache: ClientCache, secrets: object): Map<string, Entry> => {
  const existing = cache.bySecrets.get(secrets)
  if (existing !== undefined) return existing
  const entries = new Map<string, Entry>()
  cache.bySecrets.set(secrets, entries)
  return entries
}

/** The number from the cache when fresh, else `load`'s result (kept when found). */
export const cached = <E, R>(
  sql: object,
  secrets: object,
  businessId: string,
  id: string,
  load: Effect.Effect<Option.Option<WhatsAppNumber>, E, R>
): Effect.Effect<Option.Option<WhatsAppNumber>, E, R> =>
  Effect.gen(function* () {
    const cache = cacheOf(sql)
    const entries = entriesOf(cache, secrets)
    const key = `${businessId}:${id}`
    const now = yield* Clock.currentTimeMillis
    const hit = entries.get(key)
    if (hit !== undefined && hit.generation === cache.generation && now >= hit.at && now - hit.at < maxAgeMillis) {
      return Option.some(hit.number)
    }
    const generation = cache.generation
    const loaded = yield* load
    if (Option.isNone(loaded)) {
      entries.delete(key)
    } else if (cache.generation === generation) {
      if (entries.size >= maxEntries) entries.clear()
      entries.set(key, { number: loaded.value, at: now, generation })
    }
    return loaded
  })

/** Makes every cached number of this client stale: call it once a change to a number has committed. */
export const invalidate = (sql: object): Effect.Effect<void> =>
  Effect.sync(() => {
    cacheOf(sql).generation += 1
  })
