/**
 * The feed orders by the transaction id as a number, on both engines: across the point where the xid gains a digit
 * (9 → 10) pages neither repeat nor skip. Rows are written with explicit, long-past xids, which the feed serves
 * at once (every transaction that old has ended).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, layer } from "@effect/vitest"
import { EventLog, layerUuidV7, nextBusinessId } from "@parley/core"
import { Effect, Layer, Option } from "effect"
import { storage, TestDatabase } from "../src/testing/index.js"

const target = await TestDatabase.resolvePostgres()

const engines = [
  { name: "PGlite", database: TestDatabase.pglite },
  ...(target._tag === "Unavailable"
    ? []
    : [{ name: "PostgreSQL", database: TestDatabase.postgres({ url: target.url }) }])
]

for (const engine of engines) {
  layer(Layer.merge(storage(engine.database), layerUuidV7), { excludeTestServices: true })(
    `event order on ${engine.name}`,
    (it) => {
      it.effect("pages in numeric xid order where the xid gains a digit", () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const log = yield* EventLog
          const businessId = yield* nextBusinessId
          const xids = ["8", "9", "10", "11", "100"]
          for (const [i, xid] of xids.entries()) {
            const id = `00000000-0000-4000-b000-${String(i + 1).padStart(12, "0")}`
            const data = {
              template: {
                id,
                key: `t${i}`,
                name: `t${i}`,
                language: "en",
                category: "UTILITY",
                status: "APPROVED",
                previousStatus: null
              }
            }
            yield* sql`
              INSERT INTO events (xid, id, business_id, type, occurred_at, data)
              VALUES (${xid}::xid8, ${id}, ${businessId}, 'template.status_updated', now(), ${JSON.stringify(data)}::jsonb)`
          }
          const all = yield* log.read(businessId, { after: Option.none(), limit: 100 })
          assert.deepStrictEqual(
            all.map((row) => row.cursor.split(".")[0]),
            xids
          )
          const paged: Array<string> = []
          let after = Option.none<string>()
          for (let i = 0; i < 10; i++) {
            const page = yield* log.read(businessId, { after, limit: 2 })
            if (page.length === 0) break
            paged.push(...page.map((row) => row.event.id))
            after = Option.some(page[page.length - 1]!.cursor)
          }
          assert.deepStrictEqual(
            paged,
            all.map((row) => row.event.id)
          )
          assert.deepStrictEqual(yield* log.head(businessId), Option.some(all[all.length - 1]!.cursor))
        })
      )
    }
  )
}
