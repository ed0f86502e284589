/**
 * The storage contract for statuses applied a batch at a time (`MessageRepository.applyStatuses`, a webhook
 * delivery's statuses): each outcome is what `applyStatus` answers for the same update after the ones before it,
 * whether the message is known, unknown (parked), or found by the message id the provider echoed; and the events
 * the batch records (in one statement on SQL) are the ones applying the updates one by one records: the same types,
 * messages and per-conversation sequences.
 */
import { assert, type Vitest } from "@effect/vitest"
import { Duration, Effect, FastCheck, Option, Schedule } from "effect"
import { ConversationRepository } from "../../ConversationRepository.js"
import { EventLog } from "../../EventLog.js"
import { type Ids, type MessageId, nextConversationId, nextMessageId } from "../../Ids.js"
import { DeliveryFailure, type DeliveryStatus, type Message } from "../../Message.js"
import { MessageRepository, type StatusApplied, type StatusUpdate } from "../../MessageRepository.js"
import type { E164 } from "../../Phone.js"
import type { StorageSeeder } from "../StorageSeeder.js"
import * as TestData from "../TestData.js"

/**
 * An adapter that also provides `EventLog` (the transactional outbox; see `runEventLogContract`) has its batch's
 * events checked against one by one as well; an embedder's own storage without events still passes the rest.
 */
export type StatusBatchesPorts = MessageRepository | ConversationRepository | StorageSeeder | Ids

type It = Vitest.MethodsNonLive<StatusBatchesPorts, true>

let phones = 0
const phone = (): E164 => TestData.phone(`4479${String(++phones).padStart(9, "0")}`)
let runs = 0

type Reported = Exclude<DeliveryStatus, "pending">

const update = (providerMessageId: string, status: Reported, extra: Partial<StatusUpdate> = {}): StatusUpdate => ({
  providerMessageId,
  status,
  timestamp: TestData.at(5),
  failure: Option.none(),
  messageId: Option.none(),
  ...extra
})

/** An outbound message of a fresh conversation, `pending`; `sent` under `providerMessageId` when one is given. */
const outbound = (tenant: TestData.Tenant, providerMessageId: string | null) =>
  Effect.gen(function* () {
    const conversations = yield* ConversationRepository
    const messages = yield* MessageRepository
    const conversation = yield* conversations.findOrCreate(
      TestData.conversation({
        id: yield* nextConversationId,
        businessId: tenant.businessId,
        whatsappNumberId: tenant.number.id,
        customerPhone: phone()
      })
    )
    const message = yield* messages.recordOutbound({
      message: TestData.message({
        id: yield* nextMessageId,
        businessId: tenant.businessId,
        conversationId: conversation.id,
        direction: "outbound",
        deliveryStatus: "pending",
        text: "Your order ships today.",
        createdAt: TestData.at(1)
      }),
      idempotencyKey: Option.none()
    })
    if (providerMessageId === null) return message
    return Option.getOrThrow(yield* messages.markSent(tenant.businessId, message.id, providerMessageId))
  })

/** What an outcome says, without the ids that differ between two tenants. */
const summary = (outcome: StatusApplied) =>
  outcome._tag === "Parked"
    ? { tag: outcome._tag }
    : {
        tag: outcome._tag,
        status: outcome.message.deliveryStatus,
        failure: outcome.message.failure,
        providerMessageId: outcome.message.providerMessageId
      }

const stored = (message: Message) =>
  Effect.flatMap(MessageRepository, (messages) =>
    Effect.map(messages.findById(message.businessId, message.id), (found) => {
      const m = Option.getOrThrow(found)
      return { status: m.deliveryStatus, failure: m.failure, providerMessageId: m.providerMessageId }
    })
  )

/** A fresh conversation of the tenant: recorded after everything else, it marks the end of a run in the feed. */
const newConversation = (tenant: TestData.Tenant) =>
  Effect.gen(function* () {
    const conversations = yield* ConversationRepository
    return yield* conversations.findOrCreate(
      TestData.conversation({
        id: yield* nextConversationId,
        businessId: tenant.businessId,
        whatsappNumberId: tenant.number.id,
        customerPhone: phone()
      })
    )
  })

/**
 * The events of `messages`' conversations, with their ids replaced by the messages' indexes (two tenants' runs
 * differ only in ids), in per-conversation sequence order. Read once the feed serves `end`'s `conversation.created`:
 * everything recorded before it is servable then too (a SQL feed holds back rows of transactions still running).
 */
const eventsOf = (log: EventLog["Type"], tenant: TestData.Tenant, messages: ReadonlyArray<Message>, end: string) =>
  Effect.gen(function* () {
    const rows = yield* log.read(tenant.businessId, { after: Option.none(), limit: 10_000 }).pipe(
      Effect.filterOrFail(
        (all) => all.some(({ event }) => event.conversationId === end),
        () => "not yet"
      ),
      Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo(Duration.seconds(30)))),
      Effect.orElse(() => log.read(tenant.businessId, { after: Option.none(), limit: 10_000 }))
    )
    const conversationIndex = new Map(messages.map((m, i) => [m.conversationId as string, i]))
    const messageIndex = new Map(messages.map((m, i) => [m.id as string, i]))
    return rows
      .flatMap(({ event }) => {
        const conversation = event.conversationId === null ? undefined : conversationIndex.get(event.conversationId)
        if (conversation === undefined) return []
        const message =
          event.type === "message.received" || event.type === "message.sent" || event.type === "message.status_updated"
            ? {
                ...event.data.message,
                id: messageIndex.get(event.data.message.id) ?? -1,
                conversationId: conversation
              }
            : null
        return [{ conversation, sequence: event.sequence, type: event.type, message }]
      })
      .sort((x, y) => x.conversation - y.conversation || (x.sequence ?? 0) - (y.sequence ?? 0))
  })

const undeliverable = new DeliveryFailure({ code: 131026, title: "Message undeliverable" })

/** Registers these cases on the contract's `it` (storage ports, seeder and ids provided). */
export const statusBatchesContract = (it: It): void => {
  it.effect("MessageRepository.applyStatuses judges each update in order, as applyStatus would one by one", () =>
    Effect.gen(function* () {
      const messages = yield* MessageRepository
      const run = ++runs
      const tenant = yield* TestData.seedTenant()
      const a = yield* outbound(tenant, `wamid.SB${run}.A`)
      const b = yield* outbound(tenant, `wamid.SB${run}.B`)
      const outcomes = yield* messages.applyStatuses(tenant.businessId, [
        update(`wamid.SB${run}.A`, "delivered"),
        update(`wamid.SB${run}.B`, "read"),
        update(`wamid.SB${run}.A`, "sent"),
        update(`wamid.SB${run}.A`, "read"),
        update(`wamid.SB${run}.B`, "delivered"),
        update(`wamid.SB${run}.A`, "failed", { failure: Option.some(undeliverable) }),
        update(`wamid.SB${run}.A`, "read"),
        update(`wamid.SB${run}.B`, "read")
      ])
      assert.deepStrictEqual(
        outcomes.map((o) => [o._tag, o._tag === "Parked" ? null : o.message.deliveryStatus]),
        [
          ["Applied", "delivered"],
          ["Applied", "read"],
          ["Unchanged", "delivered"],
          ["Applied", "read"],
          ["Unchanged", "read"],
          ["Applied", "failed"],
          ["Unchanged", "failed"],
          ["Unchanged", "read"]
        ]
      )
      const failed = outcomes[5]
      assert.isTrue(failed !== undefined && failed._tag === "Applied")
      if (failed?._tag === "Applied") {
        assert.deepStrictEqual(failed.message, Option.getOrThrow(yield* messages.findById(tenant.businessId, a.id)))
      }
      assert.deepStrictEqual(yield* stored(a), {
        status: "failed",
        failure: undeliverable,
        providerMessageId: `wamid.SB${run}.A`
      })
      assert.deepStrictEqual(yield* stored(b), { status: "read", failure: null, providerMessageId: `wamid.SB${run}.B` })
      assert.deepStrictEqual(yield* messages.applyStatuses(tenant.businessId, []), [])
    })
  )

  it.effect("MessageRepository.applyStatuses parks a status ahead of its message; markSent applies it later", () =>
    Effect.gen(function* () {
      const messages = yield* MessageRepository
      const run = ++runs
      const tenant = yield* TestData.seedTenant()
      const known = yield* outbound(tenant, `wamid.SB${run}.K`)
      const early = `wamid.SB${run}.EARLY`
      const outcomes = yield* messages.applyStatuses(tenant.businessId, [
        update(early, "delivered"),
        update(`wamid.SB${run}.K`, "delivered"),
        update(early, "read")
      ])
      assert.deepStrictEqual(
        outcomes.map((o) => o._tag),
        ["Parked", "Applied", "Parked"]
      )
      assert.strictEqual((yield* stored(known)).status, "delivered")
      const later = yield* outbound(tenant, null)
      const sent = Option.getOrThrow(yield* messages.markSent(tenant.businessId, later.id, early))
      assert.strictEqual(sent.deliveryStatus, "read")
    })
  )

  it.effect("MessageRepository.applyStatuses links a message by the id the provider echoed, for the rest too", () =>
    Effect.gen(function* () {
      const messages = yield* MessageRepository
      const run = ++runs
      const tenant = yield* TestData.seedTenant()
      const pending = yield* outbound(tenant, null)
      const providerId = `wamid.SB${run}.ECHO`
      const outcomes = yield* messages.applyStatuses(tenant.businessId, [
        update(providerId, "sent", { messageId: Option.some(pending.id) }),
        update(providerId, "delivered"),
        update(providerId, "sent")
      ])
      assert.deepStrictEqual(outcomes.map(summary), [
        { tag: "Applied", status: "sent", failure: null, providerMessageId: providerId },
        { tag: "Applied", status: "delivered", failure: null, providerMessageId: providerId },
        { tag: "Unchanged", status: "delivered", failure: null, providerMessageId: providerId }
      ])
      assert.deepStrictEqual(yield* stored(pending), {
        status: "delivered",
        failure: null,
        providerMessageId: providerId
      })
    })
  )

  it.effect.prop(
    "MessageRepository.applyStatuses ends exactly where applying the same updates one by one ends",
    {
      items: FastCheck.array(
        FastCheck.record({
          // 0–2: sent messages; 3: a message not sent yet (its statuses park, or link it when they echo its id).
          message: FastCheck.integer({ min: 0, max: 3 }),
          status: FastCheck.constantFrom<Reported>("sent", "delivered", "read", "failed"),
          echo: FastCheck.boolean(),
          withReason: FastCheck.boolean()
        }),
        { maxLength: 20 }
      )
    },
    ({ items }) =>
      Effect.gen(function* () {
        const messages = yield* MessageRepository
        const run = ++runs
        const providerIdOf = (i: number) => `wamid.SBP${run}.${i}`
        const setUp = Effect.gen(function* () {
          const tenant = yield* TestData.seedTenant()
          const sent = [
            yield* outbound(tenant, providerIdOf(0)),
            yield* outbound(tenant, providerIdOf(1)),
            yield* outbound(tenant, providerIdOf(2)),
            yield* outbound(tenant, null)
          ]
          const updates = items.map((item) =>
            update(providerIdOf(item.message), item.status, {
              failure: item.status === "failed" && item.withReason ? Option.some(undeliverable) : Option.none(),
              messageId: item.echo ? Option.some(sent[item.message]?.id as MessageId) : Option.none()
            })
          )
          return { tenant, sent, updates }
        })
        const batched = yield* setUp
        const oneByOne = yield* setUp
        const inBatch = yield* messages.applyStatuses(batched.tenant.businessId, batched.updates)
        const single: Array<StatusApplied> = []
        for (const u of oneByOne.updates) single.push(yield* messages.applyStatus(oneByOne.tenant.businessId, u))
        assert.deepStrictEqual(inBatch.map(summary), single.map(summary))
        for (let i = 0; i < 4; i++) {
          const x = batched.sent[i]
          const y = oneByOne.sent[i]
          if (x !== undefined && y !== undefined) assert.deepStrictEqual(yield* stored(x), yield* stored(y))
        }
        const batchedEnd = yield* newConversation(batched.tenant)
        const oneByOneEnd = yield* newConversation(oneByOne.tenant)
        const log = yield* Effect.serviceOption(EventLog)
        if (Option.isSome(log)) {
          const batchEvents = yield* eventsOf(log.value, batched.tenant, batched.sent, batchedEnd.id)
          const singleEvents = yield* eventsOf(log.value, oneByOne.tenant, oneByOne.sent, oneByOneEnd.id)
          assert.deepStrictEqual(batchEvents, singleEvents)
          // Not vacuous: every applied update recorded a status event (besides markSent's for the three sent).
          const applied = single.filter((o) => o._tag === "Applied").length
          assert.strictEqual(batchEvents.filter((e) => e.type === "message.status_updated").length, applied + 3)
        }
      }),
    { timeout: 120_000, fastCheck: { numRuns: 25 } }
  )
}
