/**
 * API keys and tenancy administration, on one in-memory PGlite for the file.
 */

import { createHash } from "node:crypto"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, layer } from "@effect/vitest"
import { layerUuidV7, nextBusinessId, nextUserId, WhatsAppNumberDirectory } from "@parley/core"
import { Effect, Layer, Option, Redacted, Schema } from "effect"
import * as ApiKeys from "../src/ApiKeys.js"
import * as Secrets from "../src/Secrets.js"
import * as Storage from "../src/Storage.js"
import * as Tenancy from "../src/Tenancy.js"
import { TestDatabase } from "../src/testing/index.js"

const database = Layer.merge(TestDatabase.pglite, TestDatabase.secrets)
const stack = Layer.mergeAll(ApiKeys.layer, Tenancy.layer).pipe(
  Layer.provideMerge(Storage.layer),
  Layer.provideMerge(Layer.merge(database, layerUuidV7))
)

const Raw = Schema.Struct({ short_id: Schema.String, secret_sha256: Schema.Uint8ArrayFromSelf })

layer(stack, { excludeTestServices: true })("Administration", (it) => {
  const tenant = Effect.gen(function* () {
    const tenancy = yield* Tenancy.Tenancy
    const business = yield* tenancy.createBusiness({ name: "Acme" })
    const user = yield* tenancy.createUser({ businessId: business.id, name: "Grace" })
    return { business, user }
  })

  describe("ApiKeys", () => {
    it.effect("creates parley_<short id>_<secret> once and stores only the short id and the secret's hash", () =>
      Effect.gen(function* () {
        const keys = yield* ApiKeys.ApiKeys
        const sql = yield* SqlClient.SqlClient
        const { business, user } = yield* tenant
        const created = yield* keys.create({
          businessId: business.id,
          userId: user.id,
          name: "inbox bot",
          scopes: ["messaging:conversations:read", "messaging:messages:send"]
        })
        const key = Redacted.value(created.key)
        const parts = ApiKeys.parse(key)
        assert.isDefined(parts)
        assert.strictEqual(key.length, "parley_".length + 12 + 1 + 43)
        assert.strictEqual(parts?.shortId, created.apiKey.shortId)
        const rows = yield* sql`SELECT * FROM api_keys WHERE business_id = ${business.id}`
        const raw = Schema.decodeUnknownSync(Raw)(rows[0])
        const expected = createHash("sha256")
          .update(parts?.secret ?? "")
          .digest()
        assert.isTrue(Buffer.from(raw.secret_sha256).equals(expected))
        assert.notInclude(JSON.stringify(rows), parts?.secret ?? "")
        assert.notInclude(JSON.stringify(rows), key)
        assert.notInclude(String(created.key), parts?.secret ?? "")
      })
    )

    it.effect("authenticates a valid key with its business, user and scopes, and records its use", () =>
      Effect.gen(function* () {
        const keys = yield* ApiKeys.ApiKeys
        const { business, user } = yield* tenant
        const created = yield* keys.create({
          businessId: business.id,
          userId: user.id,
          name: "agent",
          scopes: ["messaging:conversations:read"]
        })
        assert.isNull(created.apiKey.lastUsedAt)
        const authenticated = yield* keys.authenticate(created.key)
        assert.strictEqual(authenticated.id, created.apiKey.id)
        assert.strictEqual(authenticated.businessId, business.id)
        assert.deepStrictEqual(authenticated.scopes, ["messaging:conversations:read"])
        const actor = ApiKeys.toActor(authenticated)
        assert.deepStrictEqual(Option.getOrNull(actor.userId), user.id)
        const listed = yield* keys.list(business.id)
        assert.isNotNull(listed[0]?.lastUsedAt ?? null)
      })
    )

    it.effect("rejects a wrong secret, an unknown short id and a malformed key", () =>
      Effect.gen(function* () {
        const keys = yield* ApiKeys.ApiKeys
        const { business } = yield* tenant
        const created = yield* keys.create({ businessId: business.id, name: "k", scopes: [] })
        const key = Redacted.value(created.key)
        const lastChar = key.at(-1) === "a" ? "b" : "a"
        const reason = (presented: string) =>
          Effect.map(Effect.flip(keys.authenticate(Redacted.make(presented))), (e) =>
            e._tag === "ApiKeyRejected" ? e.reason : e._tag
          )
        assert.strictEqual(yield* reason(key.slice(0, -1) + lastChar), "wrong_secret")
        assert.strictEqual(yield* reason(`parley_${"Z".repeat(12)}_${key.slice(-43)}`), "unknown")
        assert.strictEqual(yield* reason("parley_short_secret"), "malformed")
        assert.strictEqual(yield* reason(""), "malformed")
      })
    )

    it.effect("a revoked key is rejected at once; revoking is scoped by business", () =>
      Effect.gen(function* () {
        const keys = yield* ApiKeys.ApiKeys
        const { business } = yield* tenant
        const other = yield* tenant
        const created = yield* keys.create({ businessId: business.id, name: "k", scopes: [] })
        const notFound = yield* Effect.flip(keys.revoke(other.business.id, created.apiKey.id))
        assert.strictEqual(notFound._tag, "ApiKeyNotFound")
        yield* keys.authenticate(created.key)
        yield* keys.revoke(business.id, created.apiKey.id)
        yield* keys.revoke(business.id, created.apiKey.id)
        const rejected = yield* Effect.flip(keys.authenticate(created.key))
        assert.strictEqual(rejected._tag === "ApiKeyRejected" ? rejected.reason : rejected._tag, "revoked")
      })
    )

    it.effect("a key for an unknown business or user is refused with a typed error", () =>
      Effect.gen(function* () {
        const keys = yield* ApiKeys.ApiKeys
        const { business } = yield* tenant
        const error = yield* Effect.flip(
          keys.create({ businessId: business.id, userId: yield* nextUserId, name: "k", scopes: [] })
        )
        assert.strictEqual(error._tag, "ApiKeyOwnerNotFound")
      })
    )
  })

  describe("Tenancy", () => {
    it.effect("stores a number's access token encrypted and routes webhooks to it", () =>
      Effect.gen(function* () {
        const tenancy = yield* Tenancy.Tenancy
        const directory = yield* WhatsAppNumberDirectory
        const sql = yield* SqlClient.SqlClient
        const { business } = yield* tenant
        const token = `EAAG-${crypto.randomUUID()}`
        const providerPhoneNumberId = `${Date.now()}1`
        const number = yield* tenancy.addWhatsAppNumber({
          businessId: business.id,
          providerPhoneNumberId,
          displayPhoneNumber: "15550002222",
          accessToken: Redacted.make(token)
        })
        const rows = yield* sql`SELECT * FROM whatsapp_numbers WHERE business_id = ${business.id}`
        assert.notInclude(JSON.stringify(rows), token)
        const routed = Option.getOrThrow(yield* directory.findByProviderId(providerPhoneNumberId))
        assert.strictEqual(routed.id, number.id)
        assert.strictEqual(Redacted.value(routed.accessToken), token)
        assert.deepStrictEqual(
          (yield* tenancy.listWhatsAppNumbers(business.id)).map((n) => n.id),
          [number.id]
        )
        // Read once (the send path caches it), then changed here: this process sees the change at once.
        const found = Option.getOrThrow(yield* directory.findById(business.id, number.id))
        assert.strictEqual(Redacted.value(found.accessToken), token)
        yield* tenancy.replaceAccessToken(business.id, number.id, Redacted.make("rotated"))
        const reread = Option.getOrThrow(yield* directory.findById(business.id, number.id))
        assert.strictEqual(Redacted.value(reread.accessToken), "rotated")
        yield* tenancy.setMessagesPerSecond(business.id, number.id, 250)
        assert.strictEqual(Option.getOrThrow(yield* directory.findById(business.id, number.id)).messagesPerSecond, 250)
      })
    )

    it.effect("one phone_number_id belongs to one business; unknown businesses are typed errors", () =>
      Effect.gen(function* () {
        const tenancy = yield* Tenancy.Tenancy
        const a = yield* tenant
        const b = yield* tenant
        const providerPhoneNumberId = `${Date.now()}2`
        const input = { providerPhoneNumberId, displayPhoneNumber: "1555", accessToken: Redacted.make("t") }
        yield* tenancy.addWhatsAppNumber({ businessId: a.business.id, ...input })
        const taken = yield* Effect.flip(tenancy.addWhatsAppNumber({ businessId: b.business.id, ...input }))
        assert.strictEqual(taken._tag, "WhatsAppNumberTaken")
        const missing = yield* Effect.flip(tenancy.createUser({ businessId: yield* nextBusinessId, name: "x" }))
        assert.strictEqual(missing._tag, "BusinessNotFound")
      })
    )

    it.effect("upserts templates through the catalog, keeping the id of an existing key", () =>
      Effect.gen(function* () {
        const tenancy = yield* Tenancy.Tenancy
        const { business } = yield* tenant
        const input = {
          businessId: business.id,
          key: "order_shipped",
          name: "order_shipped",
          language: "en_US",
          category: "UTILITY" as const,
          status: "APPROVED" as const,
          parameterFormat: "NAMED" as const,
          components: [{ type: "BODY" as const, text: "Order {{order_id}} is on its way." }]
        }
        const first = yield* tenancy.upsertTemplate(input)
        const second = yield* tenancy.upsertTemplate({ ...input, status: "PAUSED" })
        assert.strictEqual(second.id, first.id)
        assert.strictEqual(second.status, "PAUSED")
      })
    )

    it.effect("a token sealed under another key is a StorageError, not a crash", () =>
      Effect.gen(function* () {
        const tenancy = yield* Tenancy.Tenancy
        const { business } = yield* tenant
        const number = yield* tenancy.addWhatsAppNumber({
          businessId: business.id,
          providerPhoneNumberId: `${Date.now()}3`,
          displayPhoneNumber: "1555",
          accessToken: Redacted.make("t")
        })
        const otherKey = yield* Effect.provide(
          WhatsAppNumberDirectory,
          Storage.layer.pipe(
            Layer.provide(Secrets.layer(Redacted.make(Secrets.generateKey()))),
            Layer.provide(Layer.succeed(SqlClient.SqlClient, yield* SqlClient.SqlClient))
          )
        ).pipe(Effect.orDie)
        const error = yield* Effect.flip(otherKey.findById(business.id, number.id))
        assert.strictEqual(error._tag, "StorageError")
        assert.include(error.reason, "access token")
      })
    )
  })
})
