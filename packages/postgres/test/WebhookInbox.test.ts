/**
 * The durable webhook inbox on PGlite: dedupe by body, leases, retries, unrouted deliveries and the reaper.
 */
import { assert, layer } from "@effect/vitest"
import { DateTime, Effect, Layer } from "effect"
import { TestDatabase } from "../src/testing/index.js"
import * as WebhookInbox from "../src/WebhookInbox.js"

const t0 = DateTime.unsafeMake("2026-02-01T12:00:00.000Z")
const at = (seconds: number) => DateTime.add(t0, { seconds })
const body = (n: number) => JSON.stringify({ object: "whatsapp_business_account", entry: [{ id: `${n}`, ü: "ä" }] })

layer(WebhookInbox.layer.pipe(Layer.provideMerge(TestDatabase.pglite)), { excludeTestServices: true })(
  "WebhookInbox",
  (it) => {
    it.effect("stores a delivery's exact bytes once; a redelivery of the same body is a Duplicate", () =>
      Effect.gen(function* () {
        const inbox = yield* WebhookInbox.WebhookInbox
        const raw = body(1)
        const first = yield* inbox.append({ body: raw, receivedAt: at(0) })
        const again = yield* inbox.append({ body: Buffer.from(raw, "utf8"), receivedAt: at(5) })
        assert.strictEqual(first._tag, "Stored")
        assert.strictEqual(again._tag, "Duplicate")
        assert.strictEqual(again.id, first.id)
        const claimed = yield* inbox.claim({ limit: 10, now: at(10), leaseUntil: at(70) })
        const mine = claimed.find((d) => d.id === first.id)
        assert.strictEqual(mine?.text, raw)
        assert.strictEqual(mine?.attempts, 1)
        yield* inbox.markProcessed(first.id, at(11))
      })
    )

    it.effect("a claimed delivery is leased; it comes back after a failure's retry time, not before", () =>
      Effect.gen(function* () {
        const inbox = yield* WebhookInbox.WebhookInbox
        const stored = yield* inbox.append({ body: body(2), receivedAt: at(100) })
        const ids = (deliveries: ReadonlyArray<WebhookInbox.WebhookDelivery>) => deliveries.map((d) => d.id)
        assert.include(ids(yield* inbox.claim({ limit: 10, now: at(101), leaseUntil: at(160) })), stored.id)
        assert.notInclude(ids(yield* inbox.claim({ limit: 10, now: at(102), leaseUntil: at(160) })), stored.id)
        yield* inbox.markFailed(stored.id, "number not found yet", at(200))
        assert.notInclude(ids(yield* inbox.claim({ limit: 10, now: at(199), leaseUntil: at(260) })), stored.id)
        const retried = (yield* inbox.claim({ limit: 10, now: at(200), leaseUntil: at(260) })).find(
          (d) => d.id === stored.id
        )
        assert.strictEqual(retried?.attempts, 2)
        assert.strictEqual(retried?.lastError, "number not found yet")
        yield* inbox.markProcessed(stored.id, at(201))
        assert.notInclude(ids(yield* inbox.claim({ limit: 10, now: at(1000), leaseUntil: at(1060) })), stored.id)
      })
    )

    it.effect("a renewed lease keeps the claim until its new end; a lapsed one frees the delivery", () =>
      Effect.gen(function* () {
        const inbox = yield* WebhookInbox.WebhookInbox
        const stored = yield* inbox.append({ body: body(6), receivedAt: at(600) })
        const ids = (deliveries: ReadonlyArray<WebhookInbox.WebhookDelivery>) => deliveries.map((d) => d.id)
        assert.include(ids(yield* inbox.claim({ limit: 10, now: at(601), leaseUntil: at(631) })), stored.id)
        yield* inbox.extendLease(stored.id, at(661))
        // Past the first lease's end, still held: the worker renewed it.
        assert.notInclude(ids(yield* inbox.claim({ limit: 10, now: at(640), leaseUntil: at(670) })), stored.id)
        // The worker died: nobody renews, and the next claim after the renewed end takes it over.
        const again = (yield* inbox.claim({ limit: 10, now: at(661), leaseUntil: at(691) })).find(
          (d) => d.id === stored.id
        )
        assert.strictEqual(again?.attempts, 2)
        yield* inbox.markProcessed(stored.id, at(662))
        // Renewing a processed delivery does not make it claimable again.
        yield* inbox.extendLease(stored.id, at(700))
        assert.notInclude(ids(yield* inbox.claim({ limit: 100, now: at(800), leaseUntil: at(830) })), stored.id)
      })
    )

    it.effect("a round's deliveries are marked processed together; none is claimed again, others are untouched", () =>
      Effect.gen(function* () {
        const inbox = yield* WebhookInbox.WebhookInbox
        const ids = (deliveries: ReadonlyArray<WebhookInbox.WebhookDelivery>) => deliveries.map((d) => d.id)
        const round = [
          yield* inbox.append({ body: body(21), receivedAt: at(700) }),
          yield* inbox.append({ body: body(22), receivedAt: at(701) })
        ]
        const other = yield* inbox.append({ body: body(23), receivedAt: at(702) })
        const claimed = ids(yield* inbox.claim({ limit: 100, now: at(703), leaseUntil: at(733) }))
        for (const d of [...round, other]) assert.include(claimed, d.id)
        yield* inbox.markProcessedAll([], at(704))
        yield* inbox.markProcessedAll(
          round.map((d) => d.id),
          at(704)
        )
        // Past the lease: only the delivery left out comes back.
        const again = ids(yield* inbox.claim({ limit: 100, now: at(800), leaseUntil: at(830) }))
        for (const d of round) assert.notInclude(again, d.id)
        assert.include(again, other.id)
        yield* inbox.markProcessed(other.id, at(801))
      })
    )

    it.effect("keeps changes for unknown numbers aside, once", () =>
      Effect.gen(function* () {
        const inbox = yield* WebhookInbox.WebhookInbox
        const stored = yield* inbox.append({ body: body(3), receivedAt: at(300) })
        const unrouted = {
          providerPhoneNumberId: "999000111",
          deliveryId: stored.id,
          payload: { messages: [{ id: "wamid.X" }] },
          receivedAt: at(300)
        }
        yield* inbox.keepUnrouted(unrouted)
        yield* inbox.keepUnrouted(unrouted)
        const kept = (yield* inbox.listUnrouted(100)).filter((u) => u.deliveryId === stored.id)
        assert.strictEqual(kept.length, 1)
        assert.deepStrictEqual(kept[0]?.payload, unrouted.payload)
      })
    )

    it.effect("a delivery and its kept-aside changes remember their provider, which says how to read them", () =>
      Effect.gen(function* () {
        const inbox = yield* WebhookInbox.WebhookInbox
        const form = "MessageSid=SM0001&From=whatsapp%3A%2B15550001234&To=whatsapp%3A%2B15550009999&Body=hi"
        const stored = yield* inbox.append({ body: form, receivedAt: at(700), provider: "twilio" })
        const meta = yield* inbox.append({ body: body(7), receivedAt: at(700) })
        const found = yield* inbox.findDelivery(stored.id)
        assert.strictEqual(found._tag === "Some" ? found.value.provider : undefined, "twilio")
        assert.strictEqual(found._tag === "Some" ? found.value.text : undefined, form)
        const claimed = yield* inbox.claim({ limit: 100, now: at(701), leaseUntil: at(760) })
        assert.strictEqual(claimed.find((d) => d.id === meta.id)?.provider, "whatsapp_cloud")
        assert.strictEqual(claimed.find((d) => d.id === stored.id)?.provider, "twilio")
        // The same id under two providers is two numbers: each kept-aside change stays with its own.
        const id = "+15550009999"
        yield* inbox.keepUnrouted({
          provider: "twilio",
          providerPhoneNumberId: id,
          deliveryId: stored.id,
          payload: [["To", "whatsapp:+15550009999"]],
          receivedAt: at(700)
        })
        yield* inbox.keepUnrouted({
          providerPhoneNumberId: id,
          deliveryId: stored.id,
          payload: {},
          receivedAt: at(700)
        })
        const kept = (yield* inbox.listUnrouted(100)).filter((u) => u.deliveryId === stored.id)
        assert.deepStrictEqual(kept.map((u) => u.provider).sort(), ["twilio", "whatsapp_cloud"])
        yield* inbox.dropUnrouted(id, stored.id, "twilio")
        const left = (yield* inbox.listUnrouted(100)).filter((u) => u.deliveryId === stored.id)
        assert.deepStrictEqual(
          left.map((u) => u.provider),
          ["whatsapp_cloud"]
        )
      })
    )

    it.effect("the reaper deletes only deliveries processed before the cutoff", () =>
      Effect.gen(function* () {
        const inbox = yield* WebhookInbox.WebhookInbox
        const old = yield* inbox.append({ body: body(4), receivedAt: at(400) })
        const pending = yield* inbox.append({ body: body(5), receivedAt: at(400) })
        yield* inbox.markProcessed(old.id, at(401))
        const purged = yield* inbox.purgeProcessed(at(402))
        assert.isAtLeast(purged, 1)
        // The reaped body is new again; the unprocessed one is still a duplicate.
        assert.strictEqual((yield* inbox.append({ body: body(4), receivedAt: at(500) }))._tag, "Stored")
        assert.strictEqual((yield* inbox.append({ body: body(5), receivedAt: at(500) }))._tag, "Duplicate")
        assert.strictEqual(pending._tag, "Stored")
      })
    )
  }
)
