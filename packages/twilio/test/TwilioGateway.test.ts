/**
 * The Twilio gateway against the fake Twilio API over loopback: what it sends, how it authenticates, and how every
 * Twilio error code it knows becomes a typed gateway error.
 */
import { assert, layer } from "@effect/vitest"
import {
  BusinessScopedUserId,
  CustomerIdentity,
  E164,
  type GatewayError,
  MessageId,
  MessagingGateway,
  WhatsAppNumber
} from "@parley/core"
import { Effect, Option, Redacted } from "effect"
import * as TwilioError from "../src/TwilioError.js"
import { FakeTwilioApi } from "../src/testing/FakeTwilioApi.js"
import { apiKey, contentSid, gatewayLayer, number, statusCallbackUrl, template } from "./support/harness.js"

const to = CustomerIdentity.byPhone(E164.make("+15550001111"))
const messageId = MessageId.make("00000000-0000-4000-8000-000000000001")

const setup = Effect.gen(function* () {
  const fake = yield* FakeTwilioApi
  yield* fake.reset
  return { fake, gateway: yield* MessagingGateway }
})

const field = (form: ReadonlyArray<readonly [string, string]>, name: string) => form.find(([k]) => k === name)?.[1]

const expectedTag: Record<TwilioError.Kind, GatewayError["_tag"]> = {
  window_closed: "ProviderWindowClosed",
  recipient_invalid: "RecipientInvalid",
  rate_limited: "ProviderRateLimited",
  misconfigured: "ProviderMisconfigured",
  template_rejected: "TemplateRejected",
  rejected: "ProviderRejected",
  unavailable: "ProviderUnavailable"
}

layer(gatewayLayer(), { excludeTestServices: true, timeout: "30 seconds" })("TwilioGateway", (it) => {
  it.effect("sends a text as a form with From, To, Body and StatusCallback, Basic auth with the auth token", () =>
    Effect.gen(function* () {
      const { fake, gateway } = yield* setup
      const accepted = yield* gateway.sendText({ from: number, to, messageId, text: "Hi Ada & co = 100%" })
      assert.match(accepted.providerMessageId, /^SM[0-9a-f]{32}$/)
      assert.isNull(accepted.recipientWaId)
      const [request] = yield* fake.requests
      assert.strictEqual(request?.path, `/2010-04-01/Accounts/${number.providerAccountId}/Messages.json`)
      assert.strictEqual(request?.username, number.providerAccountId)
      const form = request?.form ?? []
      assert.strictEqual(field(form, "From"), "whatsapp:+15550002222")
      assert.strictEqual(field(form, "To"), "whatsapp:+15550001111")
      assert.strictEqual(field(form, "Body"), "Hi Ada & co = 100%")
      assert.strictEqual(field(form, "StatusCallback"), statusCallbackUrl)
      const [send] = yield* fake.sends
      assert.strictEqual(send?.sid, accepted.providerMessageId)
    })
  )

  it.effect("sends a template as ContentSid and ContentVariables (positional and named), without a Body", () =>
    Effect.gen(function* () {
      const { fake, gateway } = yield* setup
      yield* gateway.sendTemplate({ from: number, to, messageId, template })
      yield* gateway.sendTemplate({
        from: number,
        to,
        messageId,
        template: {
          ...template,
          components: [{ type: "body", parameters: [{ type: "text", text: "A-7", parameterName: "order_id" }] }]
        }
      })
      const sends = yield* fake.sends
      assert.deepStrictEqual(
        sends.map((s) => [s.contentSid, s.contentVariables, s.body]),
        [
          [contentSid, { "1": "Ada", "2": "A-1001" }, null],
          [contentSid, { order_id: "A-7" }, null]
        ]
      )
    })
  )

  it.effect("refuses a template Twilio cannot take before calling it", () =>
    Effect.gen(function* () {
      const { fake, gateway } = yield* setup
      const byName = yield* Effect.flip(
        gateway.sendTemplate({ from: number, to, messageId, template: { ...template, name: "order_update" } })
      )
      assert.strictEqual(byName._tag, "TemplateRejected")
      const withButton = yield* Effect.flip(
        gateway.sendTemplate({
          from: number,
          to,
          messageId,
          template: {
            ...template,
            components: [{ type: "button", subType: "url", index: 0, parameters: [{ type: "text", text: "x" }] }]
          }
        })
      )
      assert.strictEqual(withButton._tag, "TemplateRejected")
      assert.strictEqual((yield* fake.requests).length, 0)
    })
  )

  it.effect("authenticates with the number's API key when it has one (the Account SID stays in the URL)", () =>
    Effect.gen(function* () {
      const { fake, gateway } = yield* setup
      const withKey = new WhatsAppNumber({
        ...number,
        providerApiKey: { sid: apiKey.sid, secret: Redacted.make(apiKey.secret) }
      })
      yield* gateway.sendText({ from: withKey, to, messageId, text: "hi" })
      const [request] = yield* fake.requests
      assert.strictEqual(request?.username, apiKey.sid)
      assert.include(request?.path ?? "", number.providerAccountId ?? "?")
    })
  )

  it.effect("refuses a Cloud API number, a number without an Account SID, and a recipient without a phone", () =>
    Effect.gen(function* () {
      const { fake, gateway } = yield* setup
      const cloud = new WhatsAppNumber({ ...number, provider: "whatsapp_cloud", providerAccountId: null })
      assert.strictEqual(
        (yield* Effect.flip(gateway.sendText({ from: cloud, to, messageId, text: "hi" })))._tag,
        "ProviderMisconfigured"
      )
      const noAccount = new WhatsAppNumber({ ...number, providerAccountId: null })
      assert.strictEqual(
        (yield* Effect.flip(gateway.sendText({ from: noAccount, to, messageId, text: "hi" })))._tag,
        "ProviderMisconfigured"
      )
      const byUserId = CustomerIdentity.make({
        phone: Option.none(),
        userId: Option.some(BusinessScopedUserId.make("US.123"))
      })
      assert.strictEqual(
        (yield* Effect.flip(gateway.sendText({ from: number, to: byUserId, messageId, text: "hi" })))._tag,
        "RecipientInvalid"
      )
      assert.strictEqual(
        (yield* Effect.flip(gateway.sendText({ from: number, to, messageId, text: "x".repeat(1601) })))._tag,
        "ProviderRejected"
      )
      assert.strictEqual((yield* fake.requests).length, 0)
    })
  )

  it.effect("a wrong auth token is ProviderMisconfigured (20003), one request", () =>
    Effect.gen(function* () {
      const { fake, gateway } = yield* setup
      const wrong = new WhatsAppNumber({ ...number, accessToken: Redacted.make("wrong") })
      const error = yield* Effect.flip(gateway.sendText({ from: wrong, to, messageId, text: "hi" }))
      assert.strictEqual(error._tag, "ProviderMisconfigured")
      if (error._tag === "ProviderMisconfigured") assert.strictEqual(error.code, 20003)
      assert.strictEqual((yield* fake.requests).length, 1)
    })
  )

  it.effect("maps every Twilio error code it knows onto its typed error", () =>
    Effect.gen(function* () {
      const { fake, gateway } = yield* setup
      for (const [code, kind] of Object.entries(TwilioError.codes)) {
        yield* fake.reset
        yield* fake.fail({
          fault: { kind: "twilio-error", code: Number(code), headers: { "retry-after": "0" } },
          times: "always"
        })
        const error = yield* Effect.flip(gateway.sendText({ from: number, to, messageId, text: "hi" }))
        assert.strictEqual(error._tag, expectedTag[kind], `code ${code}`)
        if (error._tag !== "ProviderOutcomeUnknown") assert.strictEqual(error.code, Number(code))
        const requests = (yield* fake.requests).length
        if (kind === "rate_limited" || kind === "unavailable") assert.isAtLeast(requests, 2, `code ${code}`)
        else assert.strictEqual(requests, 1, `code ${code} is final: never resent`)
      }
    })
  )

  it.effect("masks the phone numbers Twilio quotes in its error messages", () =>
    Effect.gen(function* () {
      const { fake, gateway } = yield* setup
      yield* fake.fail({
        fault: {
          kind: "twilio-error",
          code: 21211,
          message: "The 'To' number +15550001111 is not a valid phone number."
        }
      })
      const error = yield* Effect.flip(gateway.sendText({ from: number, to, messageId, text: "hi" }))
      assert.strictEqual(error._tag, "RecipientInvalid")
      if (error._tag === "RecipientInvalid") {
        assert.strictEqual(error.title, "The 'To' number +155…1111 is not a valid phone number.")
      }
      assert.strictEqual(TwilioError.maskPhones("from 15550002222 at 2026"), "from 155…2222 at 2026")
    })
  )

  it.effect("an unknown 4xx code is ProviderRejected; a 404 without a code is ProviderMisconfigured", () =>
    Effect.gen(function* () {
      const { fake, gateway } = yield* setup
      yield* fake.fail({ fault: { kind: "twilio-error", code: 21999, status: 400 } })
      assert.strictEqual(
        (yield* Effect.flip(gateway.sendText({ from: number, to, messageId, text: "hi" })))._tag,
        "ProviderRejected"
      )
      yield* fake.fail({ fault: { kind: "raw", status: 404, body: "not found" } })
      assert.strictEqual(
        (yield* Effect.flip(gateway.sendText({ from: number, to, messageId, text: "hi" })))._tag,
        "ProviderMisconfigured"
      )
    })
  )

  it.effect("a 500, a reset after writing, or an unreadable 201 is ProviderOutcomeUnknown and never resent", () =>
    Effect.gen(function* () {
      const { fake, gateway } = yield* setup
      const faults = [
        { kind: "twilio-error", code: 20500, status: 500 },
        { kind: "raw", status: 502, body: "<html>bad gateway</html>" },
        { kind: "reset" },
        { kind: "raw", status: 201, body: "{" }
      ] as const
      for (const fault of faults) {
        yield* fake.reset
        yield* fake.fail({ fault, times: "always" })
        const error = yield* Effect.flip(gateway.sendText({ from: number, to, messageId, text: "hi" }))
        assert.strictEqual(error._tag, "ProviderOutcomeUnknown", JSON.stringify(fault))
        assert.strictEqual((yield* fake.requests).length, 1, JSON.stringify(fault))
      }
    })
  )

  it.effect("retries a 503 and a 20429 once each, then succeeds with one accepted send", () =>
    Effect.gen(function* () {
      const { fake, gateway } = yield* setup
      yield* fake.fail({ fault: { kind: "raw", status: 503, body: "" } })
      yield* fake.fail({ fault: { kind: "twilio-error", code: 20429, headers: { "retry-after": "0" } } })
      yield* gateway.sendText({ from: number, to, messageId, text: "hi" })
      assert.strictEqual((yield* fake.requests).length, 3)
      assert.strictEqual((yield* fake.sends).length, 1)
    })
  )

  it.effect("reports Twilio's Retry-After on a persistent rate limit, or 1 second without one", () =>
    Effect.gen(function* () {
      const { fake, gateway } = yield* setup
      yield* fake.fail({ fault: { kind: "twilio-error", code: 63018, headers: { "retry-after": "120" } } })
      const error = yield* Effect.flip(gateway.sendText({ from: number, to, messageId, text: "hi" }))
      assert.strictEqual(error._tag, "ProviderRateLimited")
      if (error._tag === "ProviderRateLimited") assert.strictEqual(error.retryAfterSeconds, 120)
      assert.strictEqual((yield* fake.requests).length, 1, "a wait past the retry budget is not started")
      assert.strictEqual(TwilioError.defaultRetryAfterSeconds(20429), 1)
    })
  )

  it.effect("marks read with a typing indicator on the inbound message sid", () =>
    Effect.gen(function* () {
      const { fake, gateway } = yield* setup
      yield* gateway.markRead({ from: number, providerMessageId: "SM00000000000000000000000000000042" })
      const [request] = yield* fake.requests
      assert.strictEqual(request?.path, "/v2/Indicators/Typing.json")
      assert.deepStrictEqual(request?.form, [
        ["messageId", "SM00000000000000000000000000000042"],
        ["channel", "whatsapp"]
      ])
    })
  )
})

layer(gatewayLayer({ readReceipts: "off", statusCallbackUrl: () => null }), { excludeTestServices: true })(
  "TwilioGateway without read receipts or status callbacks",
  (it) => {
    it.effect("markRead is a no-op and sends carry no StatusCallback", () =>
      Effect.gen(function* () {
        const { fake, gateway } = yield* setup
        yield* gateway.markRead({ from: number, providerMessageId: "SM00000000000000000000000000000042" })
        assert.strictEqual((yield* fake.requests).length, 0)
        yield* gateway.sendText({ from: number, to, messageId, text: "hi" })
        const [request] = yield* fake.requests
        assert.isUndefined(field(request?.form ?? [], "StatusCallback"))
      })
    )
  }
)
