/**
 * Reading a number's throughput tier from the fake Cloud API (`GET /{version}/{phone-number-id}?fields=throughput`).
 */
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it, layer } from "@effect/vitest"
import { WhatsAppNumber } from "@parley/core"
import { Effect, Layer, Option, Redacted } from "effect"
import * as NumberThroughput from "../src/NumberThroughput.js"
import { FakeCloudApi, layer as fakeLayer } from "../src/testing/FakeCloudApi.js"
import { accessToken, number, testOptions } from "./support/harness.js"

const Deps = Layer.unwrapEffect(
  Effect.map(FakeCloudApi, (fake) =>
    NumberThroughput.layer({ ...testOptions, baseUrl: fake.url }).pipe(Layer.provide(NodeHttpClient.layer))
  )
).pipe(Layer.provideMerge(fakeLayer({ accessTokens: [accessToken] })))

describe("NumberThroughput", () => {
  layer(Deps)((it) => {
    it.effect("each level Meta reports is the number's messages per second; NOT_APPLICABLE is none", () =>
      Effect.gen(function* () {
        const fake = yield* FakeCloudApi
        const throughput = yield* NumberThroughput.NumberThroughput
        yield* fake.reset
        assert.deepStrictEqual(yield* throughput.read(number), Option.some(80))
        yield* fake.setThroughput(number.providerPhoneNumberId, "HIGH")
        assert.deepStrictEqual(yield* throughput.read(number), Option.some(1000))
        yield* fake.setThroughput(number.providerPhoneNumberId, "NOT_APPLICABLE")
        assert.deepStrictEqual(yield* throughput.read(number), Option.none())
        const requests = (yield* fake.requests).filter((r) => r.operation === "number")
        assert.strictEqual(requests.length, 3)
        assert.strictEqual(requests[0]?.path, `/v24.0/${number.providerPhoneNumberId}`)
        assert.strictEqual(requests[0]?.query.fields, "throughput")
        assert.strictEqual(requests[0]?.headers.authorization, `Bearer ${accessToken}`)
      })
    )

    it.effect("a token Meta refuses is the provider's error, not a tier", () =>
      Effect.gen(function* () {
        const throughput = yield* NumberThroughput.NumberThroughput
        const stranger = new WhatsAppNumber({ ...number, accessToken: Redacted.make("not-a-token") })
        const error = yield* Effect.flip(throughput.read(stranger))
        assert.strictEqual(error._tag, "ProviderMisconfigured")
      })
    )
  })

  describe("fromResponse", () => {
    const { fromResponse } = NumberThroughput
    it("maps the levels and leaves unknown ones alone", () => {
      assert.deepStrictEqual(fromResponse({ throughput: { level: "STANDARD" } }), Option.some(80))
      assert.deepStrictEqual(fromResponse({ throughput: { level: "HIGH" } }), Option.some(1000))
      assert.deepStrictEqual(fromResponse({ throughput: { level: "NOT_APPLICABLE" } }), Option.none())
      assert.deepStrictEqual(fromResponse({ throughput: { level: "ULTRA" } }), Option.none())
      assert.deepStrictEqual(fromResponse({}), Option.none())
    })
  })
})
