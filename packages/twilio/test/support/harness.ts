/**
 * The Twilio gateway wired to a fresh fake Twilio API on loopback, with small timeouts and retry budgets so failure
 * tests stay fast, and the provider-neutral `GatewayHarness` the core's conformance suite drives.
 */
import { NodeHttpClient } from "@effect/platform-node"
import {
  type BoundTemplate,
  BusinessId,
  type GatewayError,
  type MessagingGateway,
  WhatsAppNumber,
  WhatsAppNumberId
} from "@parley/core"
import { GatewayHarness, type ObservedRequest } from "@parley/core/testing"
import { Effect, Layer, Redacted } from "effect"
import * as TwilioGateway from "../../src/TwilioGateway.js"
import { FakeTwilioApi, type Fault, layer as fakeLayer } from "../../src/testing/FakeTwilioApi.js"

export const accountSid = "AC00000000000000000000000000000001"
export const authToken = "fake-auth-token"
export const apiKey = { sid: "SK00000000000000000000000000000001", secret: "fake-api-key-secret" }
export const contentSid = "HX00000000000000000000000000000001"

export const number = new WhatsAppNumber({
  id: WhatsAppNumberId.make("00000000-0000-4000-8000-0000000000ab"),
  businessId: BusinessId.make("00000000-0000-4000-8000-0000000000bb"),
  provider: "twilio",
  providerPhoneNumberId: "+15550002222",
  displayPhoneNumber: "15550002222",
  wabaId: null,
  accessToken: Redacted.make(authToken),
  providerAccountId: accountSid,
  providerApiKey: null
})

export const statusCallbackUrl = "https://parley.example/webhooks/twilio"

/** Fast settings for tests: 400 ms per attempt, 3 attempts inside 1.5 s, 5–40 ms backoff ceilings. */
export const testOptions = {
  statusCallbackUrl: () => statusCallbackUrl,
  requestTimeout: "400 millis",
  retry: { maxAttempts: 3, budget: "1500 millis", baseDelay: "5 millis", maxDelay: "40 millis" }
} satisfies TwilioGateway.Options

export const fakeOptions = { accounts: [{ accountSid, authToken, apiKeys: [apiKey] }] }

/** The fake plus a gateway pointed at it. */
export const gatewayLayer = (options: Partial<TwilioGateway.Options> = {}) =>
  Layer.unwrapEffect(
    Effect.map(FakeTwilioApi, (fake) =>
      TwilioGateway.layer({
        ...testOptions,
        ...options,
        apiBaseUrl: fake.url,
        contentBaseUrl: fake.url,
        messagingBaseUrl: fake.url
      }).pipe(Layer.provide(NodeHttpClient.layer))
    )
  ).pipe(Layer.provideMerge(fakeLayer(fakeOptions)))

/** How the fake is scripted into each typed failure of the gateway, in Twilio's terms. */
export const faultFor = (failure: GatewayError["_tag"]): Fault => {
  switch (failure) {
    case "ProviderWindowClosed":
      return { kind: "twilio-error", code: 63016 }
    case "RecipientInvalid":
      return { kind: "twilio-error", code: 21211 }
    case "TemplateRejected":
      return { kind: "twilio-error", code: 63027 }
    case "ProviderRejected":
      // 21617: the body exceeds 1600 characters (a definitive refusal with no dedicated typed error).
      return { kind: "twilio-error", code: 21617 }
    case "ProviderRateLimited":
      // A zero Retry-After keeps the suite fast; the default (1 s) is tested on its own.
      return { kind: "twilio-error", code: 20429, headers: { "retry-after": "0" } }
    case "ProviderMisconfigured":
      return { kind: "twilio-error", code: 20003 }
    case "ProviderUnavailable":
      return { kind: "twilio-error", code: 20503 }
    case "ProviderOutcomeUnknown":
      return { kind: "hang" }
  }
}

/** A template as Twilio template sync stores it: the Content SID as its name, body variables by position. */
export const template: BoundTemplate = {
  name: contentSid,
  language: "en",
  components: [
    {
      type: "body",
      parameters: [
        { type: "text", text: "Ada" },
        { type: "text", text: "A-1001" }
      ]
    }
  ],
  renderedText: "Hi Ada, order A-1001 has shipped."
}

const harness = Layer.effect(
  GatewayHarness,
  Effect.map(FakeTwilioApi, (fake) =>
    GatewayHarness.of({
      from: number,
      template,
      passesMessageId: false,
      sendsMediaById: false,
      uploadsMedia: false,
      // A customer's file as Twilio holds it (a Media resource of an inbound message), deleted to expire it.
      media: {
        put: (file) =>
          Effect.sync(() => fake.server.putMedia({ contentType: file.mimeType, bytes: file.bytes }).providerMediaId),
        expire: (providerMediaId) =>
          Effect.sync(() => {
            fake.server.deleteMedia(providerMediaId.slice(providerMediaId.indexOf("/") + 1))
          })
      },
      inboundMessageId: "SM00000000000000000000000000000099",
      script: (failure, times) => fake.fail({ fault: faultFor(failure), times }),
      reset: fake.reset,
      requests: Effect.map(fake.requests, (requests) =>
        requests
          .filter((r) => r.operation === "send" || r.operation === "typing")
          .map(
            (r): ObservedRequest => ({
              operation:
                r.operation === "typing"
                  ? "markRead"
                  : r.form.some(([k]) => k === "ContentSid")
                    ? "sendTemplate"
                    : r.form.some(([k]) => k === "MediaUrl")
                      ? "sendMedia"
                      : "sendText",
              messageId: null
            })
          )
      )
    })
  )
)

/** The layer the conformance suite runs against. */
export const conformanceLayer: Layer.Layer<GatewayHarness | MessagingGateway | FakeTwilioApi> = harness.pipe(
  Layer.provideMerge(gatewayLayer())
)
