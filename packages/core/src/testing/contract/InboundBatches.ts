/**
 * The storage contract for inbound messages recorded a batch at a time (`MessageRepository.recordInboundBatch`, one
 * or several webhook deliveries' messages): a batch ends exactly where recording its records one by one with
 * `recordInbound` ends. The same outcomes; the same conversations (a redelivery creates none, not even for a new
 * sender), with the same unread counts, names, status and times; the same messages; and, where the adapter records
 * events, the same events per conversation in the same sequence: `conversation.created` first, then one
 * `message.received` per recorded message, in arrival order. Senders are known or new, named by phone or by their
 * business-scoped user id only; provider ids repeat within the batch and repeat messages stored before it.
 */
import { assert, type Vitest } from "@effect/vitest"
import { DateTime, Duration, Effect, FastCheck, Option, Schedule } from "effect"
import type { Conversation } from "../../Conversation.js"
import { ConversationRepository } from "../../ConversationRepository.js"
import { BusinessScopedUserId, CustomerIdentity } from "../../Customer.js"
import { EventLog } from "../../EventLog.js"
import { type Ids, nextConversationId, nextMessageId } from "../../Ids.js"
import { type InboundRecord, MessageRepository } from "../../MessageRepository.js"
import type { E164 } from "../../Phone.js"
import type { StorageSeeder } from "../StorageSeeder.js"
import * as TestData from "../TestData.js"

/** Events are checked only where the adapter provides `EventLog`, as in the status batches' contract. */
export type InboundBatchesPorts = MessageRepository | ConversationRepository | StorageSeeder | Ids

type It = Vitest.MethodsNonLive<InboundBatchesPorts, true>

let runs = 0
let phones = 0
const phone = (): E164 => TestData.phone(`4478${String(++phones).padStart(9, "0")}`)

/** A sender: by phone (customers 0–2) or, like a WhatsApp username-only contact, by user id alone (customer 3). */
interface Sender {
  readonly phone: E164 | null
  readonly userId: BusinessScopedUserId | null
}

const identity = (sender: Sender) =>
  new CustomerIdentity({ phone: Option.fromNullable(sender.phone), userId: Option.fromNullable(sender.userId) }, true)

/** Registers these cases on the contract's `it` (storage ports, seeder and ids provided). */
export const inboundBatchesContract = (it: It): void => {
  it.effect(
    "MessageRepository.recordInboundBatch takes more senders than one statement's chunk (a round's batch)",
    () =>
      Effect.gen(function* () {
        const conversations = yield* ConversationRepository
        const messages = yield* MessageRepository
        const run = ++runs
        const tenant = yield* TestData.seedTenant()
        const candidate = (customerPhone: E164) =>
          Effect.map(nextConversationId, (id) =>
            TestData.conversation({
              id,
              businessId: tenant.businessId,
              whatsappNumberId: tenant.number.id,
              customerPhone,
              customerName: null,
              unreadCount: 0
            })
          )
        const record = (conversation: Conversation, i: number) =>
          Effect.map(
            nextMessageId,
            (id): InboundRecord => ({
              conversation,
              message: TestData.message({
                id,
                businessId: tenant.businessId,
                conversationId: conversation.id,
                providerMessageId: `wamid.IBL${run}.${i}`,
                createdAt: TestData.at(i % 60)
              }),
              customerName: Option.some(`Customer ${i}`),
              opensWindow: true
            })
          )
        // More senders than one statement's chunk, new and known, each writing twice.
        const known = yield* Effect.forEach(Array.from({ length: 5 }), () =>
          Effect.flatMap(candidate(phone()), conversations.findOrCreate)
        )
        const fresh = yield* Effect.forEach(Array.from({ length: 1_200 }), () => candidate(phone()))
        const everyone = [...known, ...fresh]
        const records = yield* Effect.forEach([...everyone, ...everyone], (c, i) => record(c, i))
        const outcomes = yield* messages.recordInboundBatch(records)
        assert.isTrue(outcomes.every((o) => o._tag === "Recorded"))
        const ids = new Set(outcomes.flatMap((o) => (o._tag === "Recorded" ? [o.conversation.id] : [])))
        assert.strictEqual(ids.size, everyone.length)
        for (const c of [...known, fresh[0], fresh[fresh.length - 1]]) {
          if (c === undefined) continue
          const stored = yield* conversations.findByCustomer(
            tenant.businessId,
            tenant.number.id,
            identity({ phone: c.customerPhone, userId: null })
          )
          assert.strictEqual(Option.getOrThrow(stored).unreadCount, 2)
        }
      }),
    { timeout: 120_000 }
  )

  it.effect.prop(
    "MessageRepository.recordInboundBatch records the rows and events recording one by one records",
    {
      // Customers 0 and 3 have a conversation before the batch; 1 and 2 are new. Messages 0–1 are stored before.
      items: FastCheck.array(
        FastCheck.record({
          customer: FastCheck.constantFrom(0 as const, 1 as const, 2 as const, 3 as const),
          message: FastCheck.integer({ min: 0, max: 7 }),
          minute: FastCheck.integer({ min: 0, max: 300 }),
          name: FastCheck.option(FastCheck.constantFrom("Ada", "Grace"), { nil: null }),
          opensWindow: FastCheck.boolean()
        }),
        { maxLength: 20 }
      )
    },
    ({ items }) =>
      Effect.gen(function* () {
        const conversations = yield* ConversationRepository
        const messages = yield* MessageRepository
        const run = ++runs
        const senders: readonly [Sender, Sender, Sender, Sender] = [
          { phone: phone(), userId: null },
          { phone: phone(), userId: null },
          { phone: phone(), userId: BusinessScopedUserId.make(`BR.IB${run}.2`) },
          { phone: null, userId: BusinessScopedUserId.make(`BR.IB${run}.3`) }
        ]
        const providerId = (i: number) => `wamid.IB${run}.${i}`
        /** A tenant with the state before the batch, and the batch's records for it. */
        const setUp = Effect.gen(function* () {
          const tenant = yield* TestData.seedTenant()
          const candidateOf = (sender: Sender, minute: number) =>
            Effect.map(nextConversationId, (id) =>
              TestData.conversation({
                id,
                businessId: tenant.businessId,
                whatsappNumberId: tenant.number.id,
                customerPhone: sender.phone,
                customerUserId: sender.userId,
                customerName: null,
                unreadCount: 0,
                lastActivityAt: TestData.at(minute)
              })
            )
          const record = (
            conversation: Conversation,
            message: number,
            minute: number,
            name: string | null,
            opens = true
          ) =>
            Effect.map(
              nextMessageId,
              (id): InboundRecord => ({
                conversation,
                message: TestData.message({
                  id,
                  businessId: tenant.businessId,
                  conversationId: conversation.id,
                  providerMessageId: providerId(message),
                  createdAt: TestData.at(minute)
                }),
                customerName: Option.fromNullable(name),
                opensWindow: opens
              })
            )
          const known0 = yield* conversations.findOrCreate(yield* candidateOf(senders[0], 0))
          const known3 = yield* conversations.findOrCreate(yield* candidateOf(senders[3], 0))
          yield* messages.recordInbound(yield* record(known0, 0, 1, "Before"))
          yield* messages.recordInbound(yield* record(known3, 1, 2, null))
          // One candidate per sender, as the inbox makes them: used only when storage has no conversation for it.
          const candidates = new Map<number, Conversation>()
          const records: Array<InboundRecord> = []
          for (const item of items) {
            const candidate = candidates.get(item.customer) ?? (yield* candidateOf(senders[item.customer], item.minute))
            candidates.set(item.customer, candidate)
            records.push(yield* record(candidate, item.message, item.minute, item.name, item.opensWindow))
          }
          return { tenant, records }
        })
        const batched = yield* setUp
        const single = yield* setUp
        const inBatch = yield* messages.recordInboundBatch(batched.records)
        const oneByOne = yield* Effect.forEach(single.records, (r) => messages.recordInbound(r))
        assert.deepStrictEqual(
          inBatch.map((o) => o._tag),
          oneByOne.map((o) => o._tag)
        )

        const stateOf = (tenant: TestData.Tenant) =>
          Effect.forEach(senders, (sender) =>
            Effect.gen(function* () {
              const found = yield* conversations.findByCustomer(tenant.businessId, tenant.number.id, identity(sender))
              if (Option.isNone(found)) return null
              const c = found.value
              const history = yield* messages.listByConversation(tenant.businessId, c.id, { limit: 100 })
              return {
                conversation: c.id,
                unread: c.unreadCount,
                name: c.customerName,
                status: c.status,
                lastInboundAt: c.lastInboundAt === null ? null : DateTime.formatIso(c.lastInboundAt),
                lastActivityAt: DateTime.formatIso(c.lastActivityAt),
                history: history.map((m) => `${m.providerMessageId} ${DateTime.formatIso(m.createdAt)}`).sort()
              }
            })
          )
        const batchState = yield* stateOf(batched.tenant)
        const singleState = yield* stateOf(single.tenant)
        // Conversation ids differ between the tenants; whether each sender has one must not.
        assert.deepStrictEqual(
          batchState.map((s) => (s === null ? null : { ...s, conversation: "" })),
          singleState.map((s) => (s === null ? null : { ...s, conversation: "" }))
        )

        const log = yield* Effect.serviceOption(EventLog)
        if (Option.isNone(log)) return
        /** Each sender's events in sequence order: type, sequence, and the message's provider id and time. */
        const eventsOf = (tenant: TestData.Tenant, state: typeof batchState) =>
          Effect.gen(function* () {
            // A fresh conversation recorded last marks the end: the feed serves it once all before it is servable.
            const end = yield* conversations.findOrCreate(
              TestData.conversation({
                id: yield* nextConversationId,
                businessId: tenant.businessId,
                whatsappNumberId: tenant.number.id,
                customerPhone: phone()
              })
            )
            const read = log.value.read(tenant.businessId, { after: Option.none(), limit: 10_000 })
            const rows = yield* read.pipe(
              Effect.filterOrFail(
                (all) => all.some(({ event }) => event.conversationId === end.id),
                () => "not yet"
              ),
              Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo(Duration.seconds(30)))),
              Effect.orElse(() => read)
            )
            return state.map((s) =>
              s === null
                ? []
                : rows
                    .filter(({ event }) => event.conversationId === s.conversation)
                    .map(({ event }) => ({
                      type: event.type,
                      sequence: event.sequence,
                      message:
                        event.type === "message.received"
                          ? `${event.data.message.providerMessageId} ${event.data.message.createdAt}`
                          : null
                    }))
                    .sort((x, y) => (x.sequence ?? 0) - (y.sequence ?? 0))
            )
          })
        const batchEvents = yield* eventsOf(batched.tenant, batchState)
        const singleEvents = yield* eventsOf(single.tenant, singleState)
        assert.deepStrictEqual(batchEvents, singleEvents)
        // Not vacuous: one `message.received` per recorded message (and the two recorded before the batch).
        const recorded = oneByOne.filter((o) => o._tag === "Recorded").length
        assert.strictEqual(batchEvents.flat().filter((e) => e.type === "message.received").length, recorded + 2)
      }),
    { timeout: 120_000, fastCheck: { numRuns: 25 } }
  )
}
