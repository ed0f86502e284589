/**
 * Rotation of the secret key, on PGlite and PostgreSQL: tokens sealed under the old key open with it listed as a
 * previous key, the re-seal moves every token to the new key (all or nothing), and afterwards the new key alone opens
 * them. A token no configured key opens is counted by the check and stops the re-seal before it writes anything.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { layerUuidV7, WhatsAppNumberDirectory } from "@parley/core"
import { Effect, Layer, Option, Redacted } from "effect"
import * as SecretRotation from "../src/SecretRotation.js"
import * as Secrets from "../src/Secrets.js"
import * as Storage from "../src/Storage.js"
import * as Tenancy from "../src/Tenancy.js"
import { TestDatabase } from "../src/testing/index.js"

const target = await TestDatabase.resolvePostgres()
const engines: ReadonlyArray<readonly [string, () => Layer.Layer<SqlClient.SqlClient, unknown>]> = [
  ["PGlite", () => TestDatabase.pglite],
  ...(target._tag === "Unavailable"
    ? []
    : [["PostgreSQL", () => TestDatabase.postgres({ url: target.url, maxConnections: 4 })] as const])
]

const oldKey = Secrets.generateKey()
const newKey = Secrets.generateKey()
const otherKey = Secrets.generateKey()

/** Tenancy, the number directory and the rotation, on the shared database, with the given keys. */
const withKeys = (key: string, previous: ReadonlyArray<string> = []) =>
  Layer.mergeAll(Tenancy.layer, SecretRotation.layer).pipe(
    Layer.provideMerge(Storage.layer),
    Layer.provideMerge(
      Layer.merge(Secrets.layer(Redacted.make(key), { previousKeys: previous.map(Redacted.make) }), layerUuidV7)
    ),
    Layer.orDie
  )

const tokens = ["EAAG-token-one", "EAAG-token-two", "EAAG-token-three"]

for (const [name, database] of engines) {
  describe(`SecretRotation on ${name}`, () => {
    it.effect(
      "old key → previous key → re-seal → the new key alone opens every token",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const numbers = yield* Effect.gen(function* () {
            const tenancy = yield* Tenancy.Tenancy
            const business = yield* tenancy.createBusiness({ name: "Rotating" })
            return yield* Effect.forEach(tokens, (token, i) =>
              tenancy.addWhatsAppNumber({
                businessId: business.id,
                providerPhoneNumberId: `30000000000000${i}`,
                displayPhoneNumber: `1555000000${i}`,
                accessToken: Redacted.make(token)
              })
            )
          }).pipe(Effect.provide(withKeys(oldKey)))

          // The new key alone: the check counts every token as unreadable, the re-seal refuses and writes nothing.
          const before = yield* sql<{ access_token_sealed: string }>`SELECT access_token_sealed FROM whatsapp_numbers`
          yield* Effect.gen(function* () {
            const rotation = yield* SecretRotation.SecretRotation
            assert.deepStrictEqual(yield* rotation.check, { total: 3, current: 0, previous: 0, unreadable: 3 })
            const refused = yield* Effect.flip(rotation.reseal)
            assert.strictEqual(refused._tag, "AccessTokensUnreadable")
          }).pipe(Effect.provide(withKeys(newKey)))
          const unchanged = yield* sql<{
            access_token_sealed: string
          }>`SELECT access_token_sealed FROM whatsapp_numbers`
          assert.deepStrictEqual(unchanged, before)

          // The new key with the old one as previous: everything opens; the re-seal moves all three.
          yield* Effect.gen(function* () {
            const rotation = yield* SecretRotation.SecretRotation
            const directory = yield* WhatsAppNumberDirectory
            assert.deepStrictEqual(yield* rotation.check, { total: 3, current: 0, previous: 3, unreadable: 0 })
            const first = numbers[0]
            assert.isDefined(first)
            if (first === undefined) return
            const found = yield* directory.findById(first.businessId, first.id)
            assert.strictEqual(
              Option.map(found, (n) => Redacted.value(n.accessToken)).pipe(Option.getOrNull),
              tokens[0]
            )
            assert.deepStrictEqual(yield* rotation.reseal, { total: 3, resealed: 3, alreadyCurrent: 0 })
            assert.deepStrictEqual(yield* rotation.reseal, { total: 3, resealed: 0, alreadyCurrent: 3 })
            assert.deepStrictEqual(yield* rotation.check, { total: 3, current: 3, previous: 0, unreadable: 0 })
          }).pipe(Effect.provide(withKeys(newKey, [oldKey])))

          // The old key is retired: the new key alone opens every token, with the plaintext intact.
          yield* Effect.gen(function* () {
            const directory = yield* WhatsAppNumberDirectory
            for (const [i, number] of numbers.entries()) {
              const found = yield* directory.findById(number.businessId, number.id)
              assert.strictEqual(Option.getOrNull(Option.map(found, (n) => Redacted.value(n.accessToken))), tokens[i])
            }
          }).pipe(Effect.provide(withKeys(newKey)))

          // A token sealed under a key nobody configured stops the re-seal of the others too.
          yield* Effect.gen(function* () {
            const tenancy = yield* Tenancy.Tenancy
            const business = yield* tenancy.createBusiness({ name: "Stranger" })
            yield* tenancy.addWhatsAppNumber({
              businessId: business.id,
              providerPhoneNumberId: "300000000000009",
              displayPhoneNumber: "15550000009",
              accessToken: Redacted.make("EAAG-token-stranger")
            })
          }).pipe(Effect.provide(withKeys(otherKey)))
          yield* Effect.gen(function* () {
            const rotation = yield* SecretRotation.SecretRotation
            assert.deepStrictEqual(yield* rotation.check, { total: 4, current: 3, previous: 0, unreadable: 1 })
            const refused = yield* Effect.flip(rotation.reseal)
            assert.deepStrictEqual(
              refused._tag === "AccessTokensUnreadable" ? [refused.unreadable, refused.total] : [],
              [1, 4]
            )
          }).pipe(Effect.provide(withKeys(newKey, [oldKey])))
        }).pipe(Effect.provide(database())),
      60_000
    )
  })
}

describe("SecretRotation and a Twilio number", () => {
  it.effect(
    "the API key's secret is counted, re-sealed and opened like the auth token",
    () =>
      Effect.gen(function* () {
        const number = yield* Effect.gen(function* () {
          const tenancy = yield* Tenancy.Tenancy
          const business = yield* tenancy.createBusiness({ name: "Twilio rotating" })
          return yield* tenancy.addWhatsAppNumber({
            businessId: business.id,
            provider: "twilio",
            providerPhoneNumberId: "+15550001111",
            displayPhoneNumber: "15550001111",
            accessToken: Redacted.make("twilio-auth-token"),
            providerAccountId: `AC${"a".repeat(32)}`,
            providerApiKey: { sid: `SK${"b".repeat(32)}`, secret: Redacted.make("twilio-api-key-secret") }
          })
        }).pipe(Effect.provide(withKeys(oldKey)))

        yield* Effect.gen(function* () {
          const rotation = yield* SecretRotation.SecretRotation
          // Two sealed values on one row: the auth token and the API key's secret.
          assert.deepStrictEqual(yield* rotation.check, { total: 2, current: 0, previous: 2, unreadable: 0 })
          assert.deepStrictEqual(yield* rotation.reseal, { total: 2, resealed: 2, alreadyCurrent: 0 })
        }).pipe(Effect.provide(withKeys(newKey, [oldKey])))

        yield* Effect.gen(function* () {
          const directory = yield* WhatsAppNumberDirectory
          const found = Option.getOrThrow(yield* directory.findByProviderId("+15550001111", "twilio"))
          assert.strictEqual(found.id, number.id)
          assert.strictEqual(Redacted.value(found.accessToken), "twilio-auth-token")
          assert.strictEqual(
            found.providerApiKey && Redacted.value(found.providerApiKey.secret),
            "twilio-api-key-secret"
          )
          assert.strictEqual(found.providerAccountId, `AC${"a".repeat(32)}`)
        }).pipe(Effect.provide(withKeys(newKey)))
      }).pipe(Effect.provide(TestDatabase.pglite)),
    60_000
  )
})
