/**
 * The gateway against the fake Cloud API on loopback: every send shape as Meta receives it, every mapped error,
 * and the retry policy counted on the fake (transient: retried within budget; permanent and ambiguous: exactly one
 * request).
 */
import { NodeHttpClient } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import {
  type BoundTemplate,
  type BusinessScopedUserId,
  CustomerIdentity,
  E164,
  type GatewayError,
  MessageId,
  MessagingGateway,
  WhatsAppNumber
} from "@parley/core"
import { Duration, Effect, Either, Fiber, Option, Redacted } from "effect"
import * as CloudApiGateway from "../src/CloudApiGateway.js"
import * as MessagePayload from "../src/MessagePayload.js"
import { FakeCloudApi, type Fault } from "../src/testing/FakeCloudApi.js"
import { accessToken, gatewayLayer, number, testOptions } from "./support/harness.js"
import { named, positional } from "./support/templates.js"

const customer = CustomerIdentity.byPhone(E164.make("+15550001111"))
const messageId = MessageId.make("0190f5a4-7c1e-7b2a-9d3e-1a2b3c4d5e6f")

const media: BoundTemplate = {
  name: "invoice_ready",
  language: "pt_BR",
  components: [
    { type: "header", parameters: [{ type: "document", link: "https://example.com/invoice.pdf" }] },
    { type: "body", parameters: [{ type: "text", text: "Ada" }] },
    { type: "button", subType: "copy_code", index: 1, parameters: [{ type: "coupon_code", couponCode: "25OFF" }] }
  ],
  renderedText: "Olá Ada"
}

/** A gateway on the fake with other options (timeouts, budgets) than the shared one. */
const gatewayWith = (options: CloudApiGateway.Options) =>
  Effect.flatMap(FakeCloudApi, (fake) =>
    CloudApiGateway.make({ ...testOptions, ...options, baseUrl: fake.url }).pipe(Effect.provide(NodeHttpClient.layer))
  )

const sendText = (text = "Hi! Your order #A-1001 is being prepared.") =>
  Effect.flatMap(MessagingGateway, (gateway) => gateway.sendText({ from: number, to: customer, messageId, text }))

const sendTemplate = (template: BoundTemplate) =>
  Effect.flatMap(MessagingGateway, (gateway) =>
    gateway.sendTemplate({ from: number, to: customer, messageId, template })
  )

const fresh = Effect.flatMap(FakeCloudApi, (fake) => Effect.as(fake.reset, fake))

const messageRequests = Effect.map(FakeCloudApi, (fake) => fake.requests).pipe(
  Effect.flatten,
  Effect.map((requests) => requests.filter((r) => r.operation === "send" || r.operation === "read"))
)

const codeOf = (error: GatewayError) => (error._tag === "ProviderOutcomeUnknown" ? null : error.code)

layer(gatewayLayer(), { excludeTestServices: true })("CloudApiGateway against the fake Cloud API", (it) => {
  it.effect("sends a text to the number's messages endpoint with its bearer token", () =>
    Effect.gen(function* () {
      const fake = yield* fresh
      const accepted = yield* sendText()
      const [request] = yield* fake.requests
      assert.strictEqual(request?.method, "POST")
      assert.strictEqual(request?.path, "/v24.0/200000000000002/messages")
      assert.strictEqual(request?.headers.authorization, `Bearer ${accessToken}`)
      assert.match(request?.headers["content-type"] ?? "", /^application\/json/)
      assert.deepStrictEqual(
        request?.body,
        MessagePayload.textMessage({ to: customer, messageId, text: "Hi! Your order #A-1001 is being prepared." })
      )
      const [send] = yield* fake.sends
      assert.deepStrictEqual(accepted, { providerMessageId: send?.wamid ?? "", recipientWaId: "15550001111" })
      assert.match(accepted.providerMessageId, /^wamid\./)
      assert.strictEqual(send?.bizOpaqueCallbackData, messageId)
    })
  )

  it.effect("sends positional, named and media templates as Meta's template objects", () =>
    Effect.gen(function* () {
      const fake = yield* fresh
      for (const template of [positional, named, media]) yield* sendTemplate(template)
      const sends = yield* fake.sends
      assert.deepStrictEqual(
        sends.map((s) => s.body.template),
        [positional, named, media].map(MessagePayload.templateJson)
      )
      assert.isTrue(sends.every((s) => s.type === "template" && s.bizOpaqueCallbackData === messageId))
      const namedBody = sends[1]?.body.template as { components: ReadonlyArray<{ parameters: ReadonlyArray<unknown> }> }
      assert.deepStrictEqual(namedBody.components[0]?.parameters, [
        { type: "text", parameter_name: "first_name", text: "Ada" },
        { type: "text", parameter_name: "order_id", text: "A-1001" }
      ])
    })
  )

  it.effect("addresses a phone-less customer by business-scoped user id", () =>
    Effect.gen(function* () {
      const fake = yield* fresh
      const gateway = yield* MessagingGateway
      const to = new CustomerIdentity(
        { phone: Option.none(), userId: Option.some("US.13491208655302741918" as BusinessScopedUserId) },
        true
      )
      yield* gateway.sendText({ from: number, to, messageId, text: "hi" })
      assert.strictEqual((yield* fake.sends)[0]?.to, "US.13491208655302741918")
    })
  )

  it.effect("marks a message read", () =>
    Effect.gen(function* () {
      const fake = yield* fresh
      const gateway = yield* MessagingGateway
      yield* gateway.markRead({ from: number, providerMessageId: "wamid.INBOUND" })
      const [request] = yield* fake.requests
      assert.strictEqual(request?.operation, "read")
      assert.deepStrictEqual(request?.body, {
        messaging_product: "whatsapp",
        status: "read",
        message_id: "wamid.INBOUND"
      })
    })
  )

  it.effect("uses the configured base URL and Graph version", () =>
    Effect.gen(function* () {
      const fake = yield* fresh
      const gateway = yield* gatewayWith({ apiVersion: "v25.0" })
      yield* gateway.sendText({ from: number, to: customer, messageId, text: "hi" })
      assert.strictEqual((yield* fake.requests)[0]?.path, "/v25.0/200000000000002/messages")
      const slashed = yield* Effect.flatMap(FakeCloudApi, (f) =>
        CloudApiGateway.make({ ...testOptions, baseUrl: `${f.url}/` }).pipe(Effect.provide(NodeHttpClient.layer))
      )
      yield* slashed.sendText({ from: number, to: customer, messageId, text: "hi" })
      assert.strictEqual((yield* fake.requests)[1]?.path, "/v24.0/200000000000002/messages")
    })
  )

  it.effect("refuses an empty or over-long text without calling Meta", () =>
    Effect.gen(function* () {
      const fake = yield* fresh
      const tooLong = yield* Effect.flip(sendText("x".repeat(4097)))
      const empty = yield* Effect.flip(sendText(""))
      assert.deepStrictEqual([tooLong._tag, empty._tag], ["ProviderRejected", "ProviderRejected"])
      assert.strictEqual((yield* fake.requests).length, 0)
    })
  )

  // -------------------------------------------------------------------------------------------------------------
  // Every mapped error

  const finalCodes: ReadonlyArray<readonly [number, GatewayError["_tag"]]> = [
    [131047, "ProviderWindowClosed"],
    [131026, "RecipientInvalid"],
    [131030, "RecipientInvalid"],
    [131021, "RecipientInvalid"],
    [132000, "TemplateRejected"],
    [132001, "TemplateRejected"],
    [132012, "TemplateRejected"],
    [132015, "TemplateRejected"],
    [132016, "TemplateRejected"],
    [132018, "TemplateRejected"],
    [100, "ProviderRejected"],
    [131009, "ProviderRejected"],
    [131049, "ProviderRejected"],
    [131050, "ProviderRejected"],
    [130497, "ProviderRejected"],
    [190, "ProviderMisconfigured"],
    [0, "ProviderMisconfigured"],
    [10, "ProviderMisconfigured"],
    [200, "ProviderMisconfigured"],
    [131031, "ProviderMisconfigured"],
    [133010, "ProviderMisconfigured"],
    [368, "ProviderMisconfigured"]
  ]

  for (const [code, tag] of finalCodes) {
    it.effect(`Graph error ${code} → ${tag}, sent exactly once`, () =>
      Effect.gen(function* () {
        const fake = yield* fresh
        yield* fake.fail({ fault: { kind: "graph-error", code }, times: "always" })
        const error = yield* Effect.flip(tag === "TemplateRejected" ? sendTemplate(positional) : sendText())
        assert.strictEqual(error._tag, tag)
        assert.strictEqual(codeOf(error), code)
        assert.strictEqual((yield* messageRequests).length, 1)
      })
    )
  }

  for (const code of [4, 80007, 130429, 131056]) {
    it.effect(`Graph error ${code} → ProviderRateLimited after retrying within the budget`, () =>
      Effect.gen(function* () {
        const fake = yield* fresh
        yield* fake.fail({ fault: { kind: "graph-error", code, headers: { "retry-after": "0" } }, times: "always" })
        const error = yield* Effect.flip(sendText())
        assert.deepStrictEqual(error._tag === "ProviderRateLimited" ? [error.code, error.retryAfterSeconds] : [], [
          code,
          0
        ])
        assert.strictEqual((yield* messageRequests).length, 3)
      })
    )
  }

  const transient: ReadonlyArray<readonly [string, Fault]> = [
    ["131000", { kind: "graph-error", code: 131000 }],
    ["131016", { kind: "graph-error", code: 131016 }],
    ["1", { kind: "graph-error", code: 1 }],
    ["2", { kind: "graph-error", code: 2 }],
    ["131057", { kind: "graph-error", code: 131057 }],
    ["133004", { kind: "graph-error", code: 133004 }],
    ["a bare 502", { kind: "raw", status: 502, body: "<html>Bad gateway</html>" }],
    ["a 500 with an unknown code", { kind: "graph-error", code: 999999, httpStatus: 500 }]
  ]

  for (const [name, fault] of transient) {
    it.effect(`transient ${name}: retried up to the attempt limit, then ProviderUnavailable`, () =>
      Effect.gen(function* () {
        const fake = yield* fresh
        yield* fake.fail({ fault, times: "always" })
        const error = yield* Effect.flip(sendText())
        assert.strictEqual(error._tag, "ProviderUnavailable")
        assert.strictEqual((yield* messageRequests).length, 3)
      })
    )

    it.effect(`transient ${name} once: retried, then accepted`, () =>
      Effect.gen(function* () {
        const fake = yield* fresh
        yield* fake.fail({ fault, times: 1 })
        const accepted = yield* sendText()
        const requests = yield* messageRequests
        assert.deepStrictEqual(
          requests.map((r) => r.answer),
          [fault.kind, "accepted"]
        )
        assert.strictEqual(accepted.providerMessageId, requests[1]?.wamid)
        assert.isTrue(
          requests.every(
            (r) => (r.body as { biz_opaque_callback_data?: string }).biz_opaque_callback_data === messageId
          )
        )
      })
    )
  }

  it.effect("a rate limit once is retried after the reset hint", () =>
    Effect.gen(function* () {
      const fake = yield* fresh
      yield* fake.fail({ fault: { kind: "graph-error", code: 130429, headers: { "retry-after": "0" } } })
      yield* sendText()
      assert.deepStrictEqual(
        (yield* messageRequests).map((r) => r.answer),
        ["graph-error", "accepted"]
      )
    })
  )

  it.effect("without a hint, 130429 waits Meta's default second before the retry", () =>
    Effect.gen(function* () {
      const fake = yield* fresh
      yield* fake.fail({ fault: { kind: "graph-error", code: 130429 }, times: "always" })
      const error = yield* Effect.flip(sendText())
      const requests = yield* messageRequests
      // Budget 1.5 s: one retry after ≥ 1 s fits, a second does not.
      assert.strictEqual(requests.length, 2)
      assert.isAtLeast((requests[1]?.receivedAt ?? 0) - (requests[0]?.receivedAt ?? 0), 990)
      assert.deepStrictEqual(error._tag === "ProviderRateLimited" ? error.retryAfterSeconds : -1, 1)
    })
  )

  it.effect("a pair-rate 131056 whose reset is beyond the budget fails at once with its retry-after", () =>
    Effect.gen(function* () {
      const fake = yield* fresh
      yield* fake.fail({ fault: { kind: "graph-error", code: 131056 }, times: "always" })
      const error = yield* Effect.flip(sendText())
      assert.deepStrictEqual(
        error._tag === "ProviderRateLimited" ? [error.code, error.retryAfterSeconds] : [],
        [131056, 6]
      )
      assert.strictEqual((yield* messageRequests).length, 1)
    })
  )

  // -------------------------------------------------------------------------------------------------------------
  // Ambiguous outcomes: never resent

  const ambiguous: ReadonlyArray<readonly [string, Fault]> = [
    ["the request hangs past the timeout", { kind: "hang" }],
    ["the connection drops after the request", { kind: "drop" }],
    ["latency beyond the timeout", { kind: "latency", millis: 1_000 }],
    ["a 200 whose body is not JSON", { kind: "raw", status: 200, body: '{"messages": [' }],
    ["a 200 without a message id", { kind: "raw", status: 200, body: '{"messages": []}' }]
  ]

  for (const [name, fault] of ambiguous) {
    it.effect(`ambiguous (${name}): ProviderOutcomeUnknown after exactly one request`, () =>
      Effect.gen(function* () {
        const fake = yield* fresh
        yield* fake.fail({ fault, times: "always" })
        const error = yield* Effect.flip(sendText())
        assert.strictEqual(error._tag, "ProviderOutcomeUnknown")
        assert.strictEqual((yield* messageRequests).length, 1)
      })
    )
  }

  it.effect("latency within the timeout is just slow", () =>
    Effect.gen(function* () {
      const fake = yield* fresh
      yield* fake.fail({ fault: { kind: "latency", millis: 50 } })
      yield* sendText()
      assert.deepStrictEqual(
        (yield* messageRequests).map((r) => r.answer),
        ["accepted"]
      )
    })
  )

  it.effect("a read receipt is idempotent, so an ambiguous one is retried", () =>
    Effect.gen(function* () {
      const fake = yield* fresh
      const gateway = yield* MessagingGateway
      yield* fake.fail({ fault: { kind: "drop" } })
      yield* gateway.markRead({ from: number, providerMessageId: "wamid.INBOUND" })
      assert.deepStrictEqual(
        (yield* messageRequests).map((r) => r.answer),
        ["dropped", "accepted"]
      )
    })
  )

  it.effect("a wrong token is Meta's 190: ProviderMisconfigured, not retried", () =>
    Effect.gen(function* () {
      const fake = yield* fresh
      const gateway = yield* MessagingGateway
      const from = new WhatsAppNumber({ ...number, accessToken: Redacted.make("expired-token") })
      const error = yield* Effect.flip(gateway.sendText({ from, to: customer, messageId, text: "hi" }))
      assert.deepStrictEqual([error._tag, codeOf(error)], ["ProviderMisconfigured", 190])
      assert.strictEqual((yield* fake.requests).length, 1)
    })
  )

  // -------------------------------------------------------------------------------------------------------------
  // Connections refused: provably unsent

  it.effect("connection refused is retried until the provider is back", () =>
    Effect.gen(function* () {
      const fake = yield* fresh
      const gateway = yield* gatewayWith({
        retry: { maxAttempts: 100, budget: "10 seconds", baseDelay: "10 millis", maxDelay: "50 millis" }
      })
      yield* fake.refuseConnections
      const sending = yield* Effect.fork(gateway.sendText({ from: number, to: customer, messageId, text: "hi" }))
      yield* Effect.sleep(Duration.millis(200))
      assert.strictEqual((yield* fake.requests).length, 0)
      yield* fake.acceptConnections
      const accepted = yield* Fiber.join(sending)
      const sends = yield* fake.sends
      assert.strictEqual(sends.length, 1)
      assert.strictEqual(accepted.providerMessageId, sends[0]?.wamid)
    })
  )

  it.effect("connection refused for the whole budget is ProviderUnavailable", () =>
    Effect.gen(function* () {
      const fake = yield* fresh
      yield* fake.refuseConnections
      const result = yield* Effect.either(sendText())
      yield* fake.acceptConnections
      assert.isTrue(Either.isLeft(result))
      if (Either.isLeft(result)) {
        assert.strictEqual(result.left._tag, "ProviderUnavailable")
        assert.match(result.left._tag === "ProviderUnavailable" ? result.left.title : "", /ECONNREFUSED/)
      }
      assert.strictEqual((yield* fake.requests).length, 0)
    })
  )
})
