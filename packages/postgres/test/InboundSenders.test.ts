/**
 * An inbound batch finds its senders' conversations in one statement per thousand senders (`sendersStatement`). On
 * PostgreSQL its plan must not go through the phone's trigram index: for a long `customer_phone IN (…)` list the
 * planner chose it for equality, at a cost it underestimated by orders of magnitude (800 phones among 10,000
 * conversations: 14 s a statement, so a webhook backlog drained at ~130 messages/s). The plan is checked, not its
 * speed: a plan is deterministic for the same data and statistics, a duration on a shared machine is not.
 * Required when `CI` or `TEST_DATABASE_URL` is set.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, layer } from "@effect/vitest"
import { type BusinessId, layerUuidV7, type WhatsAppNumberId } from "@parley/core"
import { TestData } from "@parley/core/testing"
import { Duration, Effect, Layer } from "effect"
import { sendersStatement } from "../src/internal/inboundBatch.js"
import { decodeConversations } from "../src/internal/rows.js"
import { storage, TestDatabase } from "../src/testing/index.js"

const target = await TestDatabase.resolvePostgres()

interface PlanNode {
  readonly "Node Type": string
  readonly "Index Name"?: string
  readonly Plans?: ReadonlyArray<PlanNode>
}
const nodes = (plan: PlanNode): ReadonlyArray<PlanNode> => [plan, ...(plan.Plans ?? []).flatMap(nodes)]

const conversations = 5_000
const senders = 800
const phoneOf = (i: number) => `+4479${String(i).padStart(8, "0")}`

/** `conversations` conversations of the tenant's number, phones `phoneOf(0…)`, and fresh planner statistics. */
const seed = (businessId: BusinessId, numberId: WhatsAppNumberId) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`
      INSERT INTO conversations (business_id, id, whatsapp_number_id, customer_phone, customer_name, status, mode,
        unread_count, last_activity_at, created_at)
      SELECT ${businessId}::uuid, gen_random_uuid(), ${numberId}::uuid, '+4479' || lpad(i::text, 8, '0'),
        'Customer ' || i, 'open', 'human', 0, now() - i * interval '1 second', now() - i * interval '1 second'
      FROM generate_series(0, ${conversations - 1}::int) AS i`
    yield* sql`ANALYZE conversations`
  })

describe.runIf(target._tag !== "Unavailable")("an inbound batch's senders on PostgreSQL", () => {
  layer(storage(TestDatabase.postgres({ url: target.url })).pipe(Layer.provideMerge(layerUuidV7)), {
    timeout: Duration.minutes(2)
  })("sendersStatement", (it) => {
    it.effect(
      "finds each sender's conversation, and only theirs, without the trigram index",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const tenant = yield* TestData.seedTenant()
          yield* seed(tenant.businessId, tenant.number.id)
          // Every other stored phone, and as many that have no conversation.
          const phones = Array.from({ length: senders }, (_, i) => phoneOf(i % 2 === 0 ? i : conversations + i))
          const statement = sendersStatement(sql, tenant.businessId, tenant.number.id, "phone", phones)

          const found = yield* statement.pipe(Effect.flatMap(decodeConversations))
          assert.deepStrictEqual(
            found.map((c): string | null => c.customerPhone).sort(),
            phones.filter((_, i) => i % 2 === 0).sort()
          )
          assert.isTrue(found.every((c) => c.businessId === tenant.businessId))

          const [text, params] = statement.compile()
          const [row] = yield* sql.unsafe<{ "QUERY PLAN": ReadonlyArray<{ Plan: PlanNode }> }>(
            `EXPLAIN (FORMAT JSON) ${text}`,
            params
          )
          const plan = row?.["QUERY PLAN"][0]?.Plan
          assert.isDefined(plan)
          const indexes = nodes(plan as PlanNode).flatMap((n) =>
            n["Index Name"] === undefined ? [] : [n["Index Name"]]
          )
          assert.notInclude(indexes, "conversations_phone_trgm_idx")
          assert.notInclude(indexes, "conversations_name_trgm_idx")
        }),
      { timeout: 120_000 }
    )
  })
})
