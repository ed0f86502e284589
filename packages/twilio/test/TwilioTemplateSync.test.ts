/**
 * Template sync from the fake's Content API into the core's memory catalog, and the content → template mapping.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, expect, it, layer } from "@effect/vitest"
import { BusinessId, bind, layerSequential, TemplateCatalog, variablesOf, WhatsAppNumber } from "@parley/core"
import { MemoryStorage } from "@parley/core/testing"
import { Effect, Either, Layer, Option } from "effect"
import * as TwilioGateway from "../src/TwilioGateway.js"
import * as TwilioTemplateSync from "../src/TwilioTemplateSync.js"
import { FakeTwilioApi, layer as fakeLayer } from "../src/testing/FakeTwilioApi.js"
import { fakeOptions, number, testOptions } from "./support/harness.js"

const sid = (n: number) => `HX${n.toString(16).padStart(32, "0")}`

const contents = [
  {
    sid: sid(1),
    friendly_name: "order_update",
    language: "en",
    variables: { "1": "Ana", "2": "A-1" },
    types: { "twilio/text": { body: "Hi {{1}}, order {{2}} is ready." } }
  },
  {
    sid: sid(2),
    friendly_name: "order_update",
    language: "pt_BR",
    variables: {},
    types: {
      "twilio/quick-reply": {
        body: "Olá {{customer_name}}!",
        actions: [{ title: "Sim", id: "yes" }]
      },
      "twilio/text": { body: "Olá {{customer_name}}!" }
    }
  },
  {
    sid: sid(3),
    friendly_name: "summer_sale",
    language: "en",
    variables: {},
    types: { "twilio/card": { title: "Sale", body: "{{1}}" } }
  },
  {
    sid: sid(4),
    friendly_name: "tracking",
    language: "en",
    variables: {},
    types: {
      "twilio/call-to-action": {
        body: "Track it",
        actions: [{ type: "URL", title: "Track", url: "https://example.com/t/{{1}}" }]
      }
    }
  },
  {
    sid: sid(5),
    friendly_name: "draft",
    language: "en",
    variables: {},
    types: { "twilio/text": { body: "Not submitted" } }
  }
]

const approvals = {
  [sid(1)]: { name: "order_update", category: "UTILITY", status: "approved", rejection_reason: "" },
  [sid(2)]: { name: "order_update_pt", category: "UTILITY", status: "pending", rejection_reason: "" },
  [sid(3)]: { name: "summer_sale", category: "MARKETING", status: "approved", rejection_reason: "" },
  [sid(4)]: { name: "tracking", category: "UTILITY", status: "approved", rejection_reason: "" }
}

const business = BusinessId.make("00000000-0000-4000-8000-00000000c001")

const TestLayer = Layer.unwrapEffect(
  Effect.map(FakeTwilioApi, (fake) =>
    TwilioTemplateSync.layer({ ...testOptions, contentBaseUrl: fake.url, pageSize: 2 }).pipe(
      Layer.provide(NodeHttpClient.layer)
    )
  )
).pipe(
  Layer.provideMerge(
    Layer.mergeAll(fakeLayer({ ...fakeOptions, contents, approvals }), MemoryStorage.layer, layerSequential)
  )
)

layer(TestLayer, { excludeTestServices: true, timeout: "30 seconds" })("TwilioTemplateSync", (it) => {
  it.effect("pages through the Content API with the account's credentials and upserts what Parley can send", () =>
    Effect.gen(function* () {
      const fake = yield* FakeTwilioApi
      const sync = yield* TwilioTemplateSync.TwilioTemplateSync
      const catalog = yield* TemplateCatalog
      const result = yield* sync.sync(new WhatsAppNumber({ ...number, businessId: business }))
      assert.strictEqual(result.pages, 3)
      const requests = yield* fake.requests
      assert.deepStrictEqual(
        requests.filter((r) => r.operation === "content").map((r) => r.path),
        ["/v1/Content", "/v1/Content", "/v1/Content"]
      )
      assert.isTrue(requests.every((r) => r.username === number.providerAccountId))
      assert.deepStrictEqual(
        result.skipped.map((s) => [s.name, s.reason]),
        [
          ["summer_sale", "content type twilio/card cannot be mapped onto a Parley template"],
          ["tracking", "a button URL has a variable, which Twilio's flat variable map cannot take from Parley"],
          ["draft", "not submitted for WhatsApp approval"]
        ]
      )
      const stored = yield* catalog.list(business)
      assert.deepStrictEqual(
        stored.map((t) => [t.key, t.name, t.language, t.status, t.category, t.parameterFormat]),
        [
          ["order_update", sid(1), "en", "APPROVED", "UTILITY", "POSITIONAL"],
          ["order_update:pt_BR", sid(2), "pt_BR", "PENDING", "UTILITY", "NAMED"]
        ]
      )
      // A synced template binds into exactly the ContentVariables the gateway sends.
      const positional = stored[0]
      assert.isDefined(positional)
      if (positional === undefined) return
      assert.deepStrictEqual(variablesOf(positional), ["1", "2"])
      const bound = bind(positional, { "1": "Ada", "2": "A-1001" })
      assert.isTrue(Either.isRight(bound))
      if (Either.isRight(bound)) {
        const mapped = TwilioGateway.contentVariables(bound.right)
        assert.deepStrictEqual(Either.getOrUndefined(mapped), {
          contentSid: sid(1),
          variables: { "1": "Ada", "2": "A-1001" }
        })
      }
      // A second sync keeps keys and ids.
      const again = yield* sync.sync(new WhatsAppNumber({ ...number, businessId: business }))
      assert.deepStrictEqual(
        again.upserted.map((t) => [t.key, t.id]),
        stored.map((t) => [t.key, t.id])
      )
    })
  )
})

describe("parameterFormatOf", () => {
  it("accepts 1, 2, 3… in order, or lower-case names; refuses the rest", () => {
    expect(TwilioTemplateSync.parameterFormatOf("Hi {{1}}, {{2}}")).toEqual(Either.right("POSITIONAL"))
    expect(TwilioTemplateSync.parameterFormatOf("Hi {{name}}")).toEqual(Either.right("NAMED"))
    expect(TwilioTemplateSync.parameterFormatOf("no variables")).toEqual(Either.right("POSITIONAL"))
    expect(Either.isLeft(TwilioTemplateSync.parameterFormatOf("{{2}} then {{1}}"))).toBe(true)
    expect(Either.isLeft(TwilioTemplateSync.parameterFormatOf("{{1}} and {{name}}"))).toBe(true)
    expect(Either.isLeft(TwilioTemplateSync.parameterFormatOf("{{firstName}}"))).toBe(true)
  })

  it("skips an unknown approval status and an unknown category", () => {
    const content = { sid: sid(9), friendly_name: "x", language: "en", types: { "twilio/text": { body: "Hi" } } }
    const status = TwilioTemplateSync.fromContent(content, Option.some({ status: "unsubmitted", category: "UTILITY" }))
    expect(status).toEqual(Either.left('WhatsApp approval status "unsubmitted" is not mapped'))
    const category = TwilioTemplateSync.fromContent(content, Option.some({ status: "approved", category: "SERVICE" }))
    expect(category).toEqual(Either.left('unknown category "SERVICE"'))
  })
})
