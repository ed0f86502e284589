/**
 * Sends whose provider answer was lost converge: whatever statuses arrive, in whatever order, and whenever the
 * sweeper runs, the key's answer ends as the accepted send with the message as it stands (or, with no evidence
 * within the timeout, the message failed as `delivery_unconfirmed`), and the provider is never called twice.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, DateTime, Duration, Effect, FastCheck, Fiber, Layer, Option } from "effect"
import * as Idempotency from "../src/Idempotency.js"
import * as Ids from "../src/Ids.js"
import * as Inbox from "../src/Inbox.js"
import { advanceDeliveryStatus, DeliveryFailure, type DeliveryStatus } from "../src/Message.js"
import { MessageRepository, type StatusUpdate } from "../src/MessageRepository.js"
import { ProviderOutcomeUnknown } from "../src/MessagingGateway.js"
import { StorageError } from "../src/StorageError.js"
import { FakeGateway, MemoryStorage, TestData } from "../src/testing/index.js"
import { actorOf, setNow } from "./world.js"

const timeout = Duration.minutes(15)
const worldWith = (unconfirmedSendTimeout: Duration.DurationInput) =>
  Inbox.layer({ unconfirmedSendTimeout }).pipe(
    Layer.provideMerge(Layer.mergeAll(MemoryStorage.layer, FakeGateway.layer, Ids.layerSequential))
  )

type Settling = Exclude<DeliveryStatus, "pending">

/** A conversation whose customer wrote at the epoch, and a text sent at `sentAt` whose provider answer was lost. */
const unconfirmedSend = (sentAt: DateTime.Utc) =>
  Effect.gen(function* () {
    const inbox = yield* Inbox.Inbox
    const gateway = yield* FakeGateway.FakeGateway
    const tenant = yield* TestData.seedTenant()
    yield* setNow(TestData.epoch)
    const [received] = yield* inbox.receiveInbound(tenant.number, [
      TestData.inboundText({ providerMessageId: "wamid.IN", timestamp: TestData.epoch })
    ])
    if (received?._tag !== "Recorded") return yield* Effect.die("the customer's message was not recorded")
    yield* setNow(sentAt)
    yield* gateway.failNext(new ProviderOutcomeUnknown({ reason: "reset after the request was written" }))
    const actor = actorOf(tenant)
    const send = inbox.sendText(actor, received.conversation.id, { text: "Did it go?" }, { idempotencyKey: "k" })
    const first = yield* send
    const messageId = Option.getOrThrow(Idempotency.unconfirmedMessageId(first.outcome))
    assert.isFalse(first.replayed)
    return { tenant, send, messageId }
  })

const statusUpdate = (
  status: Settling,
  providerMessageId: string,
  messageId: Option.Option<Ids.MessageId>,
  failure: Option.Option<DeliveryFailure>
): StatusUpdate => ({ providerMessageId, status, timestamp: TestData.epoch, failure, messageId })

const settling: ReadonlyArray<Settling> = ["sent", "delivered", "read", "failed"]

describe("unconfirmed sends", () => {
  it.effect("502-equivalent first, then the status webhook settles it: the key answers Sent, replayed", () =>
    Effect.gen(function* () {
      const inbox = yield* Inbox.Inbox
      const gateway = yield* FakeGateway.FakeGateway
      const messages = yield* MessageRepository
      const { tenant, send, messageId } = yield* unconfirmedSend(TestData.at(1))
      const pending = yield* send
      assert.isTrue(pending.replayed)
      assert.strictEqual(pending.outcome._tag, "Refused")
      yield* inbox.applyDeliveryStatus(tenant.number, [
        statusUpdate("sent", "wamid.LOST", Option.some(messageId), Option.none())
      ])
      const settled = yield* send
      const stored = Option.getOrThrow(yield* messages.findById(tenant.businessId, messageId))
      assert.isTrue(settled.replayed)
      assert.deepStrictEqual(settled.outcome, new Idempotency.Sent({ message: stored }))
      assert.strictEqual(stored.providerMessageId, "wamid.LOST")
      // Later statuses show through: the answer is the message as it stands now.
      yield* inbox.applyDeliveryStatus(tenant.number, [
        statusUpdate("read", "wamid.LOST", Option.none(), Option.none())
      ])
      const later = yield* send
      if (later.outcome._tag !== "Sent") return assert.fail("expected Sent")
      assert.strictEqual(later.outcome.message.deliveryStatus, "read")
      assert.strictEqual(later.outcome.message.id, messageId)
      assert.strictEqual((yield* gateway.calls).length, 1)
    }).pipe(Effect.provide(worldWith(timeout)))
  )

  it.effect("a status that arrives while the answer is still awaited settles the first attempt itself: Sent", () =>
    Effect.gen(function* () {
      const inbox = yield* Inbox.Inbox
      const gateway = yield* FakeGateway.FakeGateway
      const tenant = yield* TestData.seedTenant()
      yield* setNow(TestData.epoch)
      const [received] = yield* inbox.receiveInbound(tenant.number, [
        TestData.inboundText({ providerMessageId: "wamid.IN", timestamp: TestData.epoch })
      ])
      if (received?._tag !== "Recorded") return assert.fail("the customer's message was not recorded")
      yield* gateway.failNext(new ProviderOutcomeUnknown({ reason: "read timeout after the request was written" }))
      yield* gateway.hold
      const send = inbox.sendText(
        actorOf(tenant),
        received.conversation.id,
        { text: "Quick?" },
        { idempotencyKey: "q" }
      )
      const fiber = yield* Effect.fork(send)
      let calls = yield* gateway.calls
      while (calls.length === 0) {
        yield* Effect.yieldNow()
        calls = yield* gateway.calls
      }
      const messageId = calls[0]!.request.messageId
      yield* inbox.applyDeliveryStatus(tenant.number, [
        statusUpdate("sent", "wamid.FAST", Option.some(messageId), Option.none())
      ])
      yield* gateway.release
      const first = yield* Fiber.join(fiber)
      assert.isFalse(first.replayed)
      if (first.outcome._tag !== "Sent") return assert.fail(`expected Sent, got ${first.outcome._tag}`)
      assert.strictEqual(first.outcome.message.id, messageId)
      assert.strictEqual(first.outcome.message.providerMessageId, "wamid.FAST")
      const replay = yield* send
      assert.isTrue(replay.replayed)
      assert.deepStrictEqual(replay.outcome, first.outcome)
      assert.strictEqual((yield* gateway.calls).length, 1)
    }).pipe(Effect.provide(worldWith(timeout)))
  )

  it.effect(
    "the provider accepted but recording it failed: unconfirmed, never released nor resent, then settled",
    () => {
      const store = MemoryStorage.makeStore()
      const memory = MemoryStorage.contextOf(store)
      const repository = Context.get(memory, MessageRepository)
      let broken = true
      const failingMarkSent = Layer.succeedContext(
        Context.add(
          memory,
          MessageRepository,
          MessageRepository.of({
            ...repository,
            markSent: (...args) =>
              broken
                ? Effect.fail(new StorageError({ operation: "markSent", reason: "connection terminated" }))
                : repository.markSent(...args)
          })
        )
      )
      const world = Inbox.layer().pipe(
        Layer.provideMerge(Layer.mergeAll(failingMarkSent, FakeGateway.layer, Ids.layerSequential))
      )
      return Effect.gen(function* () {
        const inbox = yield* Inbox.Inbox
        const gateway = yield* FakeGateway.FakeGateway
        const tenant = yield* TestData.seedTenant()
        yield* setNow(TestData.epoch)
        const [received] = yield* inbox.receiveInbound(tenant.number, [
          TestData.inboundText({ providerMessageId: "wamid.IN", timestamp: TestData.epoch })
        ])
        if (received?._tag !== "Recorded") return assert.fail("the customer's message was not recorded")
        const send = inbox.sendText(
          actorOf(tenant),
          received.conversation.id,
          { text: "Kept?" },
          { idempotencyKey: "m" }
        )
        const first = yield* send
        const messageId = Option.getOrThrow(Idempotency.unconfirmedMessageId(first.outcome))
        broken = false
        const retry = yield* send
        assert.deepStrictEqual([retry.replayed, retry.outcome._tag], [true, "Refused"])
        const [accepted] = yield* gateway.accepted
        if (accepted === undefined) return assert.fail("the provider accepted nothing")
        yield* inbox.applyDeliveryStatus(tenant.number, [
          statusUpdate("sent", accepted.providerMessageId, Option.some(messageId), Option.none())
        ])
        const settled = yield* send
        if (settled.outcome._tag !== "Sent") return assert.fail(`expected Sent, got ${settled.outcome._tag}`)
        assert.strictEqual(settled.outcome.message.providerMessageId, accepted.providerMessageId)
        assert.strictEqual((yield* gateway.calls).length, 1)
      }).pipe(Effect.provide(world))
    }
  )

  it.effect(
    "a caller interrupted mid-call (a client that went away) neither releases the key nor causes a resend",
    () =>
      Effect.gen(function* () {
        const inbox = yield* Inbox.Inbox
        const gateway = yield* FakeGateway.FakeGateway
        const tenant = yield* TestData.seedTenant()
        yield* setNow(TestData.epoch)
        const [received] = yield* inbox.receiveInbound(tenant.number, [
          TestData.inboundText({ providerMessageId: "wamid.IN", timestamp: TestData.epoch })
        ])
        if (received?._tag !== "Recorded") return assert.fail("the customer's message was not recorded")
        const send = inbox.sendText(
          actorOf(tenant),
          received.conversation.id,
          { text: "Bye?" },
          { idempotencyKey: "i" }
        )
        yield* gateway.hold
        const fiber = yield* Effect.fork(send)
        while ((yield* gateway.calls).length === 0) yield* Effect.yieldNow()
        // The provider has the request; the client disconnects.
        yield* Fiber.interrupt(fiber)
        yield* gateway.release
        let retry = yield* Effect.either(send)
        while (retry._tag === "Left" && retry.left._tag === "IdempotencyKeyInFlight") {
          yield* Effect.yieldNow()
          retry = yield* Effect.either(send)
        }
        if (retry._tag === "Left") return assert.fail(`expected a replay, got ${retry.left._tag}`)
        assert.isTrue(retry.right.replayed)
        assert.strictEqual(retry.right.outcome._tag, "Sent")
        assert.strictEqual((yield* gateway.calls).length, 1)
      }).pipe(Effect.provide(worldWith(timeout)))
  )

  it.effect.prop(
    "expiry: pending until timeout − 1 ms, failed as delivery_unconfirmed at exactly the timeout; never resent",
    {
      timeoutMillis: FastCheck.oneof(
        FastCheck.constantFrom(1, 2, 60_000, Duration.toMillis(timeout)),
        // Up to the shortest key retention (24 h): a key must outlive its send's timeout.
        FastCheck.integer({ min: 1, max: 24 * 3_600_000 })
      ),
      sentAfterMillis: FastCheck.integer({ min: 0, max: 3_600_000 })
    },
    ({ timeoutMillis, sentAfterMillis }) =>
      Effect.gen(function* () {
        const inbox = yield* Inbox.Inbox
        const gateway = yield* FakeGateway.FakeGateway
        const messages = yield* MessageRepository
        const sentAt = DateTime.add(TestData.epoch, { millis: sentAfterMillis })
        const { tenant, send, messageId } = yield* unconfirmedSend(sentAt)
        const status = () =>
          Effect.map(messages.findById(tenant.businessId, messageId), (m) => Option.getOrThrow(m).deliveryStatus)
        yield* setNow(DateTime.add(sentAt, { millis: timeoutMillis - 1 }))
        assert.strictEqual(yield* inbox.expireUnconfirmedSends(), 0)
        assert.strictEqual(yield* status(), "pending")
        const before = yield* send
        assert.deepStrictEqual([before.replayed, before.outcome._tag], [true, "Refused"])
        yield* setNow(DateTime.add(sentAt, { millis: timeoutMillis }))
        assert.strictEqual(yield* inbox.expireUnconfirmedSends(), 1)
        const failed = Option.getOrThrow(yield* messages.findById(tenant.businessId, messageId))
        assert.strictEqual(failed.deliveryStatus, "failed")
        assert.deepStrictEqual(failed.failure, Idempotency.unconfirmedExpiry)
        // Final: the key answers the failed message (not the 5xx), and another sweep changes nothing.
        const after = yield* send
        assert.isTrue(after.replayed)
        assert.deepStrictEqual(after.outcome, new Idempotency.Sent({ message: failed }))
        assert.strictEqual(yield* inbox.expireUnconfirmedSends(), 0)
        assert.deepStrictEqual((yield* send).outcome, after.outcome)
        assert.strictEqual((yield* gateway.calls).length, 1)
      }).pipe(Effect.provide(worldWith(Duration.millis(timeoutMillis)))),
    { timeout: 60_000 }
  )

  it.effect.prop(
    "any statuses in any order, with or without our id, with the sweeper at any point, converge",
    {
      updates: FastCheck.array(
        FastCheck.record({
          status: FastCheck.constantFrom(...settling),
          withOurId: FastCheck.boolean(),
          code: FastCheck.constantFrom(131026, 131047, 131049)
        }),
        { minLength: 0, maxLength: 8 }
      ),
      order: FastCheck.func(FastCheck.integer()),
      expireAt: FastCheck.option(FastCheck.nat(), { nil: undefined }),
      replays: FastCheck.array(FastCheck.nat({ max: 8 }), { maxLength: 4 })
    },
    ({ updates, order, expireAt, replays }) =>
      Effect.gen(function* () {
        const inbox = yield* Inbox.Inbox
        const gateway = yield* FakeGateway.FakeGateway
        const messages = yield* MessageRepository
        const sentAt = TestData.at(1)
        const { tenant, send, messageId } = yield* unconfirmedSend(sentAt)
        const shuffled = updates.map((u, i) => ({ ...u, i })).sort((a, b) => order(a.i) - order(b.i) || a.i - b.i)
        const expiryStep = expireAt === undefined ? undefined : expireAt % (shuffled.length + 1)

        // The model: statuses without our id wait (parked) until one with it links the provider id; the sweeper
        // fails the message only while it is still pending; `failed` is on top and terminal.
        let model: DeliveryStatus = "pending"
        let failedBy: "expiry" | "provider" | null = null
        let linked = false
        const raise = (status: Settling) => {
          if (status === "failed" && model !== "failed") failedBy = "provider"
          model = advanceDeliveryStatus(model, status)
        }
        const parked: Array<Settling> = []
        const expire = Effect.gen(function* () {
          yield* setNow(DateTime.addDuration(sentAt, timeout))
          const expired = yield* inbox.expireUnconfirmedSends()
          assert.strictEqual(expired, model === "pending" ? 1 : 0)
          if (model === "pending") {
            model = "failed"
            failedBy = "expiry"
          }
        })
        const replay = Effect.gen(function* () {
          const answer = yield* send
          const current = Option.getOrThrow(yield* messages.findById(tenant.businessId, messageId))
          assert.isTrue(answer.replayed)
          assert.strictEqual(current.deliveryStatus, model)
          if (model === "pending") assert.strictEqual(answer.outcome._tag, "Refused")
          else assert.deepStrictEqual(answer.outcome, new Idempotency.Sent({ message: current }))
        })

        for (let step = 0; step <= shuffled.length; step++) {
          if (step === expiryStep) yield* expire
          if (replays.includes(step)) yield* replay
          const update = shuffled[step]
          if (update === undefined) continue
          yield* inbox.applyDeliveryStatus(tenant.number, [
            statusUpdate(
              update.status,
              "wamid.SETTLED",
              update.withOurId ? Option.some(messageId) : Option.none(),
              update.status === "failed"
                ? Option.some(new DeliveryFailure({ code: update.code, title: "Message undeliverable" }))
                : Option.none()
            )
          ])
          if (update.withOurId || linked) {
            if (!linked) for (const p of parked.splice(0)) raise(p)
            linked = true
            raise(update.status)
          } else {
            parked.push(update.status)
          }
        }
        yield* replay
        if (expiryStep === undefined) yield* expire
        yield* replay
        const final = Option.getOrThrow(yield* messages.findById(tenant.businessId, messageId))
        assert.notStrictEqual(final.deliveryStatus, "pending")
        assert.strictEqual(final.failure === null ? null : final.failure.code === -1 ? "expiry" : "provider", failedBy)
        if (failedBy === "expiry") assert.deepStrictEqual(final.failure, Idempotency.unconfirmedExpiry)
        assert.strictEqual((yield* gateway.calls).length, 1)
      }).pipe(Effect.provide(worldWith(timeout))),
    { timeout: 60_000 }
  )
})
