/**
 * A `MessagingGateway` for tests: records every send, answers with made-up provider ids, and can be told to fail
 * in each typed way or to hold sends until released (to make concurrent requests overlap deterministically).
 */
import { Chunk, Context, Effect, Layer, Ref, Stream } from "effect"
import { MediaGone } from "../Media.js"
import {
  type Accepted,
  type GatewayError,
  MessagingGateway,
  type SendMedia,
  type SendTemplate,
  type SendText
} from "../MessagingGateway.js"

export type FakeSend =
  | { readonly kind: "text"; readonly request: SendText }
  | { readonly kind: "template"; readonly request: SendTemplate }
  | { readonly kind: "media"; readonly request: SendMedia }

/** A file the fake provider holds. */
export interface FakeMedia {
  readonly mimeType: string
  readonly bytes: Uint8Array
  /** What the provider says the SHA-256 is (null: it says nothing). */
  readonly sha256: string | null
  readonly filename: string | null
}

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
    /** Gives the fake provider a file (as if a customer had sent it) under `providerMediaId`. */
    readonly putMedia: (providerMediaId: string, media: FakeMedia) => Effect.Effect<void>
    /** Files the fake holds, uploads included, by media id. */
    readonly media: Effect.Effect<ReadonlyMap<string, FakeMedia>>
    /** The provider forgets the file (its retention passed): fetching it fails with `MediaGone`. */
    readonly expireMedia: (providerMediaId: string) => Effect.Effect<void>
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
  const files = yield* Ref.make<ReadonlyMap<string, FakeMedia>>(new Map())
  const putMedia = (id: string, media: FakeMedia) => Ref.update(files, (all) => new Map(all).set(id, media))

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
    sendMedia: (request) => send({ kind: "media", request }),
    fetchMedia: ({ providerMediaId }) =>
      Effect.gen(function* () {
        const failure = yield* nextFailure
        if (failure !== null) return yield* Effect.fail(failure)
        const file = (yield* Ref.get(files)).get(providerMediaId)
        if (file === undefined) return yield* Effect.fail(new MediaGone({ providerMediaId }))
        return {
          mimeType: file.mimeType,
          sizeBytes: file.bytes.length,
          sha256: file.sha256,
          body: Stream.succeed(file.bytes)
        }
      }),
    uploadMedia: (request) =>
      Effect.gen(function* () {
        const failure = yield* nextFailure
        if (failure !== null) return yield* Effect.fail(failure)
        const chunks = yield* Stream.runCollect(request.body)
        const bytes = new Uint8Array(Chunk.reduce(chunks, 0, (n, c) => n + c.length))
        let offset = 0
        for (const chunk of chunks) {
          bytes.set(chunk, offset)
          offset += chunk.length
        }
        const n = yield* Ref.updateAndGet(counter, (i) => i + 1)
        const providerMediaId = String(9_000_000_000 + n)
        yield* putMedia(providerMediaId, {
          mimeType: request.mimeType,
          bytes,
          sha256: null,
          filename: request.filename
        })
        return { providerMediaId }
      }),
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
    putMedia,
    media: Ref.get(files),
    expireMedia: (id) =>
      Ref.update(files, (all) => {
        const next = new Map(all)
        next.delete(id)
        return next
      }),
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
