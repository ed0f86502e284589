/**
 * A `MessagingGateway` for tests: records every send, answers with made-up provider ids, and can be told to fail
 * in each typed way or to hold sends until released (to make concurrent requests overlap deterministically).
 */
import { Context, Effect, Layer, Ref } from "effect"
import {
  type Accepted,
  type GatewayError,
  MessagingGateway,
  type SendTemplate,
  type SendText
} from "../MessagingGateway.js"

export type FakeSend =
  | { readonly kind: "text"; readonly request: SendText }
  | { readonly kind: "template"; readonly request: SendTemplate }

export interface FakeReadReceipt {
  readonly providerPhoneNumberId: string
  readonly providerMessageId: string
}

export class FakeGateway extends Context.Tag("@parley/core/testing/FakeGateway")<
  FakeGateway,
  {
    /** Every send the gateway was asked to make, in call order (including those it then failed). */
    readonly calls: Effect.Effect<ReadonlyArray<FakeSend>>
    /** Sends it accepted, with the provider ids it answered. */
    readonly accepted: Effect.Effect<ReadonlyArray<FakeSend & { readonly providerMessageId: string }>>
    readonly readReceipts: Effect.Effect<ReadonlyArray<FakeReadReceipt>>
    /** The next `times` calls (default 1) fail with `error`. */
    readonly failNext: (error: GatewayError, times?: number) => Effect.Effect<void>
    /** Every call fails with `error` until `reset`. */
    readonly failAlways: (error: GatewayError) => Effect.Effect<void>
    /** Calls wait (already counted in `calls`) until `release`. */
    readonly hold: Effect.Effect<void>
    readonly release: Effect.Effect<void>
    /** Forgets scripted failures and opens the gate; keeps the records. */
    readonly reset: Effect.Effect<void>
  }
>() {}

export const make = Effect.gen(function* () {
  const calls = yield* Ref.make<ReadonlyArray<FakeSend>>([])
  const accepted = yield* Ref.make<ReadonlyArray<FakeSend & { readonly providerMessageId: string }>>([])
  const receipts = yield* Ref.make<ReadonlyArray<FakeReadReceipt>>([])
  const scripted = yield* Ref.make<ReadonlyArray<GatewayError>>([])
  const always = yield* Ref.make<GatewayError | null>(null)
  const gate = yield* Effect.makeLatch(true)
  const counter = yield* Ref.make(0)

  const nextFailure = Effect.flatMap(Ref.get(always), (error) =>
    error !== null
      ? Effect.succeed<GatewayError | null>(error)
      : Ref.modify(scripted, (queue): [GatewayError | null, ReadonlyArray<GatewayError>] =>
          queue.length === 0 ? [null, queue] : [queue[0] ?? null, queue.slice(1)]
        )
  )

  const send = (call: FakeSend): Effect.Effect<Accepted, GatewayError> =>
    Effect.gen(function* () {
      yield* Ref.update(calls, (all) => [...all, call])
      yield* gate.await
      const failure = yield* nextFailure
      if (failure !== null) return yield* Effect.fail(failure)
      const n = yield* Ref.updateAndGet(counter, (i) => i + 1)
      const providerMessageId = `wamid.FAKE${n.toString().padStart(8, "0")}`
      yield* Ref.update(accepted, (all) => [...all, { ...call, providerMessageId }])
      return {
        providerMessageId,
        recipientWaId: call.request.to.phone._tag === "Some" ? call.request.to.phone.value.slice(1) : null
      }
    })

  const gateway = MessagingGateway.of({
    sendText: (request) => send({ kind: "text", request }),
    sendTemplate: (request) => send({ kind: "template", request }),
    markRead: ({ from, providerMessageId }) =>
      Effect.flatMap(nextFailure, (failure) =>
        failure !== null
          ? Effect.fail(failure)
          : Ref.update(receipts, (all) => [
              ...all,
              { providerPhoneNumberId: from.providerPhoneNumberId, providerMessageId }
            ])
      )
  })

  const control = FakeGateway.of({
    calls: Ref.get(calls),
    accepted: Ref.get(accepted),
    readReceipts: Ref.get(receipts),
    failNext: (error, times = 1) =>
      Ref.update(scripted, (queue) => [...queue, ...Array.from({ length: times }, () => error)]),
    failAlways: (error) => Ref.set(always, error),
    hold: gate.close,
    release: gate.open,
    reset: Effect.all([Ref.set(scripted, []), Ref.set(always, null), gate.open], { discard: true })
  })

  return { gateway, control }
})

export const layer: Layer.Layer<MessagingGateway | FakeGateway> = Layer.effectContext(
  Effect.map(make, ({ control, gateway }) =>
    Context.make(MessagingGateway, gateway).pipe(Context.add(FakeGateway, control))
  )
)
