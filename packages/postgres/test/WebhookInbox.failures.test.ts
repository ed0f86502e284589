/**
 * The webhook inbox's claims and failed items, on PGlite and PostgreSQL: concurrent claimers never share a
 * delivery; an item's failures count up to the bound and then set it aside (dead) until a replay; the reaper keeps
 * a delivery while any of its items is unresolved; kept-aside changes become routable once a number is registered.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, layer } from "@effect/vitest"
import { DateTime, Effect, Layer, Option } from "effect"
import { TestDatabase } from "../src/testing/index.js"
import * as WebhookInbox from "../src/WebhookInbox.js"

const target = await TestDatabase.resolvePostgres()
const engines: ReadonlyArray<readonly [string, Layer.Layer<SqlClient.SqlClient, unknown>]> = [
  ["PGlite", TestDatabase.pglite],
  ...(target._tag === "Unavailable"
    ? []
    : [["PostgreSQL", TestDatabase.postgres({ url: target.url, maxConnections: 10 })] as const])
]

const t0 = DateTime.unsafeMake("2026-02-01T12:00:00.000Z")
const at = (seconds: number) => DateTime.add(t0, { seconds })
let seq = 0
const body = () => JSON.stringify({ object: "whatsapp_business_account", entry: [{ id: `${seq++}` }] })
const failed = (itemKey: string, error = 'invalid byte sequence for encoding "UTF8": 0x00') => ({
  providerPhoneNumberId: "200000000000002",
  kind: "message" as const,
  itemKey,
  error
})

for (const [name, database] of engines) {
  layer(WebhookInbox.layer.pipe(Layer.provideMerge(database)), { excludeTestServices: true, timeout: 120_000 })(
    `WebhookInbox on ${name}`,
    (it) => {
      it.effect("concurrent claimers get disjoint deliveries, and a leased delivery is claimed by nobody else", () =>
        Effect.gen(function* () {
          const inbox = yield* WebhookInbox.WebhookInbox
          const stored = yield* Effect.forEach(Array.from({ length: 24 }), () =>
            inbox.append({ body: body(), receivedAt: at(0) })
          )
          const ids = new Set(stored.map((s) => s.id))
          const claims = yield* Effect.all(
            Array.from({ length: 8 }, () => inbox.claim({ limit: 4, now: at(1), leaseUntil: at(301) })),
            { concurrency: "unbounded" }
          )
          const claimed = claims
            .flat()
            .map((d) => d.id)
            .filter((id) => ids.has(id))
          assert.strictEqual(new Set(claimed).size, claimed.length, "a delivery was handed to two claimers")
          const rest = yield* inbox.claim({ limit: 100, now: at(2), leaseUntil: at(302) })
          const all = [...claimed, ...rest.map((d) => d.id).filter((id) => ids.has(id))]
          assert.strictEqual(new Set(all).size, all.length)
          assert.strictEqual(all.length, 24)
          // Leased: nobody claims them again before the lease ends; after it, they come back (a dead worker's).
          const during = yield* inbox.claim({ limit: 100, now: at(300), leaseUntil: at(600) })
          assert.strictEqual(during.filter((d) => ids.has(d.id)).length, 0)
          const after = yield* inbox.claim({ limit: 100, now: at(302), leaseUntil: at(900) })
          assert.strictEqual(after.filter((d) => ids.has(d.id)).length, 24)
          for (const id of ids) yield* inbox.markProcessed(id, at(303))
        })
      )

      it.effect("an item's failures count up to the bound, then it is dead; a replay resolves it or counts again", () =>
        Effect.gen(function* () {
          const inbox = yield* WebhookInbox.WebhookInbox
          const { id } = yield* inbox.append({ body: body(), receivedAt: at(1000) })
          const attempt = (n: number) =>
            inbox.recordFailures({
              deliveryId: id,
              failures: [failed("message:wamid.BAD")],
              at: at(1000 + n),
              maxAttempts: 3
            })
          const states: Array<string> = []
          for (const n of [1, 2, 3]) states.push(...(yield* attempt(n)).map((f) => `${f.attempts} ${f.state}`))
          assert.deepStrictEqual(states, ["1 retrying", "2 retrying", "3 dead"])
          assert.deepStrictEqual(yield* inbox.deadItems(id), [
            { providerPhoneNumberId: "200000000000002", itemKey: "message:wamid.BAD" }
          ])
          // Dead items are not resolved by a later pass of their delivery; the reaper keeps the delivery.
          yield* inbox.resolveRetrying(id, [], at(1010))
          yield* inbox.markProcessed(id, at(1010))
          yield* inbox.purgeProcessed(at(5000))
          assert.isTrue(Option.isSome(yield* inbox.findDelivery(id)))
          const [dead] = yield* inbox
            .listFailures({ limit: 10, state: "dead" })
            .pipe(Effect.map((rows) => rows.filter((f) => f.deliveryId === id)))
          if (dead === undefined) return assert.fail("the dead item is not listed")
          assert.strictEqual(dead.lastError, 'invalid byte sequence for encoding "UTF8": 0x00')
          const again = yield* inbox.recordReplay(dead.id, { _tag: "Failed", error: "still bad", at: at(1020) })
          assert.deepStrictEqual(
            Option.map(again, (f) => [f.state, f.attempts, f.lastError]),
            Option.some(["dead", 4, "still bad"])
          )
          const fixed = yield* inbox.recordReplay(dead.id, { _tag: "Applied", at: at(1030) })
          assert.deepStrictEqual(
            Option.map(fixed, (f) => f.state),
            Option.some("resolved")
          )
          assert.deepStrictEqual(yield* inbox.deadItems(id), [])
          yield* inbox.purgeProcessed(at(5000))
          assert.isTrue(Option.isNone(yield* inbox.findDelivery(id)))
          assert.isTrue(Option.isNone(yield* inbox.findFailure("not-a-uuid")))
        })
      )

      it.effect("a later pass resolves the retrying items it applied, not those still failing; errors keep NUL", () =>
        Effect.gen(function* () {
          const inbox = yield* WebhookInbox.WebhookInbox
          const { id } = yield* inbox.append({ body: body(), receivedAt: at(2000) })
          yield* inbox.recordFailures({
            deliveryId: id,
            failures: [failed("message:wamid.A"), failed("status:wamid.B:read", "bad \u0000 byte")],
            at: at(2001),
            maxAttempts: 5
          })
          yield* inbox.resolveRetrying(
            id,
            [{ providerPhoneNumberId: "200000000000002", itemKey: "status:wamid.B:read" }],
            at(2002)
          )
          const rows = (yield* inbox.listFailures({ limit: 100 })).filter((f) => f.deliveryId === id)
          assert.deepStrictEqual(rows.map((f) => [f.itemKey, f.state, f.lastError]).sort(), [
            ["message:wamid.A", "resolved", 'invalid byte sequence for encoding "UTF8": 0x00'],
            ["status:wamid.B:read", "retrying", "bad \\u0000 byte"]
          ])
        })
      )

      it.effect("lists failures newest first in keyset pages, filtered by state", () =>
        Effect.gen(function* () {
          const inbox = yield* WebhookInbox.WebhookInbox
          const { id } = yield* inbox.append({ body: body(), receivedAt: at(3000) })
          for (let i = 0; i < 5; i++) {
            yield* inbox.recordFailures({
              deliveryId: id,
              failures: [failed(`message:wamid.P${i}`)],
              at: at(100_000 + i),
              maxAttempts: i % 2 === 0 ? 1 : 5
            })
          }
          const mine = (rows: ReadonlyArray<WebhookInbox.ItemFailure>) =>
            rows.filter((f) => f.deliveryId === id).map((f) => f.itemKey)
          const first = yield* inbox.listFailures({ limit: 2 })
          assert.deepStrictEqual(mine(first), ["message:wamid.P4", "message:wamid.P3"])
          const last = first[1]
          if (last === undefined) return assert.fail()
          const second = yield* inbox.listFailures({ limit: 2, after: { at: last.firstFailedAt, id: last.id } })
          assert.deepStrictEqual(mine(second), ["message:wamid.P2", "message:wamid.P1"])
          assert.deepStrictEqual(mine(yield* inbox.listFailures({ limit: 100, state: "dead" })), [
            "message:wamid.P4",
            "message:wamid.P2",
            "message:wamid.P0"
          ])
        })
      )

      it.effect("kept-aside changes become routable once a business registers their number, and are dropped", () =>
        Effect.gen(function* () {
          const inbox = yield* WebhookInbox.WebhookInbox
          const sql = yield* SqlClient.SqlClient
          const { id } = yield* inbox.append({ body: body(), receivedAt: at(4000) })
          const pnid = "777000111222333"
          yield* inbox.keepUnrouted({
            providerPhoneNumberId: pnid,
            deliveryId: id,
            payload: { entry: [] },
            receivedAt: at(4000)
          })
          const routable = () =>
            Effect.map(inbox.listRoutableUnrouted(100), (rows) => rows.filter((r) => r.providerPhoneNumberId === pnid))
          assert.strictEqual((yield* routable()).length, 0)
          const businessId = crypto.randomUUID()
          yield* sql`INSERT INTO businesses (id, name) VALUES (${businessId}, 'Late')`
          yield* sql`
            INSERT INTO whatsapp_numbers (business_id, id, provider_phone_number_id, display_phone_number,
              access_token_sealed)
            VALUES (${businessId}, ${crypto.randomUUID()}, ${pnid}, '15550001234', 'sealed')`
          assert.deepStrictEqual(
            (yield* routable()).map((r) => r.deliveryId),
            [id]
          )
          yield* inbox.dropUnrouted(pnid, id)
          assert.strictEqual((yield* routable()).length, 0)
        })
      )
    }
  )
}
