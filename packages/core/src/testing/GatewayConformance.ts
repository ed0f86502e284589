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
import { Chunk, Context, Duration, Effect, Either, type Layer, Stream } from "effect"
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
  readonly operation: "sendText" | "sendTemplate" | "sendMedia" | "markRead"
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
    /**
     * The backend's files, when the adapter opens and uploads media: `put` gives the backend a file as if a customer
     * had sent it (answering its media id), `expire` makes it forget one. Without it (an adapter that cannot open or
     * upload files yet), the suite checks that those operations fail with a typed error instead.
     */
    readonly media?: {
      readonly put: (file: { readonly mimeType: string; readonly bytes: Uint8Array }) => Effect.Effect<string>
      readonly expire: (providerMediaId: string) => Effect.Effect<void>
    }
    /** Whether the provider sends media by an uploaded media id as well as by link (Meta: yes). Default true. */
    readonly sendsMediaById?: boolean
    /**
     * Whether the adapter uploads files, when it opens them (`media` given). Twilio downloads a customer's media but
     * has no upload for WhatsApp sends: it says false, and the suite checks uploads fail with a typed error. Default
     * true.
     */
    readonly uploadsMedia?: boolean
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

    const collect = (stream: Stream.Stream<Uint8Array, unknown>) =>
      Effect.map(Stream.runCollect(stream), (chunks) => {
        const all = Chunk.toReadonlyArray(chunks)
        const out = new Uint8Array(all.reduce((n, c) => n + c.length, 0))
        let offset = 0
        for (const chunk of all) {
          out.set(chunk, offset)
          offset += chunk.length
        }
        return out
      })

    const file = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 7) % 256)

    it.scoped("opens a file it holds: its bytes, type and size", () =>
      Effect.gen(function* () {
        const { backend, gateway } = yield* setup
        if (backend.media === undefined) {
          const error = yield* Effect.flip(gateway.fetchMedia({ from: backend.from, providerMediaId: "1" }))
          assert.isString(error._tag)
          return
        }
        const id = yield* backend.media.put({ mimeType: "application/pdf", bytes: file })
        const opened = yield* gateway.fetchMedia({ from: backend.from, providerMediaId: id })
        assert.strictEqual(opened.mimeType, "application/pdf")
        assert.isTrue(opened.sizeBytes === null || opened.sizeBytes === file.length)
        assert.deepStrictEqual(yield* collect(opened.body), file)
      })
    )

    it.scoped("answers MediaGone for a file it no longer holds", () =>
      Effect.gen(function* () {
        const { backend, gateway } = yield* setup
        if (backend.media === undefined) return
        const id = yield* backend.media.put({ mimeType: "image/png", bytes: file.subarray(0, 100) })
        yield* backend.media.expire(id)
        const error = yield* Effect.flip(gateway.fetchMedia({ from: backend.from, providerMediaId: id }))
        assert.strictEqual(error._tag, "MediaGone")
      })
    )

    it.scoped("uploads a file and answers an id it can then open (or refuses uploads with a typed error)", () =>
      Effect.gen(function* () {
        const { backend, gateway } = yield* setup
        const upload = gateway.uploadMedia({
          from: backend.from,
          mimeType: "image/jpeg",
          filename: "photo.jpg",
          sizeBytes: file.length,
          body: Stream.fromIterable([file.subarray(0, 1000), file.subarray(1000)])
        })
        if (backend.media === undefined || backend.uploadsMedia === false) {
          assert.strictEqual((yield* Effect.flip(upload))._tag, "ProviderRejected")
          return
        }
        const { providerMediaId } = yield* upload
        assert.isAbove(providerMediaId.length, 0)
        const opened = yield* gateway.fetchMedia({ from: backend.from, providerMediaId })
        assert.deepStrictEqual(yield* collect(opened.body), file)
      })
    )

    it.effect("sends media by link (and by id where the provider takes ids), passing our message id along", () =>
      Effect.gen(function* () {
        const { backend, gateway, observedId } = yield* setup
        assertAccepted(
          yield* gateway.sendMedia({
            from: backend.from,
            to: customer,
            messageId: messageId(71),
            media: { kind: "image", link: "https://example.com/parcel.jpg", caption: "your parcel" }
          })
        )
        const byId = gateway.sendMedia({
          from: backend.from,
          to: customer,
          messageId: messageId(70),
          media: { kind: "document", providerMediaId: "1834915043569604", filename: "invoice.pdf", caption: "A-1" }
        })
        if (backend.sendsMediaById === false) {
          assert.strictEqual((yield* Effect.flip(byId))._tag, "ProviderRejected")
          assert.deepStrictEqual(yield* backend.requests, [{ operation: "sendMedia", messageId: observedId(71) }])
          return
        }
        assertAccepted(yield* byId)
        assert.deepStrictEqual(yield* backend.requests, [
          { operation: "sendMedia", messageId: observedId(71) },
          { operation: "sendMedia", messageId: observedId(70) }
        ])
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
