/**
 * The router sends each call to its number's provider's gateway, and refuses (typed, nothing sent) a number whose
 * provider has no gateway.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, FastCheck, Redacted } from "effect"
import { CustomerIdentity } from "../src/Customer.js"
import * as GatewayRouter from "../src/GatewayRouter.js"
import { BusinessId, MessageId, WhatsAppNumberId } from "../src/Ids.js"
import { E164 } from "../src/Phone.js"
import { FakeGateway } from "../src/testing/index.js"
import { type ProviderName, WhatsAppNumber } from "../src/WhatsAppNumber.js"

const numberOf = (provider: ProviderName) =>
  new WhatsAppNumber({
    id: WhatsAppNumberId.make(
      provider === "twilio" ? "00000000-0000-4000-8000-0000000000a2" : "00000000-0000-4000-8000-0000000000a1"
    ),
    businessId: BusinessId.make("00000000-0000-4000-8000-0000000000b1"),
    provider,
    providerPhoneNumberId: provider === "twilio" ? "+15550002222" : "200000000000002",
    displayPhoneNumber: "15550002222",
    wabaId: null,
    accessToken: Redacted.make("token")
  })

const to = CustomerIdentity.byPhone(E164.make("+15550001111"))
const messageId = (n: number) => MessageId.make(`00000000-0000-4000-8000-${n.toString().padStart(12, "0")}`)

const Call = FastCheck.record({
  provider: FastCheck.constantFrom<ProviderName>("whatsapp_cloud", "twilio"),
  operation: FastCheck.constantFrom("sendText", "sendTemplate", "sendMedia", "markRead")
})

describe("GatewayRouter", () => {
  it.effect.prop(
    "every call reaches exactly its number's provider's gateway, in order",
    [FastCheck.array(Call, { maxLength: 20 })],
    ([calls]) =>
      Effect.gen(function* () {
        const cloud = yield* FakeGateway.make
        const twilio = yield* FakeGateway.make
        const router = GatewayRouter.make({ whatsapp_cloud: cloud.gateway, twilio: twilio.gateway })
        for (const [n, call] of calls.entries()) {
          const from = numberOf(call.provider)
          if (call.operation === "sendText") yield* router.sendText({ from, to, messageId: messageId(n), text: "hi" })
          else if (call.operation === "sendTemplate")
            yield* router.sendTemplate({
              from,
              to,
              messageId: messageId(n),
              template: { name: "order_update", language: "en", components: [], renderedText: "Order ready" }
            })
          else if (call.operation === "sendMedia")
            yield* router.sendMedia({
              from,
              to,
              messageId: messageId(n),
              media: { kind: "image", link: "https://example.com/parcel.jpg" }
            })
          else yield* router.markRead({ from, providerMessageId: `in-${n}` })
        }
        for (const [provider, fake] of [
          ["whatsapp_cloud", cloud],
          ["twilio", twilio]
        ] as const) {
          const mine = [...calls.entries()].filter(([, c]) => c.provider === provider)
          assert.deepStrictEqual(
            (yield* fake.control.calls).map((c) => c.request.messageId),
            mine.filter(([, c]) => c.operation !== "markRead").map(([n]) => messageId(n))
          )
          assert.deepStrictEqual(
            (yield* fake.control.readReceipts).map((r) => r.providerMessageId),
            mine.filter(([, c]) => c.operation === "markRead").map(([n]) => `in-${n}`)
          )
        }
      })
  )

  it.effect("a number whose provider has no gateway is refused as misconfigured, and nothing is sent", () =>
    Effect.gen(function* () {
      const cloud = yield* FakeGateway.make
      const router = GatewayRouter.make({ whatsapp_cloud: cloud.gateway })
      const error = yield* Effect.flip(
        router.sendText({ from: numberOf("twilio"), to, messageId: messageId(1), text: "hi" })
      )
      assert.strictEqual(error._tag, "ProviderMisconfigured")
      assert.strictEqual((yield* cloud.control.calls).length, 0)
    })
  )
})
