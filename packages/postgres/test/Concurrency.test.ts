/**
 * Exactly-once under concurrency, with several Parley "processes" (separate connection pools) on one PostgreSQL
 * database: every guarantee comes from constraints and row locks in the database, none from memory. Each test runs
 * at least 50 operations at once. The same suite runs on PGlite (one session, so it checks the results, not the
 * races) and, when the server is there, on PostgreSQL.
 */

import type * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, layer } from "@effect/vitest"
import {
  type ConversationId,
  ConversationRepository,
  DeliveryFailure,
  type DeliveryStatus,
  IdempotencyStore,
  layerUuidV7,
  MessageRepository,
  nextConversationId,
  nextMessageId,
  Phone
} from "@parley/core"
import { type StorageSeeder, TestData } from "@parley/core/testing"
import { Context, DateTime, Effect, Layer, Option, Redacted } from "effect"
import * as Migrations from "../src/Migrations.js"
import * as Secrets from "../src/Secrets.js"
import * as Storage from "../src/Storage.js"
import { SqlStorageSeeder, TestDatabase } from "../src/testing/index.js"
import * as WebhookInbox from "../src/WebhookInbox.js"

type ProcessServices = Storage.Ports | WebhookInbox.WebhookInbox | StorageSeeder

/** The services of each simulated process. */
class Processes extends Context.Tag("test/Processes")<Processes, ReadonlyArray<Context.Context<ProcessServices>>>() {}

const secretKey = Redacted.make(Secrets.generateKey())

const processStack = <E, R>(client: Layer.Layer<SqlClient.SqlClient, E, R>) =>
  Layer.mergeAll(Storage.layer, WebhookInbox.layer, SqlStorageSeeder.layer).pipe(
    Layer.provide(Layer.merge(client, Secrets.layer(secretKey)))
  )

const postgresProcesses = (url: string, count: number) =>
  Layer.scoped(
    Processes,
    Effect.gen(function* () {
      yield* Effect.scoped(Effect.provide(Migrations.run, TestDatabase.client(1)))
      return yield* Effect.forEach(Array.from({ length: count }), () =>
        Layer.build(processStack(TestDatabase.client(8)))
      )
    })
  ).pipe(Layer.provide(TestDatabase.fresh(url)))

const pgliteProcesses = (count: number) =>
  Layer.scoped(
    Processes,
    Effect.map(Layer.build(processStack(TestDatabase.pglite)), (context) =>
      Array.from({ length: count }, () => context)
    )
  )

/** Runs `count` copies of `operation` at once, the i-th in process i mod n. */
const inParallel = <A, E, R>(count: number, operation: (i: number) => Effect.Effect<A, E, R>) =>
  Effect.flatMap(Processes, (processes) =>
    Effect.all(
      Array.from({ length: count }, (_, i) => Effect.provide(operation(i), processes[i % processes.length]!)),
      { concurrency: "unbounded" }
    )
  )

const inFirst = <A, E, R>(operation: Effect.Effect<A, E, R>) =>
  Effect.flatMap(Processes, (processes) => Effect.provide(operation, processes[0]!))

let counter = 0
const unique = (prefix: string) => `${prefix}${Date.now()}${++counter}`
const uniquePhone = () => TestData.phone(`4478${String(Date.now() % 1e7).padStart(7, "0")}${++counter % 10}`)

const tenantWithConversation = Effect.gen(function* () {
  const tenant = yield* TestData.seedTenant()
  const conversations = yield* ConversationRepository
  const conversation = yield* conversations.findOrCreate(
    TestData.conversation({
      id: yield* nextConversationId,
      businessId: tenant.businessId,
      whatsappNumberId: tenant.number.id,
      customerPhone: uniquePhone()
    })
  )
  return { tenant, conversation }
})

const pendingMessage = (tenant: TestData.Tenant, conversationId: ConversationId) =>
  Effect.gen(function* () {
    const messages = yield* MessageRepository
    return yield* messages.recordOutbound({
      message: TestData.message({
        id: yield* nextMessageId,
        businessId: tenant.businessId,
        conversationId,
        direction: "outbound",
        deliveryStatus: "pending",
        createdAt: TestData.at(1)
      }),
      idempotencyKey: Option.none()
    })
  })

const status = (providerMessageId: string, value: Exclude<DeliveryStatus, "pending">) => ({
  providerMessageId,
  status: value,
  timestamp: TestData.at(2),
  failure:
    value === "failed" ? Option.some(new DeliveryFailure({ code: 131026, title: "undeliverable" })) : Option.none(),
  messageId: Option.none()
})

const suite = (processes: Layer.Layer<Processes, unknown>) =>
  layer(Layer.merge(processes, layerUuidV7), { excludeTestServices: true })("", (it) => {
    it.effect("100 claims of one idempotency key: exactly one Claimed", () =>
      Effect.gen(function* () {
        const tenant = yield* inFirst(TestData.seedTenant())
        const key = unique("key-")
        const now = TestData.at(0)
        const times = {
          now,
          lockedUntil: DateTime.add(now, { minutes: 2 }),
          expiresAt: DateTime.add(now, { hours: 48 })
        }
        const results = yield* inParallel(100, () =>
          Effect.flatMap(IdempotencyStore, (store) => store.claim(tenant.businessId, key, "fp", times))
        )
        assert.strictEqual(results.filter((r) => r._tag === "Claimed").length, 1)
        assert.strictEqual(results.filter((r) => r._tag === "InFlight").length, 99)
      })
    )

    it.effect("100 deliveries of one inbound message: one message, unread +1 once", () =>
      Effect.gen(function* () {
        const { tenant, conversation } = yield* inFirst(tenantWithConversation)
        const wamid = unique("wamid.DUP")
        const results = yield* inParallel(100, () =>
          Effect.gen(function* () {
            const messages = yield* MessageRepository
            return yield* messages.recordInbound({
              conversation,
              message: TestData.message({
                id: yield* nextMessageId,
                businessId: tenant.businessId,
                conversationId: conversation.id,
                providerMessageId: wamid,
                createdAt: TestData.at(3)
              }),
              customerName: Option.some("Ada"),
              opensWindow: true
            })
          })
        )
        assert.strictEqual(results.filter((r) => r._tag === "Recorded").length, 1)
        const recorded = results.find((r) => r._tag === "Recorded")
        for (const r of results) {
          if (r._tag === "Duplicate" && recorded?._tag === "Recorded")
            assert.strictEqual(r.messageId, recorded.message.id)
        }
        const stored = yield* inFirst(
          Effect.gen(function* () {
            const conversations = yield* ConversationRepository
            const messages = yield* MessageRepository
            return {
              conversation: Option.getOrThrow(yield* conversations.findById(tenant.businessId, conversation.id)),
              history: yield* messages.listByConversation(tenant.businessId, conversation.id, { limit: 10 })
            }
          })
        )
        assert.strictEqual(stored.conversation.unreadCount, 1)
        assert.strictEqual(stored.history.length, 1)
      })
    )

    it.effect("60 distinct inbound messages at once to one conversation: no lost unread increments", () =>
      Effect.gen(function* () {
        const { tenant, conversation } = yield* inFirst(tenantWithConversation)
        yield* inParallel(60, (i) =>
          Effect.gen(function* () {
            const messages = yield* MessageRepository
            return yield* messages.recordInbound({
              conversation,
              message: TestData.message({
                id: yield* nextMessageId,
                businessId: tenant.businessId,
                conversationId: conversation.id,
                providerMessageId: unique("wamid.MANY"),
                createdAt: TestData.at(10 + i)
              }),
              customerName: Option.none(),
              opensWindow: true
            })
          })
        )
        const stored = yield* inFirst(
          Effect.flatMap(ConversationRepository, (c) => c.findById(tenant.businessId, conversation.id))
        )
        assert.strictEqual(Option.getOrThrow(stored).unreadCount, 60)
        assert.isTrue(DateTime.Equivalence(Option.getOrThrow(stored).lastInboundAt ?? TestData.epoch, TestData.at(69)))
      })
    )

    it.effect("racing status updates end at the highest rank, failed included", () =>
      Effect.gen(function* () {
        const { tenant, conversation } = yield* inFirst(tenantWithConversation)
        const [a, b] = yield* inFirst(
          Effect.all([pendingMessage(tenant, conversation.id), pendingMessage(tenant, conversation.id)])
        )
        const wamidA = unique("wamid.A")
        const wamidB = unique("wamid.B")
        yield* inFirst(
          Effect.flatMap(MessageRepository, (m) =>
            Effect.all([m.markSent(tenant.businessId, a!.id, wamidA), m.markSent(tenant.businessId, b!.id, wamidB)])
          )
        )
        const forward: ReadonlyArray<Exclude<DeliveryStatus, "pending">> = ["read", "sent", "delivered"]
        const withFailure: ReadonlyArray<Exclude<DeliveryStatus, "pending">> = ["delivered", "failed", "read", "sent"]
        yield* inParallel(120, (i) =>
          Effect.flatMap(MessageRepository, (m) =>
            i % 2 === 0
              ? m.applyStatus(tenant.businessId, status(wamidA, forward[i % 3]!))
              : m.applyStatus(tenant.businessId, status(wamidB, withFailure[i % 4]!))
          )
        )
        const [finalA, finalB] = yield* inFirst(
          Effect.flatMap(MessageRepository, (m) =>
            Effect.all([m.findById(tenant.businessId, a!.id), m.findById(tenant.businessId, b!.id)])
          )
        )
        assert.strictEqual(Option.getOrThrow(finalA).deliveryStatus, "read")
        assert.strictEqual(Option.getOrThrow(finalB).deliveryStatus, "failed")
        assert.strictEqual(Option.getOrThrow(finalB).failure?.code, 131026)
      })
    )

    it.effect("a status racing its own markSent is never lost (parked, then applied by whichever comes last)", () =>
      Effect.gen(function* () {
        const { tenant, conversation } = yield* inFirst(tenantWithConversation)
        const pending = yield* inFirst(
          Effect.forEach(Array.from({ length: 40 }), () => pendingMessage(tenant, conversation.id))
        )
        const wamids = pending.map(() => unique("wamid.RACE"))
        // 80 operations at once: for each message its markSent and a "delivered" that may arrive first.
        yield* inParallel(80, (i) =>
          Effect.flatMap(MessageRepository, (m) => {
            const k = Math.floor(i / 2)
            return i % 2 === 0
              ? Effect.asVoid(m.markSent(tenant.businessId, pending[k]!.id, wamids[k]!))
              : Effect.asVoid(m.applyStatus(tenant.businessId, status(wamids[k]!, "delivered")))
          })
        )
        const final = yield* inFirst(
          Effect.flatMap(MessageRepository, (m) =>
            Effect.forEach(pending, (message) => m.findById(tenant.businessId, message.id))
          )
        )
        assert.deepStrictEqual(
          final.map((m) => Option.getOrThrow(m).deliveryStatus),
          pending.map(() => "delivered")
        )
      })
    )

    it.effect("100 first messages from one new customer at once: one conversation", () =>
      Effect.gen(function* () {
        const tenant = yield* inFirst(TestData.seedTenant())
        const customerPhone = uniquePhone()
        const created = yield* inParallel(100, () =>
          Effect.gen(function* () {
            const conversations = yield* ConversationRepository
            return yield* conversations.findOrCreate(
              TestData.conversation({
                id: yield* nextConversationId,
                businessId: tenant.businessId,
                whatsappNumberId: tenant.number.id,
                customerPhone,
                customerName: null
              })
            )
          })
        )
        assert.strictEqual(new Set(created.map((c) => c.id)).size, 1)
        const listed = yield* inFirst(
          Effect.flatMap(ConversationRepository, (c) =>
            c.list(tenant.businessId, { limit: 10, search: Phone.digits(customerPhone) })
          )
        )
        assert.strictEqual(listed.length, 1)
      })
    )

    it.effect("8 workers claiming the webhook inbox at once get disjoint deliveries", () =>
      Effect.gen(function* () {
        const now = DateTime.unsafeMake("2030-01-01T00:00:00.000Z")
        const appended = yield* inParallel(120, (i) =>
          Effect.flatMap(WebhookInbox.WebhookInbox, (inbox) =>
            inbox.append({ body: JSON.stringify({ n: i, run: unique("") }), receivedAt: now })
          )
        )
        const claims = yield* inParallel(8, () =>
          Effect.flatMap(WebhookInbox.WebhookInbox, (inbox) =>
            inbox.claim({ limit: 40, now, leaseUntil: DateTime.add(now, { minutes: 1 }) })
          )
        )
        const claimed = claims.flat().map((d) => d.id)
        assert.strictEqual(new Set(claimed).size, claimed.length)
        const mine = new Set(appended.map((a) => a.id))
        assert.strictEqual(claimed.filter((id) => mine.has(id)).length, 120)
      })
    )
  })

const target = await TestDatabase.resolvePostgres()

describe("concurrency on PGlite", () => {
  suite(pgliteProcesses(4))
})

if (target._tag !== "Unavailable") {
  describe("concurrency on PostgreSQL, 4 processes", () => {
    suite(postgresProcesses(target.url, 4))
  })
}
