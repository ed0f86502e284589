/**
 * The Inbox's rules as properties, against the core alone (memory adapters, fake gateway, TestClock).
 */
import { assert, describe, it } from "@effect/vitest"
import { DateTime, Effect, Either, FastCheck, Fiber, Option } from "effect"
import { allScopes, type Scope } from "../src/Actor.js"
import { CustomerIdentity } from "../src/Customer.js"
import { Inbox, type SendReceipt } from "../src/Inbox.js"
import { FakeGateway, TestData } from "../src/testing/index.js"
import { actorOf, layer, notBefore, seedWithTemplate, setNow } from "./world.js"

const minute = 60_000
const day = 24 * 60 * minute

describe("Inbox properties", () => {
  it.effect.prop(
    "the window is open iff the newest customer message is under 24 h old, whatever the arrival order",
    {
      offsets: FastCheck.array(FastCheck.integer({ min: 0, max: 3 * day }), { minLength: 1, maxLength: 8 }),
      arrival: FastCheck.func(FastCheck.integer()),
      nowOffset: FastCheck.integer({ min: 0, max: 4 * day })
    },
    ({ offsets, arrival, nowOffset }) =>
      Effect.gen(function* () {
        const inbox = yield* Inbox
        const gateway = yield* FakeGateway.FakeGateway
        const tenant = yield* TestData.seedTenant()
        const messages = offsets
          .map((offset, i) =>
            TestData.inboundText({
              providerMessageId: `wamid.P${i}`,
              timestamp: DateTime.add(TestData.epoch, { millis: offset })
            })
          )
          .sort((a, b) => arrival(a.providerMessageId) - arrival(b.providerMessageId))
        yield* notBefore(DateTime.add(TestData.epoch, { millis: Math.max(...offsets) }))
        const results = yield* inbox.receiveInbound(tenant.number, messages)
        const first = results[0]
        if (first?._tag !== "Recorded") return assert.fail("first message not recorded")
        const conversationId = first.conversation.id
        yield* setNow(DateTime.add(TestData.epoch, { millis: nowOffset }))
        const newest = Math.max(...offsets)
        const open = nowOffset - newest < day
        const detail = yield* inbox.getConversation(actorOf(tenant), conversationId)
        assert.strictEqual(Option.isSome(detail.windowClosesAt), open)
        const sent = yield* Effect.either(inbox.sendText(actorOf(tenant), conversationId, { text: "reply" }))
        const calls = yield* gateway.calls
        if (open) {
          assert.isTrue(Either.isRight(sent))
          assert.strictEqual(calls.length, 1)
        } else {
          assert.isTrue(Either.isLeft(sent) && sent.left._tag === "ServiceWindowClosed")
          assert.strictEqual(calls.length, 0)
        }
      }).pipe(Effect.provide(layer))
  )

  it.effect.prop(
    "template sends ignore the window",
    {
      lastInbound: FastCheck.option(FastCheck.integer({ min: 0, max: 10 * day })),
      now: FastCheck.integer({ min: 0, max: 20 * day })
    },
    ({ lastInbound, now }) =>
      Effect.gen(function* () {
        const inbox = yield* Inbox
        const tenant = yield* seedWithTemplate
        if (lastInbound !== null) {
          yield* notBefore(DateTime.add(TestData.epoch, { millis: lastInbound }))
          yield* inbox.receiveInbound(tenant.number, [
            TestData.inboundText({
              providerMessageId: "wamid.T",
              timestamp: DateTime.add(TestData.epoch, { millis: lastInbound })
            })
          ])
        }
        yield* setNow(DateTime.add(TestData.epoch, { millis: now }))
        const receipt = yield* inbox.sendTemplate(actorOf(tenant), {
          whatsappNumberId: tenant.number.id,
          phone: "+2348012345678",
          templateKey: "order_shipped",
          variables: { order_id: "1", eta: "soon" }
        })
        assert.strictEqual(receipt.outcome._tag, "Sent")
      }).pipe(Effect.provide(layer))
  )

  it.effect.prop(
    "N concurrent sends with one key call the provider once; every caller gets that outcome or InFlight",
    { n: FastCheck.integer({ min: 2, max: 30 }), template: FastCheck.boolean() },
    ({ n, template }) =>
      Effect.gen(function* () {
        const inbox = yield* Inbox
        const gateway = yield* FakeGateway.FakeGateway
        const tenant = yield* seedWithTemplate
        const [received] = yield* inbox.receiveInbound(tenant.number, [
          TestData.inboundText({ providerMessageId: "wamid.K", timestamp: TestData.epoch })
        ])
        if (received?._tag !== "Recorded") return assert.fail()
        yield* setNow(TestData.at(1))
        const actor = actorOf(tenant)
        const send: Effect.Effect<SendReceipt, { readonly _tag: string }> = template
          ? inbox.sendTemplate(
              actor,
              {
                whatsappNumberId: tenant.number.id,
                phone: "+2348012345678",
                templateKey: "order_shipped",
                variables: { order_id: "1", eta: "2" }
              },
              { idempotencyKey: "same-key" }
            )
          : inbox.sendText(actor, received.conversation.id, { text: "once" }, { idempotencyKey: "same-key" })
        yield* gateway.hold
        const fiber = yield* Effect.fork(
          Effect.all(
            Array.from({ length: n }, () => Effect.either(send)),
            { concurrency: "unbounded" }
          )
        )
        while ((yield* gateway.calls).length === 0) yield* Effect.yieldNow()
        for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
        yield* gateway.release
        const results = yield* Fiber.join(fiber)
        assert.strictEqual((yield* gateway.calls).length, 1)
        const outcomes = results.flatMap((r) => (Either.isRight(r) ? [r.right.outcome] : []))
        const errors = results.flatMap((r) => (Either.isLeft(r) ? [r.left._tag] : []))
        assert.isTrue(outcomes.length >= 1)
        for (const outcome of outcomes) assert.deepStrictEqual(outcome, outcomes[0])
        for (const tag of errors) assert.strictEqual(tag, "IdempotencyKeyInFlight")
        const replay = yield* send
        assert.isTrue(replay.replayed)
        assert.deepStrictEqual(replay.outcome, outcomes[0])
      }).pipe(Effect.provide(layer))
  )

  it.effect.prop(
    "in a two-business world, no use case returns or changes the other business's data",
    {
      steps: FastCheck.array(
        FastCheck.record({
          who: FastCheck.constantFrom("A" as const, "B" as const),
          op: FastCheck.constantFrom("receive", "sendText", "sendTemplate", "update", "markRead", "get", "list"),
          customer: FastCheck.integer({ min: 0, max: 2 }),
          target: FastCheck.integer({ min: 0, max: 5 })
        }),
        { minLength: 1, maxLength: 25 }
      )
    },
    ({ steps }) =>
      Effect.gen(function* () {
        const inbox = yield* Inbox
        const a = yield* seedWithTemplate
        const b = yield* seedWithTemplate
        const tenants = { A: a, B: b }
        const owned = { A: new Set<string>(), B: new Set<string>() }
        const known: Array<string> = []
        yield* setNow(TestData.at(0))
        let n = 0
        for (const step of steps) {
          const tenant = tenants[step.who]
          const actor = actorOf(tenant)
          const phone = TestData.phone(`1555000${step.who === "A" ? 1 : 2}00${step.customer}`)
          const target = known[step.target % Math.max(known.length, 1)]
          n++
          switch (step.op) {
            case "receive": {
              const [r] = yield* inbox.receiveInbound(tenant.number, [
                TestData.inboundText({
                  providerMessageId: `wamid.${step.who}${n}`,
                  timestamp: TestData.at(n),
                  customer: CustomerIdentity.byPhone(phone)
                })
              ])
              if (r?._tag === "Recorded") {
                owned[step.who].add(r.conversation.id)
                if (!known.includes(r.conversation.id)) known.push(r.conversation.id)
              }
              break
            }
            case "sendTemplate": {
              const r = yield* inbox.sendTemplate(actor, {
                whatsappNumberId: tenant.number.id,
                phone,
                templateKey: "order_shipped",
                variables: { order_id: "1", eta: "2" }
              })
              if (r.outcome._tag === "Sent") {
                const id = r.outcome.message.conversationId
                owned[step.who].add(id)
                if (!known.includes(id)) known.push(id)
              }
              break
            }
            default: {
              if (target === undefined) break
              if (step.op === "list") {
                const page = yield* inbox.listConversations(actor, {})
                for (const view of page.conversations) {
                  assert.isTrue(owned[step.who].has(view.conversation.id), "list leaked a conversation")
                  assert.strictEqual(view.conversation.businessId, tenant.businessId)
                }
                break
              }
              const attempt: Effect.Effect<unknown, { readonly _tag: string }> =
                step.op === "sendText"
                  ? inbox.sendText(actor, target, { text: "hi" })
                  : step.op === "update"
                    ? inbox.updateConversation(actor, target, { status: "resolved" })
                    : step.op === "markRead"
                      ? inbox.markRead(actor, target)
                      : inbox.getConversation(actor, target)
              const result = yield* Effect.either(attempt)
              if (!owned[step.who].has(target)) {
                assert.isTrue(
                  Either.isLeft(result) && result.left._tag === "ConversationNotFound",
                  `${step.op} reached another business's conversation`
                )
              }
            }
          }
        }
        // Whatever happened, each business still sees exactly its own conversations.
        for (const who of ["A", "B"] as const) {
          const page = yield* inbox.listConversations(actorOf(tenants[who]), { limit: 200 })
          assert.deepStrictEqual(page.conversations.map((v) => v.conversation.id).sort(), [...owned[who]].sort())
        }
      }).pipe(Effect.provide(layer))
  )

  const operations: ReadonlyArray<readonly [string, Scope]> = [
    ["listConversations", "messaging:conversations:read"],
    ["getConversation", "messaging:messages:read"],
    ["sendText", "messaging:messages:send"],
    ["sendTemplate", "messaging:messages:send"],
    ["updateConversation", "messaging:conversations:write"],
    ["markRead", "messaging:conversations:write"]
  ]

  it.effect.prop(
    "scope checks deny exactly the calls whose scope is missing",
    { scopes: FastCheck.subarray([...allScopes]) },
    ({ scopes }) =>
      Effect.gen(function* () {
        const inbox = yield* Inbox
        const tenant = yield* seedWithTemplate
        const [r] = yield* inbox.receiveInbound(tenant.number, [
          TestData.inboundText({ providerMessageId: "wamid.S", timestamp: TestData.epoch })
        ])
        if (r?._tag !== "Recorded") return assert.fail()
        yield* setNow(TestData.at(1))
        const id = r.conversation.id
        const actor = actorOf(tenant, scopes)
        for (const [name, scope] of operations) {
          const call: Effect.Effect<unknown, { readonly _tag: string }> =
            name === "listConversations"
              ? inbox.listConversations(actor, {})
              : name === "getConversation"
                ? inbox.getConversation(actor, id)
                : name === "sendText"
                  ? inbox.sendText(actor, id, { text: "hi" })
                  : name === "sendTemplate"
                    ? inbox.sendTemplate(actor, {
                        whatsappNumberId: tenant.number.id,
                        phone: "+2348012345678",
                        templateKey: "order_shipped",
                        variables: { order_id: "1", eta: "2" }
                      })
                    : name === "updateConversation"
                      ? inbox.updateConversation(actor, id, { mode: "ai" })
                      : inbox.markRead(actor, id)
          const result = yield* Effect.either(call)
          const denied = Either.isLeft(result) && result.left._tag === "MissingScope"
          assert.strictEqual(denied, !scopes.includes(scope), `${name} with [${scopes.join(", ")}]`)
          if (!denied) assert.isTrue(Either.isRight(result), `${name} failed otherwise`)
        }
      }).pipe(Effect.provide(layer))
  )
})
