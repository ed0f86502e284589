/**
 * The conformance suite every `MessagingGateway` adapter runs, so a provider can be swapped in with confidence.
 *
 * An adapter's test supplies a layer with the gateway and a `GatewayHarness`: a provider-neutral handle on the
 * backend it talks to (a fake of the provider's API, or the core's fake gateway) that can script the backend into
 * each typed failure and count the requests that reached it.
 *
 * ```ts
 * runGatewayConformance("cloud api against the fake", harnessLayer, { retriesTransientFailures: true })
 * ```
 */
import { assert, layer } from "@effect/vitest"
import { Context, Duration, Effect, Either, type Layer } from "effect"
import { CustomerIdentity } from "../Customer.js"
import { MessageId } from "../Ids.js"
import { type Accepted, type GatewayError, MessagingGateway } from "../MessagingGateway.js"
import { E164 } from "../Phone.js"
import type { BoundTemplate } from "../Template.js"
import type { WhatsAppNumber } from "../WhatsAppNumber.js"

/** The typed failures a backend can be scripted into. */
export type ScriptedFailure = GatewayError["_tag"]

/** A request as the backend saw it (retries are separate requests). */
export interface ObservedRequest {
  readonly operation: "sendText" | "sendTemplate" | "markRead"
  /** Our message id as the backend received it (the correlation id for status webhooks), when it had one. */
  readonly messageId: string | null
}

export class GatewayHarness extends Context.Tag("@parley/core/testing/GatewayHarness")<
  GatewayHarness,
  {
    /** A sender the backend accepts. */
    readonly from: WhatsAppNumber
    /**
     * Makes the backend answer the next `times` requests (or every one) so that the gateway must fail with
     * `failure`: a definitive refusal for the final kinds, a transient fault for `ProviderUnavailable`, a throttle
     * for `ProviderRateLimited`, and an accepted-but-unanswered request for `ProviderOutcomeUnknown`.
     */
    readonly script: (failure: ScriptedFailure, times: number | "always") => Effect.Effect<void>
    /** Forgets scripted failures and observed requests. */
    readonly reset: Effect.Effect<void>
    /** The requests that reached the backend since the last reset, in arrival order. */
    readonly requests: Effect.Effect<ReadonlyArray<ObservedRequest>>
    /**
     * A template the backend accepts, in the provider's terms (Twilio: a Content SID as the name, body variables
     * only). Default: a Meta-style template with body and URL-button parameters.
     */
    readonly template?: BoundTemplate
    /**
     * Whether the provider carries our message id to the backend (Meta's `biz_opaque_callback_data`). A provider
     * that cannot (Twilio) says false: its statuses find the message by the provider id returned at send, and its
     * observed requests carry `messageId: null`. Default true.
     */
    readonly passesMessageId?: boolean
    /** A provider id of an inbound message, for `markRead` (default `wamid.CONFORMANCE`). */
    readonly inboundMessageId?: string
  }
>() {}

export interface GatewayConformanceOptions {
  /**
   * The adapter retries transient failures within its budget, so one scripted `ProviderUnavailable` is followed by
   * a second request that succeeds. An adapter without retries (a fake) may surface the error instead.
   */
  readonly retriesTransientFailures?: boolean
  /** Per-test timeout (default 30 seconds). */
  readonly timeout?: Duration.DurationInput
}

const customer = CustomerIdentity.byPhone(E164.make("+15550001111"))

const messageId = (n: number) => MessageId.make(`00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`)

const template: BoundTemplate = {
  name: "conformance_order_update",
  language: "en_US",
  components: [
    {
      type: "body",
      parameters: [
        { type: "text", text: "Ada" },
        { type: "text", text: "A-1001" }
      ]
    },
    { type: "button", subType: "url", index: 0, parameters: [{ type: "text", text: "A-1001" }] }
  ],
  renderedText: "Hi Ada, order A-1001 has shipped."
}

/** Final refusals: never retried, so exactly one request reaches the backend. */
const finalFailures: ReadonlyArray<Exclude<ScriptedFailure, "ProviderRateLimited" | "ProviderUnavailable">> = [
  "ProviderWindowClosed",
  "RecipientInvalid",
  "TemplateRejected",
  "ProviderRejected",
  "ProviderMisconfigured",
  "ProviderOutcomeUnknown"
]

export const runGatewayConformance = <E>(
  name: string,
  harness: Layer.Layer<GatewayHarness | MessagingGateway, E>,
  options: GatewayConformanceOptions = {}
): void => {
  const timeout = Duration.decode(options.timeout ?? Duration.seconds(30))
  layer(harness, { excludeTestServices: true, timeout })(`MessagingGateway conformance: ${name}`, (it) => {
    const setup = Effect.gen(function* () {
      const backend = yield* GatewayHarness
      const gateway = yield* MessagingGateway
      yield* backend.reset
      const sendText = (n: number) =>
        gateway.sendText({ from: backend.from, to: customer, messageId: messageId(n), text: `conformance ${n}` })
      const sendTemplate = (n: number) =>
        gateway.sendTemplate({
          from: backend.from,
          to: customer,
          messageId: messageId(n),
          template: backend.template ?? template
        })
      /** Our message id as the backend must see it. */
      const observedId = (n: number) => (backend.passesMessageId === false ? null : messageId(n))
      return { backend, gateway, sendText, sendTemplate, observedId }
    })

    const assertAccepted = (accepted: Accepted) => {
      assert.isString(accepted.providerMessageId)
      assert.isAbove(accepted.providerMessageId.length, 0)
      assert.isTrue(accepted.recipientWaId === null || typeof accepted.recipientWaId === "string")
    }

    it.effect("accepts a text, answers the provider's id, and passes our message id along", () =>
      Effect.gen(function* () {
        const { backend, sendText, observedId } = yield* setup
        assertAccepted(yield* sendText(1))
        const requests = yield* backend.requests
        assert.deepStrictEqual(requests, [{ operation: "sendText", messageId: observedId(1) }])
      })
    )

    it.effect("accepts a template and passes our message id along", () =>
      Effect.gen(function* () {
        const { backend, sendTemplate, observedId } = yield* setup
        assertAccepted(yield* sendTemplate(2))
        assert.deepStrictEqual(yield* backend.requests, [{ operation: "sendTemplate", messageId: observedId(2) }])
      })
    )

    it.effect("gives every accepted message its own provider id, also when sent concurrently", () =>
      Effect.gen(function* () {
        const { backend, sendText } = yield* setup
        const accepted = yield* Effect.forEach([10, 11, 12, 13, 14, 15], sendText, { concurrency: "unbounded" })
        accepted.forEach(assertAccepted)
        assert.strictEqual(new Set(accepted.map((a) => a.providerMessageId)).size, accepted.length)
        assert.strictEqual((yield* backend.requests).length, accepted.length)
      })
    )

    it.effect("marks a message read", () =>
      Effect.gen(function* () {
        const { backend, gateway } = yield* setup
        yield* gateway.markRead({
          from: backend.from,
          providerMessageId: backend.inboundMessageId ?? "wamid.CONFORMANCE"
        })
        const requests = yield* backend.requests
        assert.deepStrictEqual(
          requests.map((r) => r.operation),
          ["markRead"]
        )
      })
    )

    for (const failure of finalFailures) {
      it.effect(`surfaces ${failure} and never resends (exactly one request)`, () =>
        Effect.gen(function* () {
          const { backend, sendText, sendTemplate } = yield* setup
          yield* backend.script(failure, "always")
          const result = yield* Effect.either(failure === "TemplateRejected" ? sendTemplate(20) : sendText(20))
          assert.isTrue(Either.isLeft(result), "the send must fail")
          if (Either.isLeft(result)) assert.strictEqual(result.left._tag, failure)
          assert.strictEqual((yield* backend.requests).length, 1)
        })
      )
    }

    it.effect("surfaces ProviderRateLimited with a retry-after once the limit persists", () =>
      Effect.gen(function* () {
        const { backend, sendText } = yield* setup
        yield* backend.script("ProviderRateLimited", "always")
        const error = yield* Effect.flip(sendText(30))
        assert.strictEqual(error._tag, "ProviderRateLimited")
        if (error._tag === "ProviderRateLimited") {
          assert.isTrue(Number.isInteger(error.retryAfterSeconds) && error.retryAfterSeconds >= 0)
        }
        assert.isAtLeast((yield* backend.requests).length, 1)
      })
    )

    it.effect("surfaces ProviderUnavailable once transient failures persist", () =>
      Effect.gen(function* () {
        const { backend, sendText } = yield* setup
        yield* backend.script("ProviderUnavailable", "always")
        const error = yield* Effect.flip(sendText(40))
        assert.strictEqual(error._tag, "ProviderUnavailable")
        assert.isAtLeast((yield* backend.requests).length, 1)
      })
    )

    it.effect("recovers from a single transient failure", () =>
      Effect.gen(function* () {
        const { backend, sendText, observedId } = yield* setup
        yield* backend.script("ProviderUnavailable", 1)
        const result = yield* Effect.either(sendText(50))
        const requests = yield* backend.requests
        if (options.retriesTransientFailures === true) {
          assert.isTrue(Either.isRight(result), "a retrying adapter must succeed on the second request")
          if (Either.isRight(result)) assertAccepted(result.right)
          assert.strictEqual(requests.length, 2)
          assert.isTrue(requests.every((r) => r.messageId === observedId(50)))
        } else if (Either.isLeft(result)) {
          assert.strictEqual(result.left._tag, "ProviderUnavailable")
        } else {
          assertAccepted(result.right)
        }
      })
    )

    it.effect("sends normally again once a scripted failure is used up", () =>
      Effect.gen(function* () {
        const { backend, sendText } = yield* setup
        yield* backend.script("ProviderWindowClosed", 1)
        const first = yield* Effect.flip(sendText(60))
        assert.strictEqual(first._tag, "ProviderWindowClosed")
        assertAccepted(yield* sendText(61))
        assert.strictEqual((yield* backend.requests).length, 2)
      })
    )
  })
}
