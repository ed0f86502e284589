/**
 * Template sync against the fake's paged `message_templates`, into the core's memory catalog.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { BusinessId, layerSequential, TemplateCatalog, variablesOf, WhatsAppNumber } from "@parley/core"
import { MemoryStorage, TestData } from "@parley/core/testing"
import { Effect, Layer } from "effect"
import * as TemplateSync from "../src/TemplateSync.js"
import { FakeCloudApi, layer as fakeLayer } from "../src/testing/FakeCloudApi.js"
import { accessToken, number, testOptions } from "./support/harness.js"

const reservation = {
  id: "1387372356726668",
  name: "reservation_confirmation",
  language: "en_US",
  status: "APPROVED",
  category: "UTILITY",
  sub_category: "CUSTOM",
  parameter_format: "NAMED",
  components: [
    { type: "HEADER", format: "IMAGE", example: { header_handle: ["https://example.com/h.jpg"] } },
    {
      type: "BODY",
      text: "Your reservation for {{number_of_guests}} on {{day}} is confirmed.",
      example: { body_text_named_params: [{ param_name: "number_of_guests", example: "4" }] }
    },
    { type: "FOOTER", text: "Lucky Shrub Eatery" },
    {
      type: "BUTTONS",
      buttons: [
        { type: "URL", text: "Change reservation", url: "https://example.com/r/{{1}}" },
        { type: "PHONE_NUMBER", text: "Call us", phone_number: "+16467043595" },
        { type: "QUICK_REPLY", text: "Cancel reservation" }
      ]
    }
  ]
}

const shipped = (language: string, status = "APPROVED") => ({
  id: `20000000000${language === "en_US" ? 1 : 2}`,
  name: "order_shipped",
  language,
  status,
  category: "UTILITY",
  components: [
    { type: "HEADER", format: "TEXT", text: "Order {{1}}" },
    { type: "BODY", text: "Hi {{1}}, order {{2}} ships {{3}}." }
  ]
})

const gif = {
  id: "3",
  name: "holiday_gif",
  language: "en_US",
  status: "APPROVED",
  category: "MARKETING",
  components: [
    { type: "HEADER", format: "GIF" },
    { type: "BODY", text: "Happy holidays" }
  ]
}

const future = {
  id: "4",
  name: "agent_reply",
  language: "en_US",
  status: "APPROVED",
  category: "META_BUSINESS_AGENT",
  components: []
}

const templates = [reservation, shipped("en_US"), gif, shipped("pt_BR"), future]

const business = (n: number) => BusinessId.make(`00000000-0000-4000-8000-00000000b${n.toString().padStart(3, "0")}`)
const numberOf = (n: number, wabaId: string | null = "100000000000001") =>
  new WhatsAppNumber({ ...number, businessId: business(n), wabaId })

const TestLayer = Layer.unwrapEffect(
  Effect.map(FakeCloudApi, (fake) =>
    TemplateSync.layer({ ...testOptions, baseUrl: fake.url, pageSize: 2 }).pipe(Layer.provide(NodeHttpClient.layer))
  )
).pipe(
  Layer.provideMerge(
    Layer.mergeAll(fakeLayer({ accessTokens: [accessToken], templates }), MemoryStorage.layer, layerSequential)
  )
)

const fresh = Effect.flatMap(FakeCloudApi, (fake) =>
  Effect.as(Effect.zipRight(fake.reset, fake.setTemplates(templates)), fake)
)

layer(TestLayer, { excludeTestServices: true })("TemplateSync", (it) => {
  it.effect("pages through message_templates with the number's token and upserts what Parley can represent", () =>
    Effect.gen(function* () {
      const fake = yield* fresh
      const sync = yield* TemplateSync.TemplateSync
      const catalog = yield* TemplateCatalog
      const result = yield* sync.sync(numberOf(1))
      assert.strictEqual(result.pages, 3)
      const requests = yield* fake.requests
      assert.deepStrictEqual(
        requests.map((r) => [r.path, r.query.limit, r.query.after === undefined]),
        [
          ["/v24.0/100000000000001/message_templates", "2", true],
          ["/v24.0/100000000000001/message_templates", "2", false],
          ["/v24.0/100000000000001/message_templates", "2", false]
        ]
      )
      assert.isTrue(requests.every((r) => r.headers.authorization === `Bearer ${accessToken}`))
      assert.match(requests[0]?.query.fields ?? "", /parameter_format/)
      assert.deepStrictEqual(
        result.skipped.map((s) => [s.name, s.reason]),
        [
          ["holiday_gif", "unsupported component HEADER GIF"],
          ["agent_reply", "unknown category META_BUSINESS_AGENT"]
        ]
      )
      const stored = yield* catalog.list(business(1))
      assert.deepStrictEqual(
        stored.map((t) => [t.key, t.name, t.language, t.status, t.category, t.parameterFormat]),
        [
          ["order_shipped", "order_shipped", "en_US", "APPROVED", "UTILITY", "POSITIONAL"],
          ["order_shipped:pt_BR", "order_shipped", "pt_BR", "APPROVED", "UTILITY", "POSITIONAL"],
          ["reservation_confirmation", "reservation_confirmation", "en_US", "APPROVED", "UTILITY", "NAMED"]
        ]
      )
      const confirmation = stored[2]
      assert.deepStrictEqual(confirmation ? variablesOf(confirmation) : [], [
        "header.image",
        "number_of_guests",
        "day",
        "button.0"
      ])
      assert.deepStrictEqual(stored[0] ? variablesOf(stored[0]) : [], ["header.1", "1", "2", "3"])
      assert.deepStrictEqual(confirmation?.components[3], {
        type: "BUTTONS",
        buttons: [
          { type: "URL", text: "Change reservation", url: "https://example.com/r/{{1}}" },
          { type: "PHONE_NUMBER", text: "Call us", phone_number: "+16467043595" },
          { type: "QUICK_REPLY", text: "Cancel reservation" }
        ]
      })
    })
  )

  it.effect("keeps the key and id of a template already in the catalog, and follows status changes", () =>
    Effect.gen(function* () {
      const fake = yield* fresh
      const sync = yield* TemplateSync.TemplateSync
      const catalog = yield* TemplateCatalog
      const existing = yield* catalog.upsert(
        TestData.template({ businessId: business(2), key: "shipping", name: "order_shipped", language: "en_US" })
      )
      yield* sync.sync(numberOf(2))
      yield* fake.setTemplates([reservation, shipped("en_US", "PAUSED"), shipped("pt_BR")])
      yield* sync.sync(numberOf(2))
      const stored = yield* catalog.list(business(2))
      assert.deepStrictEqual(
        stored.map((t) => [t.key, t.language, t.status]),
        [
          ["order_shipped", "pt_BR", "APPROVED"],
          ["reservation_confirmation", "en_US", "APPROVED"],
          ["shipping", "en_US", "PAUSED"]
        ]
      )
      assert.strictEqual(stored[2]?.id, existing.id)
      assert.strictEqual(stored[2]?.parameterFormat, "POSITIONAL")
    })
  )

  it.effect("a second sync changes no key and no id", () =>
    Effect.gen(function* () {
      yield* fresh
      const sync = yield* TemplateSync.TemplateSync
      const catalog = yield* TemplateCatalog
      yield* sync.sync(numberOf(3))
      const first = yield* catalog.list(business(3))
      yield* sync.sync(numberOf(3))
      assert.deepStrictEqual(yield* catalog.list(business(3)), first)
    })
  )

  it.effect("chooses name, then name:language, then a numbered key", () =>
    Effect.sync(() => {
      assert.strictEqual(TemplateSync.chooseKey("a", "en", new Set()), "a")
      assert.strictEqual(TemplateSync.chooseKey("a", "en", new Set(["a"])), "a:en")
      assert.strictEqual(TemplateSync.chooseKey("a", "en", new Set(["a", "a:en"])), "a:en:2")
    })
  )

  it.effect("retries a transient failure on a later page", () =>
    Effect.gen(function* () {
      const fake = yield* fresh
      const sync = yield* TemplateSync.TemplateSync
      yield* fake.fail({
        fault: { kind: "graph-error", code: 131000 },
        match: { operation: "templates", path: "message_templates" }
      })
      const result = yield* sync.sync(numberOf(4))
      assert.strictEqual(result.upserted.length, 3)
      assert.strictEqual((yield* fake.requests).length, 4)
    })
  )

  it.effect("fails with the typed error of a bad token, and without a WABA id", () =>
    Effect.gen(function* () {
      const fake = yield* fresh
      const sync = yield* TemplateSync.TemplateSync
      yield* fake.fail({
        fault: { kind: "graph-error", code: 190 },
        match: { operation: "templates" },
        times: "always"
      })
      const misconfigured = yield* Effect.flip(sync.sync(numberOf(5)))
      assert.strictEqual(misconfigured._tag, "ProviderMisconfigured")
      const noWaba = yield* Effect.flip(sync.sync(numberOf(5, null)))
      assert.strictEqual(noWaba._tag, "TemplateSyncUnavailable")
    })
  )
})
