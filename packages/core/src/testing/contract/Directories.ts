/**
 * The storage contract for what a business has set up: its templates (`TemplateCatalog`), its WhatsApp numbers
 * with their credentials (`WhatsAppNumberDirectory`, also routing webhooks by provider id) and its users
 * (`UserDirectory`), each scoped by business.
 */
import { assert, type Vitest } from "@effect/vitest"
import { Effect, Option, Redacted } from "effect"
import { type Ids, nextTemplateId, nextUserId, nextWhatsAppNumberId } from "../../Ids.js"
import { TemplateCatalog } from "../../TemplateCatalog.js"
import { UserDirectory } from "../../UserDirectory.js"
import { WhatsAppNumber } from "../../WhatsAppNumber.js"
import { WhatsAppNumberDirectory } from "../../WhatsAppNumberDirectory.js"
import { StorageSeeder } from "../StorageSeeder.js"
import * as TestData from "../TestData.js"

export type DirectoriesPorts = TemplateCatalog | WhatsAppNumberDirectory | UserDirectory | StorageSeeder | Ids

type It = Vitest.MethodsNonLive<DirectoriesPorts, true>

/** Registers these cases on the contract's `it` (storage ports, seeder and ids provided). */
export const directoriesContract = (it: It): void => {
  it.effect("TemplateCatalog upserts by key, keeps the id, and is scoped by business", () =>
    Effect.gen(function* () {
      const catalog = yield* TemplateCatalog
      const a = yield* TestData.seedTenant("A")
      const b = yield* TestData.seedTenant("B")
      const id = yield* nextTemplateId
      const original = TestData.template({ id, businessId: a.businessId })
      assert.deepStrictEqual(yield* catalog.upsert(original), original)
      const replacement = TestData.template({
        id: yield* nextTemplateId,
        businessId: a.businessId,
        status: "PAUSED",
        components: [
          { type: "HEADER", format: "TEXT", text: "Order {{order_id}}" },
          { type: "BODY", text: "Hi {{name}}" },
          { type: "FOOTER", text: "Acme" },
          { type: "BUTTONS", buttons: [{ type: "URL", text: "Track", url: "https://acme.test/t/{{1}}" }] }
        ]
      })
      const stored = yield* catalog.upsert(replacement)
      assert.strictEqual(stored.id, id)
      assert.deepStrictEqual(Option.getOrThrow(yield* catalog.findByKey(a.businessId, "order_shipped")), stored)
      assert.strictEqual(stored.status, "PAUSED")
      assert.isTrue(Option.isNone(yield* catalog.findByKey(b.businessId, "order_shipped")))
      yield* catalog.upsert(TestData.template({ id: yield* nextTemplateId, businessId: a.businessId, key: "a_first" }))
      assert.deepStrictEqual(
        (yield* catalog.list(a.businessId)).map((t) => t.key),
        ["a_first", "order_shipped"]
      )
      assert.deepStrictEqual(yield* catalog.list(b.businessId), [])
    })
  )

  it.effect("WhatsAppNumberDirectory is scoped by business and routes by provider id", () =>
    Effect.gen(function* () {
      const numbers = yield* WhatsAppNumberDirectory
      const a = yield* TestData.seedTenant("A")
      const b = yield* TestData.seedTenant("B")
      const found = Option.getOrThrow(yield* numbers.findById(a.businessId, a.number.id))
      assert.strictEqual(found.providerPhoneNumberId, a.number.providerPhoneNumberId)
      assert.strictEqual(Redacted.value(found.accessToken), Redacted.value(a.number.accessToken))
      assert.isTrue(Option.isNone(yield* numbers.findById(b.businessId, a.number.id)))
      const routed = Option.getOrThrow(yield* numbers.findByProviderId(b.number.providerPhoneNumberId))
      assert.strictEqual(routed.businessId, b.businessId)
      assert.isTrue(Option.isNone(yield* numbers.findByProviderId("999999999999999")))
    })
  )

  it.effect("WhatsAppNumberDirectory keeps a Twilio number's credentials and routes it within its provider", () =>
    Effect.gen(function* () {
      const numbers = yield* WhatsAppNumberDirectory
      const seeder = yield* StorageSeeder
      const a = yield* TestData.seedTenant("A")
      const id = yield* nextWhatsAppNumberId
      // A sender E.164 unique to this run: tests may share one database.
      const e164 = `+1555${BigInt(`0x${id.replace(/-/g, "")}`)
        .toString()
        .slice(-8)}`
      const twilio = new WhatsAppNumber({
        id,
        businessId: a.businessId,
        provider: "twilio",
        providerPhoneNumberId: e164,
        displayPhoneNumber: e164.slice(1),
        wabaId: null,
        accessToken: Redacted.make("auth-token"),
        providerAccountId: `AC${"0".repeat(32)}`,
        providerApiKey: { sid: `SK${"1".repeat(32)}`, secret: Redacted.make("api-key-secret") }
      })
      yield* seeder.whatsappNumber(twilio)
      const found = Option.getOrThrow(yield* numbers.findByProviderId(e164, "twilio"))
      assert.strictEqual(found.id, id)
      assert.strictEqual(found.provider, "twilio")
      assert.strictEqual(found.providerAccountId, `AC${"0".repeat(32)}`)
      assert.strictEqual(found.providerApiKey?.sid, `SK${"1".repeat(32)}`)
      assert.strictEqual(found.providerApiKey && Redacted.value(found.providerApiKey.secret), "api-key-secret")
      assert.strictEqual(Redacted.value(found.accessToken), "auth-token")
      // Ids are unique per provider only: the same id under the other provider is another number.
      assert.isTrue(Option.isNone(yield* numbers.findByProviderId(e164)))
      assert.isTrue(Option.isNone(yield* numbers.findByProviderId(a.number.providerPhoneNumberId, "twilio")))
      const cloud = Option.getOrThrow(yield* numbers.findById(a.businessId, a.number.id))
      assert.strictEqual(cloud.provider, "whatsapp_cloud")
      assert.isNull(cloud.providerApiKey)
    })
  )

  it.effect("UserDirectory knows only the business's own users", () =>
    Effect.gen(function* () {
      const users = yield* UserDirectory
      const a = yield* TestData.seedTenant("A")
      const b = yield* TestData.seedTenant("B")
      assert.isTrue(yield* users.exists(a.businessId, a.userId))
      assert.isFalse(yield* users.exists(b.businessId, a.userId))
      assert.isFalse(yield* users.exists(a.businessId, yield* nextUserId))
    })
  )
}
