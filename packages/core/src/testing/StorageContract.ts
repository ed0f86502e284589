/**
 * The contract every storage adapter must pass: one suite per port, run against memory, PGlite and PostgreSQL.
 *
 * Each test seeds its own tenants with fresh ids, so the suite can share one database across tests and files.
 */
import { assert, layer } from "@effect/vitest"
import { DateTime, Duration, Effect, FastCheck, Layer, Option, Redacted } from "effect"
import { type Conversation, ConversationPatch } from "../Conversation.js"
import { ConversationRepository } from "../ConversationRepository.js"
import { BusinessScopedUserId, CustomerIdentity } from "../Customer.js"
import * as Idempotency from "../Idempotency.js"
import {
  type ConversationId,
  layerUuidV7,
  type MessageId,
  nextConversationId,
  nextMessageId,
  nextTemplateId,
  nextUserId,
  nextWhatsAppNumberId
} from "../Ids.js"
import { DeliveryFailure, type DeliveryStatus, MediaReference, TemplateUse } from "../Message.js"
import { MessageRepository, type StatusUpdate } from "../MessageRepository.js"
import { ProviderWindowClosed } from "../MessagingGateway.js"
import type { E164 } from "../Phone.js"
import { TemplateCatalog } from "../TemplateCatalog.js"
import { UserDirectory } from "../UserDirectory.js"
import { WhatsAppNumber } from "../WhatsAppNumber.js"
import { WhatsAppNumberDirectory } from "../WhatsAppNumberDirectory.js"
import { inboundBatchesContract } from "./contract/InboundBatches.js"
import { statusBatchesContract } from "./contract/StatusBatches.js"
import { unconfirmedSendsContract } from "./contract/UnconfirmedSends.js"
import { StorageSeeder } from "./StorageSeeder.js"
import * as TestData from "./TestData.js"

export type StoragePorts =
  | ConversationRepository
  | MessageRepository
  | TemplateCatalog
  | Idempotency.IdempotencyStore
  | WhatsAppNumberDirectory
  | UserDirectory
  | StorageSeeder

const newConversation = (tenant: TestData.Tenant, fields: Partial<Parameters<typeof TestData.conversation>[0]> = {}) =>
  Effect.gen(function* () {
    const repo = yield* ConversationRepository
    const id = yield* nextConversationId
    return yield* repo.findOrCreate(
      TestData.conversation({ id, businessId: tenant.businessId, whatsappNumberId: tenant.number.id, ...fields })
    )
  })

let phoneCounter = 0
/** A phone number no other test uses. */
const uniquePhone = (): E164 => {
  phoneCounter++
  return TestData.phone(`4479${String(phoneCounter).padStart(9, "0")}`)
}

const receive = (
  conversation: Conversation,
  tenant: TestData.Tenant,
  providerMessageId: string,
  at: DateTime.Utc,
  options: { readonly name?: string; readonly opensWindow?: boolean } = {}
) =>
  Effect.gen(function* () {
    const messages = yield* MessageRepository
    const id = yield* nextMessageId
    return yield* messages.recordInbound({
      conversation,
      message: TestData.message({
        id,
        businessId: tenant.businessId,
        conversationId: conversation.id,
        providerMessageId,
        createdAt: at
      }),
      customerName: Option.fromNullable(options.name),
      opensWindow: options.opensWindow ?? true
    })
  })

const sendPending = (conversationId: ConversationId, tenant: TestData.Tenant, at: DateTime.Utc, key?: string) =>
  Effect.gen(function* () {
    const messages = yield* MessageRepository
    const id = yield* nextMessageId
    return yield* messages.recordOutbound({
      message: TestData.message({
        id,
        businessId: tenant.businessId,
        conversationId,
        direction: "outbound",
        deliveryStatus: "pending",
        text: "Your order shipped",
        createdAt: at
      }),
      idempotencyKey: Option.fromNullable(key)
    })
  })

const status = (
  providerMessageId: string,
  value: Exclude<DeliveryStatus, "pending">,
  extra: Partial<StatusUpdate> = {}
): StatusUpdate => ({
  providerMessageId,
  status: value,
  timestamp: TestData.at(5),
  failure: Option.none(),
  messageId: Option.none(),
  ...extra
})

let wamidCounter = 0
const wamid = () => `wamid.CONTRACT${++wamidCounter}`

const times = (now: DateTime.Utc) => ({
  now,
  lockedUntil: DateTime.add(now, { minutes: 2 }),
  expiresAt: DateTime.add(now, { hours: 48 })
})

/**
 * Registers the storage contract suites for an adapter. `storage` provides every storage port and the seeder;
 * it is built once for the whole suite.
 */
export const runStorageContract = <E>(name: string, storage: Layer.Layer<StoragePorts, E>): void => {
  layer(Layer.merge(storage, layerUuidV7), { excludeTestServices: true, timeout: Duration.minutes(2) })(
    `storage contract: ${name}`,
    (it) => {
      unconfirmedSendsContract(it)
      statusBatchesContract(it)
      inboundBatchesContract(it)

      it.effect("ConversationRepository.findOrCreate returns the existing conversation of a customer", () =>
        Effect.gen(function* () {
          const repo = yield* ConversationRepository
          const tenant = yield* TestData.seedTenant()
          const customerPhone = uniquePhone()
          const first = yield* newConversation(tenant, { customerPhone, customerName: "First" })
          const second = yield* newConversation(tenant, { customerPhone, customerName: "Second" })
          assert.strictEqual(second.id, first.id)
          assert.strictEqual(second.customerName, "First")
          const found = yield* repo.findByCustomer(
            tenant.businessId,
            tenant.number.id,
            CustomerIdentity.byPhone(customerPhone)
          )
          assert.strictEqual(Option.getOrThrow(found).id, first.id)
        })
      )

      it.effect("ConversationRepository finds a phone-less customer by business-scoped user id", () =>
        Effect.gen(function* () {
          const repo = yield* ConversationRepository
          const tenant = yield* TestData.seedTenant()
          const userId = BusinessScopedUserId.make(`US.${++phoneCounter}`)
          const created = yield* newConversation(tenant, { customerPhone: null, customerUserId: userId })
          const again = yield* newConversation(tenant, { customerPhone: null, customerUserId: userId })
          assert.strictEqual(again.id, created.id)
          const found = yield* repo.findByCustomer(
            tenant.businessId,
            tenant.number.id,
            new CustomerIdentity({ phone: Option.none(), userId: Option.some(userId) })
          )
          assert.strictEqual(Option.getOrThrow(found).id, created.id)
          assert.strictEqual(Option.getOrThrow(found).customerPhone, null)
        })
      )

      it.effect("ConversationRepository round-trips every field", () =>
        Effect.gen(function* () {
          const repo = yield* ConversationRepository
          const tenant = yield* TestData.seedTenant()
          const created = yield* newConversation(tenant, {
            customerPhone: uniquePhone(),
            status: "pending_customer",
            mode: "ai",
            lastInboundAt: TestData.at(1),
            lastOutboundAt: TestData.at(2),
            lastActivityAt: TestData.at(2),
            createdAt: TestData.at(0)
          })
          const found = Option.getOrThrow(yield* repo.findById(tenant.businessId, created.id))
          assert.deepStrictEqual(found, created)
        })
      )

      it.effect("ConversationRepository never shows or changes another business's conversation", () =>
        Effect.gen(function* () {
          const repo = yield* ConversationRepository
          const a = yield* TestData.seedTenant("A")
          const b = yield* TestData.seedTenant("B")
          const customerPhone = uniquePhone()
          const ofA = yield* newConversation(a, { customerPhone })
          assert.isTrue(Option.isNone(yield* repo.findById(b.businessId, ofA.id)))
          assert.isTrue(
            Option.isNone(
              yield* repo.findByCustomer(b.businessId, a.number.id, CustomerIdentity.byPhone(customerPhone))
            )
          )
          assert.isTrue(
            Option.isNone(yield* repo.update(b.businessId, ofA.id, new ConversationPatch({ status: "resolved" })))
          )
          assert.isTrue(Option.isNone(yield* repo.markRead(b.businessId, ofA.id)))
          assert.deepStrictEqual(yield* repo.list(b.businessId, { limit: 50 }), [])
          assert.strictEqual(Option.getOrThrow(yield* repo.findById(a.businessId, ofA.id)).status, "open")
        })
      )

      it.effect("ConversationRepository.list orders by last activity then id, and pages by keyset", () =>
        Effect.gen(function* () {
          const repo = yield* ConversationRepository
          const tenant = yield* TestData.seedTenant()
          const created = []
          for (let i = 0; i < 7; i++) {
            // Two share each activity time, so the id breaks ties.
            created.push(
              yield* newConversation(tenant, {
                customerPhone: uniquePhone(),
                lastActivityAt: TestData.at(Math.floor(i / 2))
              })
            )
          }
          const expected = [...created]
            .sort((x, y) => {
              const dt = DateTime.toEpochMillis(y.lastActivityAt) - DateTime.toEpochMillis(x.lastActivityAt)
              return dt !== 0 ? dt : x.id < y.id ? 1 : -1
            })
            .map((c) => c.id)
          const all = yield* repo.list(tenant.businessId, { limit: 50 })
          assert.deepStrictEqual(
            all.map((c) => c.id),
            expected
          )
          const pages: Array<ConversationId> = []
          let after: { at: DateTime.Utc; id: string } | undefined
          for (;;) {
            const page = yield* repo.list(tenant.businessId, { limit: 3, ...(after === undefined ? {} : { after }) })
            pages.push(...page.map((c) => c.id))
            const last = page[page.length - 1]
            if (page.length < 3 || last === undefined) break
            after = { at: last.lastActivityAt, id: last.id }
          }
          assert.deepStrictEqual(pages, expected)
        })
      )

      it.effect("ConversationRepository.list filters by status, mode and assignment", () =>
        Effect.gen(function* () {
          const repo = yield* ConversationRepository
          const seeder = yield* TestData.seedTenant()
          const other = yield* nextUserId
          yield* (yield* StorageSeeder).user({ id: other, businessId: seeder.businessId, name: "Other agent" })
          const open = yield* newConversation(seeder, { customerPhone: uniquePhone(), status: "open", mode: "ai" })
          const mine = yield* newConversation(seeder, {
            customerPhone: uniquePhone(),
            status: "pending_customer",
            mode: "human",
            assignedUserId: seeder.userId
          })
          const theirs = yield* newConversation(seeder, {
            customerPhone: uniquePhone(),
            status: "resolved",
            mode: "human",
            assignedUserId: other
          })
          const ids = (rows: ReadonlyArray<{ id: ConversationId }>) => rows.map((r) => r.id).sort()
          const list = (query: Parameters<typeof repo.list>[1]) => repo.list(seeder.businessId, query)
          assert.deepStrictEqual(ids(yield* list({ limit: 50, status: "open" })), [open.id])
          assert.deepStrictEqual(ids(yield* list({ limit: 50, status: "resolved" })), [theirs.id])
          assert.deepStrictEqual(ids(yield* list({ limit: 50, mode: "human" })), ids([mine, theirs]))
          assert.deepStrictEqual(ids(yield* list({ limit: 50, assigned: { _tag: "User", userId: seeder.userId } })), [
            mine.id
          ])
          assert.deepStrictEqual(ids(yield* list({ limit: 50, assigned: { _tag: "Unassigned" } })), [open.id])
          assert.deepStrictEqual(
            ids(
              yield* list({
                limit: 50,
                mode: "human",
                status: "pending_customer",
                assigned: { _tag: "User", userId: seeder.userId }
              })
            ),
            [mine.id]
          )
        })
      )

      it.effect("ConversationRepository.list searches names case-insensitively and phones by digits", () =>
        Effect.gen(function* () {
          const repo = yield* ConversationRepository
          const tenant = yield* TestData.seedTenant()
          const ada = yield* newConversation(tenant, {
            customerPhone: TestData.phone("2348012345678"),
            customerName: "Ada Lovelace"
          })
          const grace = yield* newConversation(tenant, {
            customerPhone: TestData.phone("15550001111"),
            customerName: "Grace 100% Hopper_"
          })
          const nameless = yield* newConversation(tenant, {
            customerPhone: TestData.phone("447700900123"),
            customerName: null
          })
          const search = (term: string) =>
            Effect.map(repo.list(tenant.businessId, { limit: 50, search: term }), (rows) =>
              rows.map((r) => r.id).sort()
            )
          assert.deepStrictEqual(yield* search("ada"), [ada.id])
          assert.deepStrictEqual(yield* search("LOVE"), [ada.id])
          assert.deepStrictEqual(yield* search("+234 801"), [ada.id])
          assert.deepStrictEqual(yield* search("(555) 000"), [grace.id])
          assert.deepStrictEqual(yield* search("0090"), [nameless.id])
          assert.deepStrictEqual(yield* search("100%"), [grace.id])
          assert.deepStrictEqual(yield* search("%"), [grace.id])
          assert.deepStrictEqual(yield* search("_"), [grace.id])
          assert.deepStrictEqual(yield* search("Ada 234"), [])
          assert.deepStrictEqual(yield* search("zzz"), [])
        })
      )

      it.effect("ConversationRepository.update applies a patch; null unassigns", () =>
        Effect.gen(function* () {
          const repo = yield* ConversationRepository
          const tenant = yield* TestData.seedTenant()
          const c = yield* newConversation(tenant, { customerPhone: uniquePhone() })
          const assigned = yield* repo.update(
            tenant.businessId,
            c.id,
            new ConversationPatch({ status: "resolved", mode: "ai", assignedUserId: tenant.userId })
          )
          assert.strictEqual(Option.getOrThrow(assigned).status, "resolved")
          assert.strictEqual(Option.getOrThrow(assigned).mode, "ai")
          assert.strictEqual(Option.getOrThrow(assigned).assignedUserId, tenant.userId)
          const kept = yield* repo.update(tenant.businessId, c.id, new ConversationPatch({}))
          assert.strictEqual(Option.getOrThrow(kept).assignedUserId, tenant.userId)
          const unassigned = yield* repo.update(
            tenant.businessId,
            c.id,
            new ConversationPatch({ assignedUserId: null })
          )
          assert.strictEqual(Option.getOrThrow(unassigned).assignedUserId, null)
          assert.strictEqual(Option.getOrThrow(unassigned).status, "resolved")
        })
      )

      it.effect("MessageRepository.recordInbound updates the conversation once and dedupes redeliveries", () =>
        Effect.gen(function* () {
          const repo = yield* ConversationRepository
          const tenant = yield* TestData.seedTenant()
          const c = yield* newConversation(tenant, {
            customerPhone: uniquePhone(),
            status: "resolved",
            customerName: null
          })
          const id = wamid()
          const first = yield* receive(c, tenant, id, TestData.at(10), { name: "Ada" })
          assert.strictEqual(first._tag, "Recorded")
          const again = yield* receive(c, tenant, id, TestData.at(10), { name: "Other" })
          assert.strictEqual(again._tag, "Duplicate")
          if (first._tag === "Recorded" && again._tag === "Duplicate")
            assert.strictEqual(again.messageId, first.message.id)
          const stored = Option.getOrThrow(yield* repo.findById(tenant.businessId, c.id))
          assert.strictEqual(stored.unreadCount, 1)
          assert.strictEqual(stored.status, "open")
          assert.strictEqual(stored.customerName, "Ada")
          assert.isTrue(DateTime.Equivalence(stored.lastInboundAt ?? TestData.epoch, TestData.at(10)))
          assert.isTrue(DateTime.Equivalence(stored.lastActivityAt, TestData.at(10)))
        })
      )

      it.effect(
        "MessageRepository.recordInbound never moves lastInboundAt backwards; system notices don't open it",
        () =>
          Effect.gen(function* () {
            const repo = yield* ConversationRepository
            const tenant = yield* TestData.seedTenant()
            const c = yield* newConversation(tenant, { customerPhone: uniquePhone() })
            yield* receive(c, tenant, wamid(), TestData.at(30))
            yield* receive(c, tenant, wamid(), TestData.at(20))
            yield* receive(c, tenant, wamid(), TestData.at(40), { opensWindow: false })
            const stored = Option.getOrThrow(yield* repo.findById(tenant.businessId, c.id))
            assert.isTrue(DateTime.Equivalence(stored.lastInboundAt ?? TestData.epoch, TestData.at(30)))
            assert.isTrue(DateTime.Equivalence(stored.lastActivityAt, TestData.at(40)))
            assert.strictEqual(stored.unreadCount, 3)
          })
      )

      it.effect("MessageRepository.recordInbound stores a new customer's conversation with the first message", () =>
        Effect.gen(function* () {
          const repo = yield* ConversationRepository
          const messages = yield* MessageRepository
          const tenant = yield* TestData.seedTenant()
          const candidate = TestData.conversation({
            id: yield* nextConversationId,
            businessId: tenant.businessId,
            whatsappNumberId: tenant.number.id,
            customerPhone: uniquePhone(),
            unreadCount: 0
          })
          assert.isTrue(Option.isNone(yield* repo.findById(tenant.businessId, candidate.id)))
          const recorded = yield* receive(candidate, tenant, wamid(), TestData.at(7))
          assert.strictEqual(recorded._tag, "Recorded")
          if (recorded._tag !== "Recorded") return
          assert.strictEqual(recorded.conversation.id, candidate.id)
          assert.strictEqual(recorded.message.conversationId, candidate.id)
          const stored = Option.getOrThrow(yield* repo.findById(tenant.businessId, candidate.id))
          assert.strictEqual(stored.unreadCount, 1)
          const history = yield* messages.listByConversation(tenant.businessId, candidate.id, { limit: 10 })
          assert.deepStrictEqual(
            history.map((m) => m.id),
            [recorded.message.id]
          )
        })
      )

      it.effect(
        "MessageRepository.recordInbound joins the customer's existing conversation, whatever id it was given",
        () =>
          Effect.gen(function* () {
            const messages = yield* MessageRepository
            const tenant = yield* TestData.seedTenant()
            const customerPhone = uniquePhone()
            const existing = yield* newConversation(tenant, { customerPhone })
            const stranger = TestData.conversation({
              id: yield* nextConversationId,
              businessId: tenant.businessId,
              whatsappNumberId: tenant.number.id,
              customerPhone
            })
            const recorded = yield* receive(stranger, tenant, wamid(), TestData.at(8))
            assert.strictEqual(recorded._tag, "Recorded")
            if (recorded._tag !== "Recorded") return
            assert.strictEqual(recorded.conversation.id, existing.id)
            assert.strictEqual(recorded.message.conversationId, existing.id)
            const stored = Option.getOrThrow(yield* messages.findById(tenant.businessId, recorded.message.id))
            assert.strictEqual(stored.conversationId, existing.id)
          })
      )

      it.effect("MessageRepository.recordInboundBatch records a batch as one by one would, outcomes in order", () =>
        Effect.gen(function* () {
          const repo = yield* ConversationRepository
          const messages = yield* MessageRepository
          const tenant = yield* TestData.seedTenant()
          assert.deepStrictEqual(yield* messages.recordInboundBatch([]), [])
          const known = yield* newConversation(tenant, {
            customerPhone: uniquePhone(),
            customerName: null,
            status: "resolved"
          })
          const already = wamid()
          yield* receive(known, tenant, already, TestData.at(1))
          const candidate = TestData.conversation({
            id: yield* nextConversationId,
            businessId: tenant.businessId,
            whatsappNumberId: tenant.number.id,
            customerPhone: uniquePhone(),
            customerName: null,
            unreadCount: 0
          })
          const item = (
            conversation: Conversation,
            providerMessageId: string,
            minute: number,
            name: string | null,
            opensWindow = true
          ) =>
            Effect.map(nextMessageId, (id) => ({
              conversation,
              message: TestData.message({
                id,
                businessId: tenant.businessId,
                conversationId: conversation.id,
                providerMessageId,
                createdAt: TestData.at(minute)
              }),
              customerName: Option.fromNullable(name),
              opensWindow
            }))
          const [w1, w2, w3] = [wamid(), wamid(), wamid()]
          const outcomes = yield* messages.recordInboundBatch([
            yield* item(known, w1, 30, "Ada"),
            yield* item(candidate, w2, 5, "Grace"),
            yield* item(known, already, 1, "Stale"),
            yield* item(known, w1, 30, "Repeated"),
            yield* item(known, w3, 40, null, false)
          ])
          assert.deepStrictEqual(
            outcomes.map((o) => o._tag),
            ["Recorded", "Recorded", "Duplicate", "Duplicate", "Recorded"]
          )
          const [first, second, , repeated] = outcomes
          if (first?._tag !== "Recorded" || second?._tag !== "Recorded" || repeated?._tag !== "Duplicate") return
          assert.strictEqual(repeated.messageId, first.message.id)
          const stored = Option.getOrThrow(yield* repo.findById(tenant.businessId, known.id))
          assert.deepStrictEqual([stored.unreadCount, stored.status, stored.customerName], [3, "open", "Ada"])
          assert.isTrue(DateTime.Equivalence(stored.lastInboundAt ?? TestData.epoch, TestData.at(30)))
          assert.isTrue(DateTime.Equivalence(stored.lastActivityAt, TestData.at(40)))
          // A new customer's conversation is stored with its first message, in the same step.
          assert.strictEqual(second.conversation.id, candidate.id)
          const created = Option.getOrThrow(yield* repo.findById(tenant.businessId, candidate.id))
          assert.deepStrictEqual([created.unreadCount, created.customerName], [1, "Grace"])
          const history = yield* messages.listByConversation(tenant.businessId, candidate.id, { limit: 10 })
          assert.deepStrictEqual(
            history.map((m) => m.id),
            [second.message.id]
          )
        })
      )

      let batchRun = 0
      it.effect.prop(
        "MessageRepository.recordInboundBatch ends exactly where recording the same messages one by one ends",
        {
          items: FastCheck.array(
            FastCheck.record({
              customer: FastCheck.integer({ min: 0, max: 3 }),
              message: FastCheck.integer({ min: 0, max: 9 }),
              minute: FastCheck.integer({ min: 0, max: 300 }),
              name: FastCheck.option(FastCheck.constantFrom("Ada", "Grace", "Zoë"), { nil: null }),
              opensWindow: FastCheck.boolean()
            }),
            { maxLength: 25 }
          )
        },
        ({ items }) =>
          Effect.gen(function* () {
            const repo = yield* ConversationRepository
            const messages = yield* MessageRepository
            const run = ++batchRun
            const phones = [uniquePhone(), uniquePhone(), uniquePhone(), uniquePhone()]
            const recordsFor = (tenant: TestData.Tenant) =>
              Effect.gen(function* () {
                const candidates = new Map<number, Conversation>()
                const records = []
                for (const item of items) {
                  const conversation =
                    candidates.get(item.customer) ??
                    TestData.conversation({
                      id: yield* nextConversationId,
                      businessId: tenant.businessId,
                      whatsappNumberId: tenant.number.id,
                      customerPhone: phones[item.customer] ?? null,
                      customerName: null,
                      unreadCount: 0,
                      lastActivityAt: TestData.at(item.minute)
                    })
                  candidates.set(item.customer, conversation)
                  records.push({
                    conversation,
                    message: TestData.message({
                      id: yield* nextMessageId,
                      businessId: tenant.businessId,
                      conversationId: conversation.id,
                      providerMessageId: `wamid.BATCH${run}.${item.message}`,
                      createdAt: TestData.at(item.minute)
                    }),
                    customerName: Option.fromNullable(item.name),
                    opensWindow: item.opensWindow
                  })
                }
                return records
              })
            const one = yield* TestData.seedTenant()
            const batch = yield* TestData.seedTenant()
            const oneByOne = yield* Effect.forEach(yield* recordsFor(one), (r) => messages.recordInbound(r))
            const atOnce = yield* messages.recordInboundBatch(yield* recordsFor(batch))
            assert.deepStrictEqual(
              atOnce.map((o) => o._tag),
              oneByOne.map((o) => o._tag)
            )
            const stateOf = (tenant: TestData.Tenant, phone: E164) =>
              Effect.gen(function* () {
                const found = yield* repo.findByCustomer(
                  tenant.businessId,
                  tenant.number.id,
                  CustomerIdentity.byPhone(phone)
                )
                if (Option.isNone(found)) return null
                const c = found.value
                const history = yield* messages.listByConversation(tenant.businessId, c.id, { limit: 100 })
                return {
                  unread: c.unreadCount,
                  name: c.customerName,
                  status: c.status,
                  lastInboundAt: c.lastInboundAt === null ? null : DateTime.formatIso(c.lastInboundAt),
                  lastActivityAt: DateTime.formatIso(c.lastActivityAt),
                  // As a set: messages of the same minute are ordered by their random ids, which differ per tenant.
                  history: history.map((m) => m.providerMessageId ?? "").sort()
                }
              })
            for (const phone of phones) {
              assert.deepStrictEqual(yield* stateOf(batch, phone), yield* stateOf(one, phone))
            }
          }),
        { timeout: 120_000, fastCheck: { numRuns: 20 } }
      )

      it.effect("MessageRepository.recordInbound dedupes per business only", () =>
        Effect.gen(function* () {
          const a = yield* TestData.seedTenant("A")
          const b = yield* TestData.seedTenant("B")
          const ca = yield* newConversation(a, { customerPhone: uniquePhone() })
          const cb = yield* newConversation(b, { customerPhone: uniquePhone() })
          const id = wamid()
          assert.strictEqual((yield* receive(ca, a, id, TestData.at(1)))._tag, "Recorded")
          assert.strictEqual((yield* receive(cb, b, id, TestData.at(1)))._tag, "Recorded")
        })
      )

      it.effect("MessageRepository round-trips every message field", () =>
        Effect.gen(function* () {
          const messages = yield* MessageRepository
          const tenant = yield* TestData.seedTenant()
          const c = yield* newConversation(tenant, { customerPhone: uniquePhone() })
          const id = yield* nextMessageId
          const message = TestData.message({
            id,
            businessId: tenant.businessId,
            conversationId: c.id,
            messageType: "image",
            text: "caption ✓ ünïcode",
            media: new MediaReference({
              providerMediaId: "1234567890",
              url: "https://example.com/x.jpg",
              mimeType: "image/jpeg",
              sha256: "abc",
              filename: null,
              kind: "image",
              caption: "caption ✓ ünïcode",
              sizeBytes: 123_456,
              voice: null,
              animated: false
            }),
            content: { nested: { a: [1, 2, 3] }, flag: true },
            replyToProviderMessageId: "wamid.PARENT",
            providerMessageId: wamid(),
            createdAt: TestData.at(3)
          })
          yield* messages.recordInbound({ conversation: c, message, customerName: Option.none(), opensWindow: true })
          assert.deepStrictEqual(Option.getOrThrow(yield* messages.findById(tenant.businessId, id)), message)
          const templateId = yield* nextMessageId
          const templated = TestData.message({
            id: templateId,
            businessId: tenant.businessId,
            conversationId: c.id,
            direction: "outbound",
            messageType: "template",
            deliveryStatus: "pending",
            text: "Order 1234 arrives Friday.",
            template: new TemplateUse({
              key: "order_shipped",
              name: "order_shipped",
              language: "en_US",
              variables: { order_id: "1234", eta: "Friday" }
            }),
            createdAt: TestData.at(4)
          })
          yield* messages.recordOutbound({ message: templated, idempotencyKey: Option.none() })
          assert.deepStrictEqual(Option.getOrThrow(yield* messages.findById(tenant.businessId, templateId)), templated)
        })
      )

      it.effect("MessageRepository.recordOutbound marks the conversation pending_customer", () =>
        Effect.gen(function* () {
          const repo = yield* ConversationRepository
          const tenant = yield* TestData.seedTenant()
          const c = yield* newConversation(tenant, { customerPhone: uniquePhone(), lastActivityAt: TestData.at(1) })
          yield* receive(c, tenant, wamid(), TestData.at(2))
          const sent = yield* sendPending(c.id, tenant, TestData.at(3))
          assert.strictEqual(sent.deliveryStatus, "pending")
          const stored = Option.getOrThrow(yield* repo.findById(tenant.businessId, c.id))
          assert.strictEqual(stored.status, "pending_customer")
          assert.strictEqual(stored.unreadCount, 1)
          assert.isTrue(DateTime.Equivalence(stored.lastOutboundAt ?? TestData.epoch, TestData.at(3)))
          assert.isTrue(DateTime.Equivalence(stored.lastActivityAt, TestData.at(3)))
          assert.isTrue(DateTime.Equivalence(stored.lastInboundAt ?? TestData.epoch, TestData.at(2)))
        })
      )

      it.effect("MessageRepository statuses only move forward; failed is terminal and keeps its reason", () =>
        Effect.gen(function* () {
          const messages = yield* MessageRepository
          const tenant = yield* TestData.seedTenant()
          const c = yield* newConversation(tenant, { customerPhone: uniquePhone() })
          const m = yield* sendPending(c.id, tenant, TestData.at(1))
          const id = wamid()
          const sent = Option.getOrThrow(yield* messages.markSent(tenant.businessId, m.id, id))
          assert.strictEqual(sent.deliveryStatus, "sent")
          assert.strictEqual(sent.providerMessageId, id)
          assert.strictEqual((yield* messages.applyStatus(tenant.businessId, status(id, "read")))._tag, "Applied")
          assert.strictEqual(
            (yield* messages.applyStatus(tenant.businessId, status(id, "delivered")))._tag,
            "Unchanged"
          )
          assert.strictEqual((yield* messages.applyStatus(tenant.businessId, status(id, "read")))._tag, "Unchanged")
          const failure = new DeliveryFailure({ code: 131047, title: "Re-engagement message" })
          const failed = yield* messages.applyStatus(
            tenant.businessId,
            status(id, "failed", { failure: Option.some(failure) })
          )
          assert.strictEqual(failed._tag, "Applied")
          assert.strictEqual((yield* messages.applyStatus(tenant.businessId, status(id, "sent")))._tag, "Unchanged")
          const stored = Option.getOrThrow(yield* messages.findById(tenant.businessId, m.id))
          assert.strictEqual(stored.deliveryStatus, "failed")
          assert.deepStrictEqual(stored.failure, failure)
        })
      )

      it.effect("MessageRepository parks a status for an unknown provider id and applies it on markSent", () =>
        Effect.gen(function* () {
          const messages = yield* MessageRepository
          const tenant = yield* TestData.seedTenant()
          const c = yield* newConversation(tenant, { customerPhone: uniquePhone() })
          const m = yield* sendPending(c.id, tenant, TestData.at(1))
          const id = wamid()
          assert.strictEqual((yield* messages.applyStatus(tenant.businessId, status(id, "delivered")))._tag, "Parked")
          const sent = Option.getOrThrow(yield* messages.markSent(tenant.businessId, m.id, id))
          assert.strictEqual(sent.deliveryStatus, "delivered")
          assert.strictEqual(
            Option.getOrThrow(yield* messages.findById(tenant.businessId, m.id)).deliveryStatus,
            "delivered"
          )
        })
      )

      it.effect("MessageRepository matches a status by our message id when the provider id was never stored", () =>
        Effect.gen(function* () {
          const messages = yield* MessageRepository
          const tenant = yield* TestData.seedTenant()
          const c = yield* newConversation(tenant, { customerPhone: uniquePhone() })
          const m = yield* sendPending(c.id, tenant, TestData.at(1))
          const id = wamid()
          const applied = yield* messages.applyStatus(
            tenant.businessId,
            status(id, "sent", { messageId: Option.some(m.id) })
          )
          assert.strictEqual(applied._tag, "Applied")
          const stored = Option.getOrThrow(yield* messages.findById(tenant.businessId, m.id))
          assert.strictEqual(stored.providerMessageId, id)
          assert.strictEqual(stored.deliveryStatus, "sent")
          assert.strictEqual((yield* messages.applyStatus(tenant.businessId, status(id, "delivered")))._tag, "Applied")
        })
      )

      it.effect("MessageRepository never applies a status to another business's message", () =>
        Effect.gen(function* () {
          const messages = yield* MessageRepository
          const a = yield* TestData.seedTenant("A")
          const b = yield* TestData.seedTenant("B")
          const c = yield* newConversation(a, { customerPhone: uniquePhone() })
          const m = yield* sendPending(c.id, a, TestData.at(1))
          const id = wamid()
          yield* messages.markSent(a.businessId, m.id, id)
          assert.strictEqual(
            (yield* messages.applyStatus(b.businessId, status(id, "read", { messageId: Option.some(m.id) })))._tag,
            "Parked"
          )
          assert.strictEqual(Option.getOrThrow(yield* messages.findById(a.businessId, m.id)).deliveryStatus, "sent")
          assert.isTrue(Option.isNone(yield* messages.findById(b.businessId, m.id)))
          assert.isTrue(Option.isNone(yield* messages.markSent(b.businessId, m.id, wamid())))
          assert.isTrue(
            Option.isNone(yield* messages.markFailed(b.businessId, m.id, new DeliveryFailure({ code: 1, title: "x" })))
          )
          assert.deepStrictEqual(yield* messages.listByConversation(b.businessId, c.id, { limit: 10 }), [])
        })
      )

      it.effect("MessageRepository.markFailed records why", () =>
        Effect.gen(function* () {
          const messages = yield* MessageRepository
          const tenant = yield* TestData.seedTenant()
          const c = yield* newConversation(tenant, { customerPhone: uniquePhone() })
          const m = yield* sendPending(c.id, tenant, TestData.at(1))
          const failure = new DeliveryFailure({ code: 131026, title: "Message undeliverable" })
          const failed = Option.getOrThrow(yield* messages.markFailed(tenant.businessId, m.id, failure))
          assert.strictEqual(failed.deliveryStatus, "failed")
          assert.deepStrictEqual(failed.failure, failure)
        })
      )

      it.effect("MessageRepository.listByConversation is newest first and pages by keyset", () =>
        Effect.gen(function* () {
          const messages = yield* MessageRepository
          const tenant = yield* TestData.seedTenant()
          const c = yield* newConversation(tenant, { customerPhone: uniquePhone() })
          const other = yield* newConversation(tenant, { customerPhone: uniquePhone() })
          const ids: Array<MessageId> = []
          for (let i = 0; i < 7; i++) {
            const r = yield* receive(c, tenant, wamid(), TestData.at(Math.floor(i / 2)))
            if (r._tag === "Recorded") ids.push(r.message.id)
          }
          yield* receive(other, tenant, wamid(), TestData.at(100))
          const all = yield* messages.listByConversation(tenant.businessId, c.id, { limit: 50 })
          assert.strictEqual(all.length, 7)
          for (let i = 1; i < all.length; i++) {
            const prev = all[i - 1]!
            const cur = all[i]!
            const dt = DateTime.toEpochMillis(prev.createdAt) - DateTime.toEpochMillis(cur.createdAt)
            assert.isTrue(dt > 0 || (dt === 0 && prev.id > cur.id))
          }
          const paged: Array<MessageId> = []
          let before: { at: DateTime.Utc; id: string } | undefined
          for (;;) {
            const page = yield* messages.listByConversation(tenant.businessId, c.id, {
              limit: 2,
              ...(before === undefined ? {} : { before })
            })
            paged.push(...page.map((m) => m.id))
            const last = page[page.length - 1]
            if (page.length < 2 || last === undefined) break
            before = { at: last.createdAt, id: last.id }
          }
          assert.deepStrictEqual(
            paged,
            all.map((m) => m.id)
          )
        })
      )

      it.effect("ConversationRepository.markRead zeroes unread and marks inbound messages read", () =>
        Effect.gen(function* () {
          const repo = yield* ConversationRepository
          const messages = yield* MessageRepository
          const tenant = yield* TestData.seedTenant()
          const c = yield* newConversation(tenant, { customerPhone: uniquePhone() })
          yield* receive(c, tenant, wamid(), TestData.at(1))
          yield* receive(c, tenant, wamid(), TestData.at(2))
          const out = yield* sendPending(c.id, tenant, TestData.at(3))
          const read = Option.getOrThrow(yield* repo.markRead(tenant.businessId, c.id))
          assert.strictEqual(read.unreadCount, 0)
          const all = yield* messages.listByConversation(tenant.businessId, c.id, { limit: 10 })
          assert.deepStrictEqual(
            all.map((m) => [m.direction, m.deliveryStatus]),
            [
              ["outbound", "pending"],
              ["inbound", "read"],
              ["inbound", "read"]
            ]
          )
          assert.strictEqual(
            Option.getOrThrow(yield* messages.findById(tenant.businessId, out.id)).deliveryStatus,
            "pending"
          )
        })
      )

      it.effect("TemplateCatalog upserts by key, keeps the id, and is scoped by business", () =>
        Effect.gen(function* () {
          const catalog = yield* TemplateCatalog
          const a = yield* TestData.seedTenant("A")
          const b = yield* TestData.seedTenant("B")
          const id = yield* nextTemplateId
          const original = TestData.template({ id, businessId: a.businessId })
          assert.deepStrictEqual(yield* catalog.upsert(original), original)
          const replacement = TestData.template({
            id: yield* nextTemplateId,
            businessId: a.businessId,
            status: "PAUSED",
            components: [
              { type: "HEADER", format: "TEXT", text: "Order {{order_id}}" },
              { type: "BODY", text: "Hi {{name}}" },
              { type: "FOOTER", text: "Acme" },
              { type: "BUTTONS", buttons: [{ type: "URL", text: "Track", url: "https://acme.test/t/{{1}}" }] }
            ]
          })
          const stored = yield* catalog.upsert(replacement)
          assert.strictEqual(stored.id, id)
          assert.deepStrictEqual(Option.getOrThrow(yield* catalog.findByKey(a.businessId, "order_shipped")), stored)
          assert.strictEqual(stored.status, "PAUSED")
          assert.isTrue(Option.isNone(yield* catalog.findByKey(b.businessId, "order_shipped")))
          yield* catalog.upsert(
            TestData.template({ id: yield* nextTemplateId, businessId: a.businessId, key: "a_first" })
          )
          assert.deepStrictEqual(
            (yield* catalog.list(a.businessId)).map((t) => t.key),
            ["a_first", "order_shipped"]
          )
          assert.deepStrictEqual(yield* catalog.list(b.businessId), [])
        })
      )

      it.effect("WhatsAppNumberDirectory is scoped by business and routes by provider id", () =>
        Effect.gen(function* () {
          const numbers = yield* WhatsAppNumberDirectory
          const a = yield* TestData.seedTenant("A")
          const b = yield* TestData.seedTenant("B")
          const found = Option.getOrThrow(yield* numbers.findById(a.businessId, a.number.id))
          assert.strictEqual(found.providerPhoneNumberId, a.number.providerPhoneNumberId)
          assert.strictEqual(Redacted.value(found.accessToken), Redacted.value(a.number.accessToken))
          assert.isTrue(Option.isNone(yield* numbers.findById(b.businessId, a.number.id)))
          const routed = Option.getOrThrow(yield* numbers.findByProviderId(b.number.providerPhoneNumberId))
          assert.strictEqual(routed.businessId, b.businessId)
          assert.isTrue(Option.isNone(yield* numbers.findByProviderId("999999999999999")))
        })
      )

      it.effect("WhatsAppNumberDirectory keeps a Twilio number's credentials and routes it within its provider", () =>
        Effect.gen(function* () {
          const numbers = yield* WhatsAppNumberDirectory
          const seeder = yield* StorageSeeder
          const a = yield* TestData.seedTenant("A")
          const id = yield* nextWhatsAppNumberId
          // A sender E.164 unique to this run: tests may share one database.
          const e164 = `+1555${BigInt(`0x${id.replace(/-/g, "")}`)
            .toString()
            .slice(-8)}`
          const twilio = new WhatsAppNumber({
            id,
            businessId: a.businessId,
            provider: "twilio",
            providerPhoneNumberId: e164,
            displayPhoneNumber: e164.slice(1),
            wabaId: null,
            accessToken: Redacted.make("auth-token"),
            providerAccountId: `AC${"0".repeat(32)}`,
            providerApiKey: { sid: `SK${"1".repeat(32)}`, secret: Redacted.make("api-key-secret") }
          })
          yield* seeder.whatsappNumber(twilio)
          const found = Option.getOrThrow(yield* numbers.findByProviderId(e164, "twilio"))
          assert.strictEqual(found.id, id)
          assert.strictEqual(found.provider, "twilio")
          assert.strictEqual(found.providerAccountId, `AC${"0".repeat(32)}`)
          assert.strictEqual(found.providerApiKey?.sid, `SK${"1".repeat(32)}`)
          assert.strictEqual(found.providerApiKey && Redacted.value(found.providerApiKey.secret), "api-key-secret")
          assert.strictEqual(Redacted.value(found.accessToken), "auth-token")
          // Ids are unique per provider only: the same id under the other provider is another number.
          assert.isTrue(Option.isNone(yield* numbers.findByProviderId(e164)))
          assert.isTrue(Option.isNone(yield* numbers.findByProviderId(a.number.providerPhoneNumberId, "twilio")))
          const cloud = Option.getOrThrow(yield* numbers.findById(a.businessId, a.number.id))
          assert.strictEqual(cloud.provider, "whatsapp_cloud")
          assert.isNull(cloud.providerApiKey)
        })
      )

      it.effect("UserDirectory knows only the business's own users", () =>
        Effect.gen(function* () {
          const users = yield* UserDirectory
          const a = yield* TestData.seedTenant("A")
          const b = yield* TestData.seedTenant("B")
          assert.isTrue(yield* users.exists(a.businessId, a.userId))
          assert.isFalse(yield* users.exists(b.businessId, a.userId))
          assert.isFalse(yield* users.exists(a.businessId, yield* nextUserId))
        })
      )

      it.effect("IdempotencyStore claims once, replays the outcome, and refuses a different request", () =>
        Effect.gen(function* () {
          const store = yield* Idempotency.IdempotencyStore
          const messages = yield* MessageRepository
          const tenant = yield* TestData.seedTenant()
          const c = yield* newConversation(tenant, { customerPhone: uniquePhone() })
          const now = TestData.at(0)
          const key = `key-${++phoneCounter}`
          assert.strictEqual((yield* store.claim(tenant.businessId, key, "fp-1", times(now)))._tag, "Claimed")
          assert.strictEqual((yield* store.claim(tenant.businessId, key, "fp-1", times(now)))._tag, "InFlight")
          assert.strictEqual((yield* store.claim(tenant.businessId, key, "fp-2", times(now)))._tag, "Mismatch")
          const m = yield* sendPending(c.id, tenant, TestData.at(1), key)
          const sent = Option.getOrThrow(yield* messages.markSent(tenant.businessId, m.id, wamid()))
          yield* store.complete(tenant.businessId, key, new Idempotency.Sent({ message: sent }))
          const replay = yield* store.claim(tenant.businessId, key, "fp-1", times(TestData.at(5)))
          assert.strictEqual(replay._tag, "Completed")
          if (replay._tag === "Completed")
            assert.deepStrictEqual(replay.outcome, new Idempotency.Sent({ message: sent }))
          assert.strictEqual(
            (yield* store.claim(tenant.businessId, key, "fp-2", times(TestData.at(5))))._tag,
            "Mismatch"
          )
        })
      )

      it.effect("IdempotencyStore replays a stored refusal exactly", () =>
        Effect.gen(function* () {
          const store = yield* Idempotency.IdempotencyStore
          const tenant = yield* TestData.seedTenant()
          const key = `key-${++phoneCounter}`
          const outcome = new Idempotency.Refused({
            error: new ProviderWindowClosed({ code: 131047, title: "Re-engagement message" })
          })
          yield* store.claim(tenant.businessId, key, "fp", times(TestData.at(0)))
          yield* store.complete(tenant.businessId, key, outcome)
          const replay = yield* store.claim(tenant.businessId, key, "fp", times(TestData.at(1)))
          assert.strictEqual(replay._tag, "Completed")
          if (replay._tag === "Completed") assert.deepStrictEqual(replay.outcome, outcome)
        })
      )

      it.effect("IdempotencyStore keys are per business; release frees a key; expiry replaces it", () =>
        Effect.gen(function* () {
          const store = yield* Idempotency.IdempotencyStore
          const a = yield* TestData.seedTenant("A")
          const b = yield* TestData.seedTenant("B")
          const key = `key-${++phoneCounter}`
          const now = TestData.at(0)
          assert.strictEqual((yield* store.claim(a.businessId, key, "fp-a", times(now)))._tag, "Claimed")
          assert.strictEqual((yield* store.claim(b.businessId, key, "fp-b", times(now)))._tag, "Claimed")
          yield* store.release(a.businessId, key)
          assert.strictEqual((yield* store.claim(a.businessId, key, "fp-other", times(now)))._tag, "Claimed")
          yield* store.complete(
            a.businessId,
            key,
            new Idempotency.Refused({ error: new ProviderWindowClosed({ code: null, title: "closed" }) })
          )
          const later = DateTime.add(now, { hours: 49 })
          assert.strictEqual((yield* store.claim(a.businessId, key, "fp-new", times(later)))._tag, "Claimed")
        })
      )

      it.effect("IdempotencyStore lets a dead claim be taken over after its lease, unless it recorded a message", () =>
        Effect.gen(function* () {
          const store = yield* Idempotency.IdempotencyStore
          const tenant = yield* TestData.seedTenant()
          const c = yield* newConversation(tenant, { customerPhone: uniquePhone() })
          const now = TestData.at(0)
          const afterLease = DateTime.add(now, { minutes: 3 })
          const quiet = `key-${++phoneCounter}`
          yield* store.claim(tenant.businessId, quiet, "fp", times(now))
          assert.strictEqual((yield* store.claim(tenant.businessId, quiet, "fp", times(afterLease)))._tag, "Claimed")
          const recorded = `key-${++phoneCounter}`
          yield* store.claim(tenant.businessId, recorded, "fp", times(now))
          const m = yield* sendPending(c.id, tenant, TestData.at(1), recorded)
          const taken = yield* store.claim(tenant.businessId, recorded, "fp", times(afterLease))
          assert.strictEqual(taken._tag, "Abandoned")
          if (taken._tag === "Abandoned") assert.strictEqual(taken.messageId, m.id)
          assert.strictEqual(
            (yield* store.claim(tenant.businessId, recorded, "fp", times(afterLease)))._tag,
            "InFlight"
          )
        })
      )

      it.effect("IdempotencyStore.purgeExpired removes only expired keys", () =>
        Effect.gen(function* () {
          const store = yield* Idempotency.IdempotencyStore
          const tenant = yield* TestData.seedTenant()
          const old = `key-${++phoneCounter}`
          const young = `key-${++phoneCounter}`
          yield* store.claim(tenant.businessId, old, "fp", times(TestData.at(-60 * 72)))
          yield* store.claim(tenant.businessId, young, "fp", times(TestData.at(0)))
          const purged = yield* store.purgeExpired(TestData.at(1))
          assert.isTrue(purged >= 1)
          assert.strictEqual(
            (yield* store.claim(tenant.businessId, old, "fp-x", times(TestData.at(1))))._tag,
            "Claimed"
          )
          assert.strictEqual(
            (yield* store.claim(tenant.businessId, young, "fp-x", times(TestData.at(1))))._tag,
            "Mismatch"
          )
        })
      )

      it.effect("IdempotencyStore: 50 concurrent claims of one key yield exactly one owner", () =>
        Effect.gen(function* () {
          const store = yield* Idempotency.IdempotencyStore
          const tenant = yield* TestData.seedTenant()
          const key = `key-${++phoneCounter}`
          const results = yield* Effect.all(
            Array.from({ length: 50 }, () => store.claim(tenant.businessId, key, "fp", times(TestData.at(0)))),
            { concurrency: "unbounded" }
          )
          assert.strictEqual(results.filter((r) => r._tag === "Claimed").length, 1)
          assert.strictEqual(results.filter((r) => r._tag === "InFlight").length, 49)
        })
      )

      it.effect("concurrent first messages from one new customer make one conversation", () =>
        Effect.gen(function* () {
          const repo = yield* ConversationRepository
          const tenant = yield* TestData.seedTenant()
          const customerPhone = uniquePhone()
          const created = yield* Effect.all(
            Array.from({ length: 50 }, () => newConversation(tenant, { customerPhone })),
            { concurrency: "unbounded" }
          )
          assert.strictEqual(new Set(created.map((c) => c.id)).size, 1)
          const all = yield* repo.list(tenant.businessId, { limit: 100 })
          assert.strictEqual(all.length, 1)
        })
      )

      it.effect("concurrent first messages of a new customer, each with its own new conversation, make one", () =>
        Effect.gen(function* () {
          const repo = yield* ConversationRepository
          const tenant = yield* TestData.seedTenant()
          const customerPhone = uniquePhone()
          const results = yield* Effect.all(
            Array.from({ length: 50 }, (_, i) =>
              Effect.gen(function* () {
                const candidate = TestData.conversation({
                  id: yield* nextConversationId,
                  businessId: tenant.businessId,
                  whatsappNumberId: tenant.number.id,
                  customerPhone
                })
                return yield* receive(candidate, tenant, wamid(), TestData.at(i))
              })
            ),
            { concurrency: "unbounded" }
          )
          const ids = new Set(results.flatMap((r) => (r._tag === "Recorded" ? [r.conversation.id] : [])))
          assert.strictEqual(ids.size, 1)
          const all = yield* repo.list(tenant.businessId, { limit: 100 })
          assert.strictEqual(all.length, 1)
          assert.strictEqual(all[0]?.unreadCount, 50)
        })
      )

      it.effect("concurrent redeliveries of one inbound message record it once", () =>
        Effect.gen(function* () {
          const repo = yield* ConversationRepository
          const tenant = yield* TestData.seedTenant()
          const c = yield* newConversation(tenant, { customerPhone: uniquePhone() })
          const id = wamid()
          const results = yield* Effect.all(
            Array.from({ length: 50 }, () => receive(c, tenant, id, TestData.at(1))),
            { concurrency: "unbounded" }
          )
          assert.strictEqual(results.filter((r) => r._tag === "Recorded").length, 1)
          assert.strictEqual(Option.getOrThrow(yield* repo.findById(tenant.businessId, c.id)).unreadCount, 1)
        })
      )

      it.effect("concurrent status updates end at the highest rank", () =>
        Effect.gen(function* () {
          const messages = yield* MessageRepository
          const tenant = yield* TestData.seedTenant()
          const c = yield* newConversation(tenant, { customerPhone: uniquePhone() })
          const m = yield* sendPending(c.id, tenant, TestData.at(1))
          const id = wamid()
          yield* messages.markSent(tenant.businessId, m.id, id)
          const order: ReadonlyArray<Exclude<DeliveryStatus, "pending">> = ["sent", "delivered", "read"]
          yield* Effect.all(
            Array.from({ length: 60 }, (_, i) => messages.applyStatus(tenant.businessId, status(id, order[i % 3]!))),
            { concurrency: "unbounded" }
          )
          assert.strictEqual(
            Option.getOrThrow(yield* messages.findById(tenant.businessId, m.id)).deliveryStatus,
            "read"
          )
        })
      )
    }
  )
}
