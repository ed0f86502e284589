/**
 * The gateway wired to a fresh fake Cloud API on loopback, with small timeouts and retry budgets so failure tests
 * stay fast, and the provider-neutral `GatewayHarness` the core's conformance suite drives.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { BusinessId, type GatewayError, type MessagingGateway, WhatsAppNumber, WhatsAppNumberId } from "@parley/core"
import { GatewayHarness, type ObservedRequest } from "@parley/core/testing"
import { Effect, Layer, Redacted } from "effect"
import * as CloudApiGateway from "../../src/CloudApiGateway.js"
import { FakeCloudApi, type Fault, layer as fakeLayer } from "../../src/testing/FakeCloudApi.js"

export const accessToken = "fake-access-token"

export const number = new WhatsAppNumber({
  id: WhatsAppNumberId.make("00000000-0000-4000-8000-0000000000aa"),
  businessId: BusinessId.make("00000000-0000-4000-8000-0000000000bb"),
  providerPhoneNumberId: "200000000000002",
  displayPhoneNumber: "15550002222",
  wabaId: "100000000000001",
  accessToken: Redacted.make(accessToken)
})

/** Fast settings for tests: 400 ms per attempt, 3 attempts inside 1.5 s, 5–40 ms backoff ceilings. */
export const testOptions: CloudApiGateway.Options = {
  apiVersion: "v24.0",
  requestTimeout: "400 millis",
  retry: { maxAttempts: 3, budget: "1500 millis", baseDelay: "5 millis", maxDelay: "40 millis" },
  pairRate: false
}

/** The fake plus a gateway pointed at it. */
export const gatewayLayer = (options: CloudApiGateway.Options = {}) =>
  Layer.unwrapEffect(
    Effect.map(FakeCloudApi, (fake) =>
      CloudApiGateway.layer({ ...testOptions, ...options, baseUrl: fake.url }).pipe(Layer.provide(NodeHttpClient.layer))
    )
  ).pipe(Layer.provideMerge(fakeLayer({ accessTokens: [accessToken] })))

/** How the fake is scripted into each typed failure of the gateway. */
export const faultFor = (failure: GatewayError["_tag"]): Fault => {
  switch (failure) {
    case "ProviderWindowClosed":
      return { kind: "graph-error", code: 131047 }
    case "RecipientInvalid":
      return { kind: "graph-error", code: 131026 }
    case "TemplateRejected":
      return { kind: "graph-error", code: 132001 }
    case "ProviderRejected":
      return { kind: "graph-error", code: 131009 }
    case "ProviderRateLimited":
      // A zero reset hint keeps the suite fast; the default hint (1 s) is tested on its own.
      return { kind: "graph-error", code: 130429, headers: { "retry-after": "0" } }
    case "ProviderMisconfigured":
      return { kind: "graph-error", code: 190 }
    case "ProviderUnavailable":
      return { kind: "graph-error", code: 131000 }
    case "ProviderOutcomeUnknown":
      return { kind: "hang" }
  }
}

const harness = Layer.effect(
  GatewayHarness,
  Effect.map(FakeCloudApi, (fake) =>
    GatewayHarness.of({
      from: number,
      script: (failure, times) => fake.fail({ fault: faultFor(failure), times }),
      reset: fake.reset,
      requests: Effect.map(fake.requests, (requests) =>
        requests
          .filter((r) => r.operation === "send" || r.operation === "read")
          .map((r): ObservedRequest => {
            const body = (typeof r.body === "object" && r.body !== null ? r.body : {}) as Record<string, unknown>
            const callback = body.biz_opaque_callback_data
            return {
              operation:
                r.operation === "read"
                  ? "markRead"
                  : body.type === "template"
                    ? "sendTemplate"
                    : body.type === "text"
                      ? "sendText"
                      : "sendMedia",
              messageId: typeof callback === "string" ? callback : null
            }
          })
      ),
      media: {
        put: ({ mimeType, bytes }) => Effect.sync(() => fake.server.media.put({ mimeType, bytes }).id),
        expire: (id) => Effect.sync(() => fake.server.media.expire(id))
      }
    })
  )
)

/** The layer the conformance suite runs against. */
export const conformanceLayer: Layer.Layer<GatewayHarness | MessagingGateway | FakeCloudApi> = harness.pipe(
  Layer.provideMerge(gatewayLayer())
)
