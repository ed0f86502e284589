/**
 * EXPLAIN (ANALYZE, BUFFERS) of the inbox's read queries on a generated database (see generate.ts): the conversation
 * list with no filter, each filter, a deep keyset page, search by name and by phone, a conversation's message
 * history, and the point lookups of the webhook path. The statements are the repositories' own (`listStatement`,
 * `historyStatement`), compiled with real parameters. Fails (exit 1) if any plan has a sequential scan on
 * conversations or messages. Prints a Markdown table for docs/benchmarks.md.
 *
 *   node --conditions=@parley/source --import tsx packages/postgres/scripts/explain.ts --url postgres://postgres@127.0.0.1:5432/parley_bench
 */

import { parseArgs } from "node:util"
import { NodeRuntime } from "@effect/platform-node"
import type { Statement } from "@effect/sql"
import * as SqlClient from "@effect/sql/SqlClient"
import type { BusinessId, ConversationId, ConversationQuery, UserId } from "@parley/core"
import { DateTime, Effect, Layer, Redacted } from "effect"
import * as PostgresClient from "../src/PostgresClient.js"
import { listStatement } from "../src/SqlConversationRepository.js"
import { historyStatement } from "../src/SqlMessageRepository.js"

const { values: args } = parseArgs({
  options: {
    url: { type: "string", default: process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/parley_bench" },
    runs: { type: "string", default: "5" }
  }
})
const runs = Math.max(1, Number(args.runs))

interface PlanNode {
  readonly "Node Type": string
  readonly "Relation Name"?: string
  readonly "Index Name"?: string
  readonly "Shared Hit Blocks"?: number
  readonly "Shared Read Blocks"?: number
  readonly "Actual Rows"?: number
  readonly Plans?: ReadonlyArray<PlanNode>
}
interface Explained {
  readonly Plan: PlanNode
  readonly "Planning Time": number
  readonly "Execution Time": number
}

const nodes = (plan: PlanNode): ReadonlyArray<PlanNode> => [plan, ...(plan.Plans ?? []).flatMap(nodes)]

const describePlan = (plan: PlanNode) =>
  nodes(plan)
    .filter((n) => n["Index Name"] !== undefined || n["Node Type"].includes("Scan"))
    .map(
      (n) =>
        `${n["Node Type"]}${n["Index Name"] ? ` ${n["Index Name"]}` : n["Relation Name"] ? ` ${n["Relation Name"]}` : ""}`
    )
    .join(" + ")

const median = (xs: ReadonlyArray<number>) => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? 0
}

const program = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const failures: Array<string> = []
  const table: Array<string> = [
    `| query | tenant | rows | plan (scans) | execution ms (median of ${runs}) | planning ms | buffers hit/read |`,
    "| --- | --- | --- | --- | --- | --- | --- |"
  ]

  const explain = (label: string, tenant: string, statement: Statement.Statement<object>) =>
    Effect.gen(function* () {
      const [text, params] = statement.compile()
      const run = sql
        .unsafe<{ "QUERY PLAN": ReadonlyArray<Explained> }>(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${text}`, params)
        .pipe(Effect.map((rows) => rows[0]!["QUERY PLAN"][0]!))
      yield* run // warm-up
      const measured: Array<Explained> = []
      for (let i = 0; i < runs; i++) measured.push(yield* run)
      const last = measured[measured.length - 1]!
      const all = nodes(last.Plan)
      const seq = all.filter(
        (n) =>
          n["Node Type"] === "Seq Scan" && (n["Relation Name"] === "conversations" || n["Relation Name"] === "messages")
      )
      if (seq.length > 0)
        failures.push(`${label} (${tenant}): Seq Scan on ${seq.map((n) => n["Relation Name"]).join(", ")}`)
      // A node's buffer counts include its children's, so the root's are the query's.
      const hit = last.Plan["Shared Hit Blocks"] ?? 0
      const read = last.Plan["Shared Read Blocks"] ?? 0
      table.push(
        `| ${label} | ${tenant} | ${last.Plan["Actual Rows"] ?? 0} | ${describePlan(last.Plan)} | ` +
          `${median(measured.map((m) => m["Execution Time"])).toFixed(3)} | ` +
          `${median(measured.map((m) => m["Planning Time"])).toFixed(3)} | ${hit}/${read} |`
      )
    })

  const [totals] = yield* sql<{ conversations: number; messages: number; businesses: number }>`
    SELECT (SELECT count(*)::int FROM conversations) AS conversations, (SELECT count(*)::int FROM messages) AS messages,
      (SELECT count(*)::int FROM businesses) AS businesses`
  console.log(
    `database: ${totals?.businesses} businesses, ${totals?.conversations} conversations, ${totals?.messages} messages`
  )

  // The largest tenant (the worst case for every list) and one of median size.
  const sizes = yield* sql<{ business_id: BusinessId; n: number }>`
    SELECT business_id, count(*)::int AS n FROM conversations GROUP BY business_id ORDER BY n DESC`
  const largest = sizes[0]!
  const typical = sizes[Math.floor(sizes.length / 2)]!
  const tenants = [
    { name: `largest (${largest.n} conv.)`, id: largest.business_id },
    { name: `median (${typical.n} conv.)`, id: typical.business_id }
  ]

  for (const tenant of tenants) {
    const [user] = yield* sql<{ id: UserId }>`
      SELECT assigned_user_id AS id FROM conversations
      WHERE business_id = ${tenant.id} AND assigned_user_id IS NOT NULL
      ORDER BY last_activity_at DESC LIMIT 1`
    const [deep] = yield* sql<{ at: Date; id: string }>`
      SELECT last_activity_at AS at, id FROM conversations WHERE business_id = ${tenant.id}
      ORDER BY last_activity_at DESC, id DESC OFFSET ${Math.min(10_000, Math.floor((tenant.id === largest.business_id ? largest.n : typical.n) / 2))} LIMIT 1`
    const [phoneOf] = yield* sql<{ phone: string; name: string }>`
      SELECT customer_phone AS phone, customer_name AS name FROM conversations
      WHERE business_id = ${tenant.id} AND customer_name IS NOT NULL ORDER BY id LIMIT 1`
    const list = (label: string, query: Omit<ConversationQuery, "limit">) =>
      explain(label, tenant.name, listStatement(sql, tenant.id, { limit: 50, ...query }))

    yield* list("list, no filter", {})
    if (deep !== undefined) {
      yield* list("list, keyset page deep in the list", {
        after: { at: DateTime.unsafeFromDate(deep.at), id: deep.id }
      } as Omit<ConversationQuery, "limit">)
    }
    yield* list("status = open", { status: "open" })
    yield* list("status = resolved", { status: "resolved" })
    yield* list("mode = ai", { mode: "ai" })
    if (user !== undefined) yield* list("assigned = me", { assigned: { _tag: "User", userId: user.id } })
    yield* list("assigned = unassigned", { assigned: { _tag: "Unassigned" } })
    if (user !== undefined) {
      yield* list("open + human + assigned = me", {
        status: "open",
        mode: "human",
        assigned: { _tag: "User", userId: user.id }
      })
    }
    yield* list('search "ada" (common name)', { search: "ada" })
    yield* list('search "lovelace"', { search: "lovelace" })
    yield* list('search "zzq" (no match)', { search: "zzq" })
    if (phoneOf !== undefined) {
      const digits = phoneOf.phone.slice(-7)
      yield* list(`search "${digits.slice(0, 3)} ${digits.slice(3)}" (phone digits)`, {
        search: `${digits.slice(0, 3)} ${digits.slice(3)}`
      })
      yield* list('search "+234 80" (common phone prefix)', { search: "+234 80" })
    }
    const [longest] = yield* sql<{ id: ConversationId; n: number }>`
      SELECT conversation_id AS id, count(*)::int AS n FROM messages WHERE business_id = ${tenant.id}
      GROUP BY conversation_id ORDER BY n DESC LIMIT 1`
    if (longest !== undefined) {
      yield* explain(
        `message history, newest 50 (conversation of ${longest.n} messages)`,
        tenant.name,
        historyStatement(sql, tenant.id, longest.id, { limit: 50 })
      )
      const [middle] = yield* sql<{ at: Date; id: string }>`
        SELECT created_at AS at, id FROM messages WHERE business_id = ${tenant.id} AND conversation_id = ${longest.id}
        ORDER BY created_at DESC, id DESC OFFSET ${Math.floor(longest.n / 2)} LIMIT 1`
      if (middle !== undefined) {
        yield* explain(
          "message history, keyset page in the middle",
          tenant.name,
          historyStatement(sql, tenant.id, longest.id, {
            limit: 50,
            before: { at: DateTime.unsafeFromDate(middle.at), id: middle.id }
          } as Parameters<typeof historyStatement>[3])
        )
      }
    }
    const [wamid] = yield* sql<{ id: string }>`
      SELECT provider_message_id AS id FROM messages WHERE business_id = ${tenant.id} LIMIT 1`
    if (wamid !== undefined) {
      yield* explain(
        "status webhook: message by provider id",
        tenant.name,
        sql`SELECT id, delivery_status FROM messages WHERE business_id = ${tenant.id} AND provider_message_id = ${wamid.id}`
      )
    }
  }

  console.log(table.join("\n"))
  if (failures.length > 0) {
    console.error(`sequential scans found:\n${failures.join("\n")}`)
    return yield* Effect.fail(new Error("sequential scan on a big table"))
  }
  console.log("no sequential scan on conversations or messages")
})

program.pipe(
  Effect.provide(
    Layer.orDie(
      PostgresClient.layer({ url: Redacted.make(args.url), maxConnections: 1, applicationName: "parley-explain" })
    )
  ),
  NodeRuntime.runMain
)
