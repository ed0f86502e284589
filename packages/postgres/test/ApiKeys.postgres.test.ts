/**
 * API keys on PostgreSQL with two Parley "processes" (each its own pool and LISTEN connection) on one fresh database:
 * a key verified once is served from memory, and a revocation through one process is refused by the other on its
 * very next request. Required when `CI` or `TEST_DATABASE_URL` is set.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, layer } from "@effect/vitest"
import { layerUuidV7 } from "@parley/core"
import { Context, Effect, Layer, Redacted, Schedule } from "effect"
import * as ApiKeys from "../src/ApiKeys.js"
import * as PostgresClient from "../src/PostgresClient.js"
import * as Storage from "../src/Storage.js"
import * as Tenancy from "../src/Tenancy.js"
import { TestDatabase } from "../src/testing/index.js"

const target = await TestDatabase.resolvePostgres()

type Process = ApiKeys.ApiKeys | Tenancy.Tenancy | SqlClient.SqlClient

const processOn = Layer.unwrapEffect(
  Effect.map(TestDatabase.FreshDatabase, (database) => {
    const client = PostgresClient.layer({ url: database.url, maxConnections: 4 })
    return Layer.mergeAll(ApiKeys.layer, Tenancy.layer).pipe(
      Layer.provideMerge(Storage.layer),
      Layer.provideMerge(Layer.mergeAll(Storage.migrated(client), TestDatabase.secrets, layerUuidV7))
    )
  })
)

class ProcessA extends Context.Tag("test/ProcessA")<ProcessA, Context.Context<Process>>() {}
class ProcessB extends Context.Tag("test/ProcessB")<ProcessB, Context.Context<Process>>() {}

const build = <I>(tag: Context.Tag<I, Context.Context<Process>>) =>
  Layer.scoped(tag, Layer.build(Layer.fresh(processOn)))

if (target._tag !== "Unavailable") {
  const stack = Layer.merge(build(ProcessA), build(ProcessB)).pipe(Layer.provide(TestDatabase.fresh(target.url)))

  layer(stack, { excludeTestServices: true, timeout: 60_000 })("ApiKeys on PostgreSQL, two processes", (it) => {
    const on =
      <I>(tag: Context.Tag<I, Context.Context<Process>>) =>
      <A, E>(effect: Effect.Effect<A, E, Process>) =>
        Effect.flatMap(tag, (context) => Effect.provide(effect, context))
    const a = on(ProcessA)
    const b = on(ProcessB)

    const authenticate = (key: Redacted.Redacted<string>) =>
      Effect.flatMap(ApiKeys.ApiKeys, (keys) => keys.authenticate(key))

    /**
     * Waits until `b` serves the key from memory: a name changed behind the API's back (plain SQL) is not seen by a
     * process that no longer reads the row. The cache is used once the process's LISTEN connection is up.
     */
    const servedFromMemory = (key: Redacted.Redacted<string>, id: string) =>
      b(
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const before = yield* authenticate(key)
          yield* sql`UPDATE api_keys SET name = ${`renamed ${Math.random()}`} WHERE id = ${id}`
          const after = yield* authenticate(key)
          if (after.name !== before.name) return yield* Effect.fail("read from the database")
        })
      ).pipe(Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.intersect(Schedule.recurs(200)))))

    it.effect("a key revoked through one process is refused by the other on its next request", () =>
      Effect.gen(function* () {
        const { created } = yield* a(
          Effect.gen(function* () {
            const tenancy = yield* Tenancy.Tenancy
            const business = yield* tenancy.createBusiness({ name: "Acme" })
            const keys = yield* ApiKeys.ApiKeys
            return { created: yield* keys.create({ businessId: business.id, name: "desk", scopes: [] }) }
          })
        )
        yield* servedFromMemory(created.key, created.apiKey.id)
        yield* a(authenticate(created.key))

        yield* a(Effect.flatMap(ApiKeys.ApiKeys, (keys) => keys.revoke(created.apiKey.businessId, created.apiKey.id)))
        const refusedByB = yield* Effect.flip(b(authenticate(created.key)))
        const refusedByA = yield* Effect.flip(a(authenticate(created.key)))
        assert.strictEqual(refusedByB._tag === "ApiKeyRejected" ? refusedByB.reason : refusedByB._tag, "revoked")
        assert.strictEqual(refusedByA._tag === "ApiKeyRejected" ? refusedByA.reason : refusedByA._tag, "revoked")
        // Revoking again (from the other process) is fine, and still refused everywhere.
        yield* b(Effect.flatMap(ApiKeys.ApiKeys, (keys) => keys.revoke(created.apiKey.businessId, created.apiKey.id)))
        assert.strictEqual((yield* Effect.flip(b(authenticate(created.key))))._tag, "ApiKeyRejected")
      })
    )

    it.effect("a cached key still checks its secret, and records its use", () =>
      Effect.gen(function* () {
        const { created } = yield* a(
          Effect.gen(function* () {
            const tenancy = yield* Tenancy.Tenancy
            const business = yield* tenancy.createBusiness({ name: "Globex" })
            const keys = yield* ApiKeys.ApiKeys
            return { created: yield* keys.create({ businessId: business.id, name: "bot", scopes: [] }) }
          })
        )
        yield* servedFromMemory(created.key, created.apiKey.id)
        const key = Redacted.value(created.key)
        const wrong = Redacted.make(`${key.slice(0, -1)}${key.endsWith("A") ? "B" : "A"}`)
        const refused = yield* Effect.flip(b(authenticate(wrong)))
        assert.strictEqual(refused._tag === "ApiKeyRejected" ? refused.reason : refused._tag, "wrong_secret")
        const used = yield* b(
          Effect.flatMap(ApiKeys.ApiKeys, (keys) => keys.list(created.apiKey.businessId)).pipe(
            Effect.map((keys) => keys.find((k) => k.id === created.apiKey.id)?.lastUsedAt ?? null)
          )
        )
        assert.isNotNull(used)
      })
    )
  })
}
