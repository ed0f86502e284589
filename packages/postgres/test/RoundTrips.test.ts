/**
 * What a send and a get cost the database: every query the storage ports make for one `sendText` or
 * `getConversation` (BEGIN and COMMIT included), counted at the driver, on PostgreSQL. A count is deterministic, so
 * it is a regression test of the hot paths' round trips; its speed is the benchmark's business (docs/benchmarks.md). The number read is cached
 * per process, so the first send of a number costs one read more than the ones after it.
 * Required when `CI` or `TEST_DATABASE_URL` is set.
 */

import { SqlError } from "@effect/sql/SqlError"
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import {
  allScopes,
  Inbox,
  layerUuidV7,
  MessageRepository,
  makeActor,
  nextConversationId,
  nextMessageId
} from "@parley/core"
import { FakeGateway, TestData } from "@parley/core/testing"
import { DateTime, Duration, Effect, Layer, Option, Redacted } from "effect"
import Pg from "pg"
import * as Storage from "../src/Storage.js"
import { SqlStorageSeeder, TestDatabase } from "../src/testing/index.js"

const target = await TestDatabase.resolvePostgres()

/**
 * Every query text sent by the pool's clients, in order, except the followers' wake-ups: those go out after the
 * write commits, from a background fiber, one statement per window for any number of writes (notifier.ts), so
 * they are no round trip of the send's. `wakeUps` counts them, and `writes` keeps every other statement whole.
 */
const queries: Array<string> = []
const writes: Array<string> = []
let wakeUps = 0

const textOf = (query: unknown): string =>
  typeof query === "string"
    ? query
    : typeof query === "object" && query !== null && "text" in query && typeof query.text === "string"
      ? query.text
      : "(other)"

/** A pool whose clients record each query before sending it. */
const countingPool = (url: string) =>
  Effect.acquireRelease(
    Effect.try({
      try: () => {
        const pool = new Pg.Pool({ connectionString: url, max: 4 })
        pool.on("error", () => {})
        pool.on("connect", (client) => {
          const query = client.query
          Object.defineProperty(client, "query", {
            value: (...args: Array<unknown>): unknown => {
              const text = textOf(args[0]).replace(/\s+/g, " ").trim()
              if (text.startsWith("SELECT pg_notify(")) {
                wakeUps++
              } else {
                queries.push(text.slice(0, 60))
                writes.push(text)
              }
              return Reflect.apply(query, client, args)
            }
          })
        })
        return pool
      },
      catch: (cause) => new SqlError({ cause, message: "counting pool" })
    }),
    (pool) => Effect.promise(() => pool.end())
  )

const stack = Layer.unwrapEffect(
  Effect.map(TestDatabase.FreshDatabase, (database) => {
    const client = PgClient.layerFromPool({ acquire: countingPool(Redacted.value(database.url)) })
    return Inbox.layer().pipe(
      Layer.provideMerge(Layer.mergeAll(Storage.layer, SqlStorageSeeder.layer, FakeGateway.layer)),
      Layer.provideMerge(Layer.merge(Storage.migrated(client), TestDatabase.secrets))
    )
  })
)

/** A tenant and a conversation whose window is open (a customer wrote a minute ago). */
const openConversation = Effect.gen(function* () {
  const tenant = yield* TestData.seedTenant()
  const now = yield* DateTime.now
  const conversationId = yield* nextConversationId
  const id = yield* nextMessageId
  const messages = yield* MessageRepository
  yield* messages.recordInbound({
    conversation: TestData.conversation({
      id: conversationId,
      businessId: tenant.businessId,
      whatsappNumberId: tenant.number.id,
      customerPhone: TestData.phone("447700900123")
    }),
    message: TestData.message({
      id,
      businessId: tenant.businessId,
      conversationId,
      providerMessageId: `wamid.ROUNDTRIPS${id}`,
      createdAt: DateTime.subtract(now, { minutes: 1 })
    }),
    customerName: Option.none(),
    opensWindow: true
  })
  return {
    actor: makeActor({ businessId: tenant.businessId, userId: tenant.userId, scopes: allScopes }),
    conversationId
  }
})

/** The queries `effect` sends. */
const counted = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    queries.length = 0
    const result = yield* effect
    return { result, queries: [...queries] }
  })

if (target._tag !== "Unavailable") {
  // The test clock stands still: the cached number stays fresh for the whole test, whatever the machine's load.
  layer(stack.pipe(Layer.provideMerge(TestDatabase.fresh(target.url)), Layer.provideMerge(layerUuidV7)), {
    timeout: Duration.minutes(2)
  })("round trips per send and per get on PostgreSQL", (it) => {
    it.effect("a text send, with and without an Idempotency-Key, and a replay of the key", () =>
      Effect.gen(function* () {
        const inbox = yield* Inbox.Inbox
        const { actor, conversationId } = yield* openConversation
        const first = yield* counted(inbox.sendText(actor, conversationId, { text: "first" }))
        assert.strictEqual(first.result.outcome._tag, "Sent")
        const plain = yield* counted(inbox.sendText(actor, conversationId, { text: "plain" }))
        assert.strictEqual(plain.result.outcome._tag, "Sent")
        const keyed = yield* counted(
          inbox.sendText(actor, conversationId, { text: "keyed" }, { idempotencyKey: "round-trips-1" })
        )
        assert.strictEqual(keyed.result.outcome._tag, "Sent")
        const replay = yield* counted(
          inbox.sendText(actor, conversationId, { text: "keyed" }, { idempotencyKey: "round-trips-1" })
        )
        assert.isTrue(replay.result.replayed)
        // Without a key: the conversation, the message with its event (one statement), then the mark: one call of
        // `parley_mark_sent` (the provider id's lock and the status with its event, its own implicit transaction).
        // The first send also reads the number.
        assert.strictEqual(first.queries.length, 4, first.queries.join("\n"))
        assert.strictEqual(plain.queries.length, 3, plain.queries.join("\n"))
        assert.match(plain.queries[2] ?? "", /SELECT \* FROM parley_mark_sent\(/)
        // With one: the claim (one statement) before; the mark also completes the key (no statement of its own:
        // the replay below finds the key completed).
        assert.strictEqual(keyed.queries.length, 4, keyed.queries.join("\n"))
        assert.match(keyed.queries[3] ?? "", /SELECT \* FROM parley_mark_sent\(/)
        assert.isFalse(keyed.queries.some((text) => text.includes("UPDATE idempotency_keys")))
        assert.strictEqual(replay.result.outcome._tag, "Sent")
        assert.strictEqual(replay.queries.length, 1, replay.queries.join("\n"))
        // No write notifies from inside its transaction (that would serialise every commit on PostgreSQL's
        // notification lock); the wake-ups of these sends follow them, coalesced.
        assert.deepStrictEqual(
          writes.filter((text) => text.includes("pg_notify")),
          []
        )
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 100)))
        assert.isAtLeast(wakeUps, 1)
      })
    )

    it.effect("a get of a conversation with its messages, first page or older, is one round trip", () =>
      Effect.gen(function* () {
        const inbox = yield* Inbox.Inbox
        const { actor, conversationId } = yield* openConversation
        for (const text of ["one", "two", "three"]) yield* inbox.sendText(actor, conversationId, { text })
        const latest = yield* counted(inbox.getConversation(actor, conversationId, { messagesLimit: 2 }))
        const cursor = Option.getOrThrow(latest.result.olderCursor)
        const older = yield* counted(inbox.getConversation(actor, conversationId, { messagesLimit: 2, before: cursor }))
        // The test clock stands still, so the four messages share a time and page by id: any order, each once.
        assert.deepStrictEqual([...latest.result.messages, ...older.result.messages].map((m) => m.text).sort(), [
          "Is my order shipped?",
          "one",
          "three",
          "two"
        ])
        const unknown = yield* counted(Effect.flip(inbox.getConversation(actor, yield* nextConversationId)))
        assert.strictEqual(unknown.result._tag, "ConversationNotFound")
        // The conversation's SELECT and its page's, as one script.
        for (const { queries: sent } of [latest, older, unknown]) assert.strictEqual(sent.length, 1, sent.join("\n"))
        const scripts = writes.slice(-3)
        for (const text of scripts) assert.match(text, /FROM conversations WHERE .*;\s*SELECT .* FROM messages WHERE/)
      })
    )
  })
}
