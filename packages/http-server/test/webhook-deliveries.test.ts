/**
 * Outbound webhook deliveries against local receivers that verify with the `standardwebhooks` package, on PGlite
 * and PostgreSQL. Events are inserted into `events` directly (as the outbox would); the worker's rounds are driven
 * with an explicit clock, so the retry schedule and the circuit are tested by moving time, not by waiting. Only
 * `Date` is faked, so the receiver's ±5 min tolerance check sees the same time as the signer.
 */
import { randomUUID } from "node:crypto"
import * as SqlClient from "@effect/sql/SqlClient"
import { type BusinessId, layerUuidV7 } from "@parley/core"
import { TestData } from "@parley/core/testing"
import { WebhookDeliveries, WebhookEndpoints } from "@parley/postgres"
import { storage, TestDatabase } from "@parley/postgres/testing"
import { DateTime, Duration, Effect, Layer, ManagedRuntime, Redacted, Schedule, type Scope } from "effect"
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest"
import * as WebhookWorker from "../src/WebhookWorker.js"
import { type Receiver, startReceiver } from "./support/WebhookReceiver.js"

const t0 = DateTime.unsafeMake("2026-03-02T09:00:00Z")
const at = (ms: number) => DateTime.add(t0, { millis: ms })

const target = await TestDatabase.resolvePostgres()
const engines = [
  { name: "PGlite", database: () => TestDatabase.pglite },
  ...(target._tag === "Unavailable"
    ? []
    : [{ name: "PostgreSQL", database: () => TestDatabase.postgres({ url: target.url }) }])
]

for (const engine of engines) {
  describe(`webhook deliveries on ${engine.name}`, () => {
    const layer = Layer.mergeAll(WebhookEndpoints.layer, WebhookDeliveries.layer).pipe(
      Layer.provideMerge(Layer.merge(storage(engine.database()), layerUuidV7))
    )
    let runtime: ManagedRuntime.ManagedRuntime<Layer.Layer.Success<typeof layer>, unknown>
    let businessId: BusinessId
    const receivers: Array<Receiver> = []
    const run = <A, E>(effect: Effect.Effect<A, E, Layer.Layer.Success<typeof layer> | Scope.Scope>) =>
      runtime.runPromise(Effect.scoped(effect))

    beforeAll(async () => {
      runtime = ManagedRuntime.make(layer)
      businessId = (await run(TestData.seedTenant("Hooks"))).businessId
    }, 60_000)
    afterEach(() => {
      vi.useRealTimers()
    })
    afterAll(async () => {
      await Promise.all(receivers.map((r) => r.close()))
      await runtime?.dispose()
    })

    const receiver = async () => {
      const r = await startReceiver()
      receivers.push(r)
      return r
    }

    const endpoint = (url: string, eventTypes: ReadonlyArray<string> = [], business = businessId) =>
      run(Effect.flatMap(WebhookEndpoints.WebhookEndpoints, (e) => e.create(business, { url, eventTypes })))

    const recordEvent = (type = "message.received", business = businessId, occurredAt = t0) =>
      run(
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const id = randomUUID()
          yield* sql`
            INSERT INTO events (id, business_id, type, occurred_at, data)
            VALUES (${id}, ${business}, ${type}, ${DateTime.toDateUtc(occurredAt)}, ${JSON.stringify({ text: "hi" })}::jsonb)`
          // The fan-out reads only events older than every running transaction (other clients of the server
          // included): wait until this one is, so a round right after sees it.
          yield* sql`
            SELECT 1 FROM events WHERE id = ${id} AND xid < pg_snapshot_xmin(pg_current_snapshot())`.pipe(
            Effect.filterOrFail((rows) => rows.length === 1),
            Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo("30 seconds")))
          )
          return id
        })
      )

    const worker = (options: Partial<WebhookWorker.WorkerOptions> = {}) => ({
      round: (now: DateTime.Utc) => {
        vi.useFakeTimers({ toFake: ["Date"] })
        vi.setSystemTime(DateTime.toEpochMillis(now))
        return run(
          Effect.flatMap(
            WebhookWorker.make({ allowPrivateTargets: true, allowHttp: true, random: () => 0.5, ...options }),
            (w) => w.round(now)
          )
        )
      }
    })

    const log = (endpointId: string) =>
      run(
        Effect.flatMap(WebhookDeliveries.WebhookDeliveries, (d) => d.list(businessId, endpointId, { limit: 50 }))
      ).then((page) => page.items)

    it("delivers an event signed per Standard Webhooks: the receiver's verifier accepts it", async () => {
      const r = await receiver()
      const { endpoint: e, secret } = await endpoint(r.url)
      r.secrets = [Redacted.value(secret)]
      expect(Redacted.value(secret)).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/)
      const eventId = await recordEvent()
      await worker().round(t0)
      const mine = r.received.filter((x) => x.headers["webhook-id"] === eventId)
      expect(mine).toHaveLength(1)
      expect(mine[0]?.verifiedBy).toEqual([0])
      expect(mine[0]?.headers["webhook-timestamp"]).toBe(String(DateTime.toEpochMillis(t0) / 1000))
      expect(JSON.parse(mine[0]?.body ?? "")).toEqual({
        id: eventId,
        type: "message.received",
        businessId,
        occurredAt: "2026-03-02T09:00:00.000Z",
        // Like the feed: an event of no conversation says so with nulls.
        conversationId: null,
        sequence: null,
        data: { text: "hi" }
      })
      const [delivery] = await log(e.id)
      expect(delivery).toMatchObject({ eventId, status: "succeeded", attempts: 1, lastStatusCode: 200 })
    }, 60_000)

    it("only matching types fan out; a disabled endpoint gets nothing", async () => {
      const r = await receiver()
      const { endpoint: typed } = await endpoint(r.url, ["conversation.created"])
      const { endpoint: off } = await endpoint(r.url)
      await run(
        Effect.flatMap(WebhookEndpoints.WebhookEndpoints, (e) => e.update(businessId, off.id, { enabled: false }))
      )
      await recordEvent("message.sent")
      const wanted = await recordEvent("conversation.created")
      await worker().round(t0)
      expect((await log(typed.id)).map((d) => d.eventId)).toEqual([wanted])
      expect(await log(off.id)).toEqual([])
    }, 60_000)

    it("retries 500, a reset and a timeout on the backoff schedule, re-signing each attempt", async () => {
      const r = await receiver()
      const { endpoint: e, secret } = await endpoint(r.url)
      r.secrets = [Redacted.value(secret)]
      r.replies.push({ _tag: "Status", status: 500 }, { _tag: "Reset" }, { _tag: "Hang" })
      const eventId = await recordEvent()
      const w = worker({ timeout: Duration.millis(500) })
      await w.round(t0)
      // 5 s (+ half of the 20 % jitter) later it is due, not before.
      await w.round(at(5_000))
      expect(r.received).toHaveLength(1)
      await w.round(at(6_000))
      await w.round(at(6_000 + 330_000)) // 5 min + 10 %
      await w.round(at(6_000 + 330_000 + 1_980_000)) // 30 min + 10 %
      const mine = r.received.filter((x) => x.headers["webhook-id"] === eventId)
      expect(mine).toHaveLength(4)
      expect(mine.every((x) => x.verifiedBy.length === 1)).toBe(true)
      expect(new Set(mine.map((x) => x.headers["webhook-timestamp"])).size).toBe(4)
      const [delivery] = await log(e.id)
      expect(delivery).toMatchObject({ status: "succeeded", attempts: 4, lastStatusCode: 200 })
      expect(
        (await run(Effect.flatMap(WebhookEndpoints.WebhookEndpoints, (x) => x.get(businessId, e.id)))).failingSince
      ).toBeNull()
    }, 60_000)

    it("honours Retry-After on 429 and treats a redirect as a failure", async () => {
      const r = await receiver()
      const { endpoint: e } = await endpoint(r.url)
      r.replies.push(
        { _tag: "Status", status: 429, headers: { "retry-after": "3600" } },
        { _tag: "Status", status: 302, headers: { location: "http://127.0.0.1:1/elsewhere" } }
      )
      await recordEvent()
      const w = worker()
      await w.round(t0)
      await w.round(at(3_599_000))
      expect(r.received).toHaveLength(1)
      await w.round(at(3_600_000))
      const [delivery] = await log(e.id)
      expect(delivery).toMatchObject({ status: "pending", attempts: 2, lastStatusCode: 302 })
      expect(r.received).toHaveLength(2)
    }, 60_000)

    it("410 disables the endpoint with reason `gone`", async () => {
      const r = await receiver()
      const { endpoint: e } = await endpoint(r.url)
      r.replies.push({ _tag: "Status", status: 410 })
      await recordEvent()
      await worker().round(t0)
      const after = await run(Effect.flatMap(WebhookEndpoints.WebhookEndpoints, (x) => x.get(businessId, e.id)))
      expect([after.enabled, after.disabledReason]).toEqual([false, "gone"])
      expect((await log(e.id))[0]).toMatchObject({ status: "failed", lastStatusCode: 410 })
    }, 60_000)

    it("the circuit disables an endpoint failing for longer than its limit; re-enabling resumes delivery", async () => {
      const r = await receiver()
      const { endpoint: e } = await endpoint(r.url)
      for (let i = 0; i < 5; i++) r.replies.push({ _tag: "Status", status: 503 })
      await recordEvent()
      const w = worker({ circuitAfter: Duration.minutes(30) })
      await w.round(t0)
      await w.round(at(6_000))
      await w.round(at(6_000 + 330_000))
      expect(
        (await run(Effect.flatMap(WebhookEndpoints.WebhookEndpoints, (x) => x.get(businessId, e.id)))).enabled
      ).toBe(true)
      await w.round(at(6_000 + 330_000 + 1_980_000))
      const off = await run(Effect.flatMap(WebhookEndpoints.WebhookEndpoints, (x) => x.get(businessId, e.id)))
      expect([off.enabled, off.disabledReason]).toEqual([false, "failing"])
      expect(r.received).toHaveLength(4)
      await w.round(at(10 * 3_600_000))
      expect(r.received).toHaveLength(4)
      await run(Effect.flatMap(WebhookEndpoints.WebhookEndpoints, (x) => x.update(businessId, e.id, { enabled: true })))
      await w.round(at(10 * 3_600_000))
      expect((await log(e.id))[0]).toMatchObject({ status: "pending", attempts: 5, lastStatusCode: 503 })
      await w.round(at(20 * 3_600_000))
      expect((await log(e.id))[0]).toMatchObject({ status: "succeeded", attempts: 6 })
    }, 60_000)

    it("rotation signs with both secrets during the overlap, then with the new one only", async () => {
      const r = await receiver()
      const { endpoint: e, secret: old } = await endpoint(r.url)
      const rotated = await run(
        Effect.flatMap(WebhookEndpoints.WebhookEndpoints, (x) => x.rotateSecret(businessId, e.id, Duration.hours(24)))
      )
      r.secrets = [Redacted.value(old), Redacted.value(rotated.secret)]
      const during = await recordEvent()
      vi.useFakeTimers({ toFake: ["Date"] })
      await worker().round(DateTime.unsafeMake(Date.now()))
      const first = r.received.find((x) => x.headers["webhook-id"] === during)
      expect(first?.verifiedBy).toEqual([0, 1])
      expect(String(first?.headers["webhook-signature"]).split(" ")).toHaveLength(2)
      const afterOverlap = await recordEvent()
      await worker().round(DateTime.unsafeMake(Date.now() + 25 * 3_600_000))
      const second = r.received.find((x) => x.headers["webhook-id"] === afterOverlap)
      expect(second?.verifiedBy).toEqual([1])
    }, 60_000)

    it("replays one event, and a time range, with the same webhook-id", async () => {
      const r = await receiver()
      const { endpoint: e } = await endpoint(r.url)
      const early = await recordEvent("message.sent", businessId, at(-60_000))
      const late = await recordEvent("message.sent", businessId, at(60_000))
      const w = worker()
      await w.round(t0)
      const deliveries = run(Effect.map(WebhookDeliveries.WebhookDeliveries, (d) => d))
      const d = await deliveries
      expect(await run(d.replay(businessId, e.id, { _tag: "Event", eventId: early }, at(1_000)))).toBe(1)
      await w.round(at(1_000))
      expect(r.received.filter((x) => x.headers["webhook-id"] === early)).toHaveLength(2)
      expect(
        await run(d.replay(businessId, e.id, { _tag: "Range", since: at(-120_000), until: at(120_000) }, at(2_000)))
      ).toBeGreaterThanOrEqual(2)
      await w.round(at(2_000))
      expect(r.received.filter((x) => x.headers["webhook-id"] === late)).toHaveLength(2)
      expect(r.received.filter((x) => x.headers["webhook-id"] === early)).toHaveLength(3)
      const row = (await log(e.id)).find((x) => x.eventId === early)
      expect(row).toMatchObject({ status: "succeeded", attempts: 3 })
    }, 60_000)

    it("another business's endpoint is not found by id, and its deliveries are not listed", async () => {
      const other = (await run(TestData.seedTenant("Other"))).businessId
      const r = await receiver()
      const { endpoint: theirs } = await endpoint(r.url, [], other)
      const endpoints = await run(Effect.map(WebhookEndpoints.WebhookEndpoints, (x) => x))
      const error = await run(Effect.flip(endpoints.get(businessId, theirs.id)))
      expect(error._tag).toBe("WebhookEndpointNotFound")
      const listError = await run(
        Effect.flip(
          Effect.flatMap(WebhookDeliveries.WebhookDeliveries, (d) => d.list(businessId, theirs.id, { limit: 5 }))
        )
      )
      expect(listError._tag).toBe("WebhookEndpointNotFound")
      expect((await run(endpoints.list(businessId))).map((x) => x.id)).not.toContain(theirs.id)
    }, 60_000)

    it("a loopback target is refused unless private targets are allowed", async () => {
      const r = await receiver()
      const { endpoint: e } = await endpoint(r.url)
      const eventId = await recordEvent()
      await worker({ allowPrivateTargets: false }).round(t0)
      expect(r.received.filter((x) => x.headers["webhook-id"] === eventId)).toEqual([])
      const [delivery] = await log(e.id)
      expect(delivery?.status).toBe("pending")
      expect(delivery?.lastError).toContain("non-public address (loopback)")
    }, 60_000)
  })
}
