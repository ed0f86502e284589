/**
 * The core's fake gateway passes the same conformance suite as real provider adapters, so tests written against it
 * hold for them too.
 */
import { Effect, Layer, Redacted, Ref } from "effect"
import { BusinessId, WhatsAppNumberId } from "../src/Ids.js"
import {
  type GatewayError,
  ProviderMisconfigured,
  ProviderOutcomeUnknown,
  ProviderRateLimited,
  ProviderRejected,
  ProviderUnavailable,
  ProviderWindowClosed,
  RecipientInvalid,
  TemplateRejected
} from "../src/MessagingGateway.js"
import {
  FakeGateway,
  GatewayHarness,
  type ObservedRequest,
  runGatewayConformance,
  type ScriptedFailure
} from "../src/testing/index.js"
import { WhatsAppNumber } from "../src/WhatsAppNumber.js"

const errorFor = (failure: ScriptedFailure): GatewayError => {
  const provider = { code: null, title: failure }
  switch (failure) {
    case "ProviderWindowClosed":
      return new ProviderWindowClosed(provider)
    case "RecipientInvalid":
      return new RecipientInvalid(provider)
    case "TemplateRejected":
      return new TemplateRejected(provider)
    case "ProviderRejected":
      return new ProviderRejected(provider)
    case "ProviderRateLimited":
      return new ProviderRateLimited({ ...provider, retryAfterSeconds: 1 })
    case "ProviderMisconfigured":
      return new ProviderMisconfigured(provider)
    case "ProviderUnavailable":
      return new ProviderUnavailable(provider)
    case "ProviderOutcomeUnknown":
      return new ProviderOutcomeUnknown({ reason: "scripted" })
  }
}

const operations = { text: "sendText", template: "sendTemplate", media: "sendMedia" } as const satisfies Record<
  FakeGateway.FakeSend["kind"],
  ObservedRequest["operation"]
>

const harness = Layer.effect(
  GatewayHarness,
  Effect.gen(function* () {
    const fake = yield* FakeGateway.FakeGateway
    // The fake keeps its records across resets, so requests are counted from the last reset on.
    const offsets = yield* Ref.make({ calls: 0, receipts: 0 })
    return GatewayHarness.of({
      from: new WhatsAppNumber({
        id: WhatsAppNumberId.make("00000000-0000-4000-8000-0000000000a1"),
        businessId: BusinessId.make("00000000-0000-4000-8000-0000000000b1"),
        providerPhoneNumberId: "200000000000002",
        displayPhoneNumber: "15550002222",
        wabaId: "100000000000001",
        accessToken: Redacted.make("fake-token")
      }),
      script: (failure, times) =>
        times === "always" ? fake.failAlways(errorFor(failure)) : fake.failNext(errorFor(failure), times),
      reset: Effect.gen(function* () {
        yield* fake.reset
        yield* Ref.set(offsets, { calls: (yield* fake.calls).length, receipts: (yield* fake.readReceipts).length })
      }),
      requests: Effect.gen(function* () {
        const from = yield* Ref.get(offsets)
        const calls = (yield* fake.calls).slice(from.calls).map((call) => ({
          operation: operations[call.kind],
          messageId: call.request.messageId as string | null
        }))
        const receipts = (yield* fake.readReceipts)
          .slice(from.receipts)
          .map(() => ({ operation: "markRead" as const, messageId: null }))
        return [...calls, ...receipts]
      }),
      media: {
        put: ({ mimeType, bytes }) =>
          Effect.gen(function* () {
            const id = String(7_000_000 + (yield* fake.media).size)
            yield* fake.putMedia(id, { mimeType, bytes, sha256: null, filename: null })
            return id
          }),
        expire: fake.expireMedia
      }
    })
  })
)

runGatewayConformance("the core's fake gateway", harness.pipe(Layer.provideMerge(FakeGateway.layer)))
