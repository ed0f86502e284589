/**
 * Outbound webhooks end to end through a real server on loopback, on PGlite and PostgreSQL: a business registers an
 * endpoint at a local receiver (which verifies every request with the `standardwebhooks` package), a customer
 * writes through Meta's signed webhook and the business answers through the messaging API; the receiver gets one
 * verified delivery per event the change recorded, and each body is the event exactly as the feed serves it (same
 * id, type, sequence and data), so a consumer may mix the two.
 */
import type { Event } from "@parley/core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { MessageJson } from "../src/Representation.js"
import {
  createTenant,
  customerWrites,
  type Envelope,
  engines,
  type Harness,
  start,
  type Tenant
} from "./support/Harness.js"
import { type Receiver, startReceiver } from "./support/WebhookReceiver.js"

const waitFor = async (check: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000) => {
  const until = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

const types = ["conversation.created", "message.received", "message.sent", "message.status_updated"] as const

for (const engine of await engines()) {
  describe(`outbound webhooks end to end on ${engine.name}`, () => {
    let h: Harness
    let a: Tenant
    let r: Receiver
    beforeAll(async () => {
      h = await start(engine, {
        outboundWebhooks: { allowPrivateTargets: true, allowHttp: true, worker: { pollInterval: "50 millis" } }
      })
      a = await createTenant(h, "End To End", "200000000000002", "token-a")
      r = await startReceiver()
    }, 60_000)
    afterAll(async () => {
      await r?.close()
      await h?.close()
    })

    it("a customer's message and the business's reply reach the receiver, verified, as the feed's events", async () => {
      const created = await h.call<Envelope<{ readonly id: string; readonly secret?: string }>>(
        "POST",
        "/v1/messaging/webhook-endpoints",
        { key: a.key, body: { url: r.url, eventTypes: types } }
      )
      expect(created.status).toBe(201)
      r.secrets = [created.body.data.secret ?? ""]

      const { conversation } = await customerWrites(h, a)
      const sent = await h.call<Envelope<MessageJson>>(
        "POST",
        `/v1/messaging/conversations/${conversation.id}/messages`,
        { key: a.key, body: { text: "On its way" } }
      )
      expect(sent.status).toBe(201)

      const ofConversation = () =>
        r.received.filter((x) => (JSON.parse(x.body) as { conversationId?: string }).conversationId === conversation.id)
      await waitFor(() => ofConversation().length >= 4, "four deliveries")
      const feed = await h.call<Envelope<ReadonlyArray<Event>>>(
        "GET",
        `/v1/messaging/events?limit=1000&types=${types.join(",")}`,
        { key: a.key }
      )
      expect(feed.status).toBe(200)
      const events = feed.body.data.filter((e) => e.conversationId === conversation.id)
      expect(events.map((e) => [e.type, e.sequence])).toEqual([
        ["conversation.created", 1],
        ["message.received", 2],
        ["message.sent", 3],
        ["message.status_updated", 4]
      ])

      const deliveries = ofConversation()
      // One delivery per event, no repeat, each verified with the endpoint's secret and identified by its event.
      expect(deliveries).toHaveLength(4)
      for (const delivery of deliveries) {
        expect(delivery.verifiedBy).toEqual([0])
        expect(delivery.headers["webhook-id"]).toBe((JSON.parse(delivery.body) as { id: string }).id)
      }
      const bodies = deliveries
        .map((d) => JSON.parse(d.body) as Event)
        .sort((x, y) => (x.sequence ?? 0) - (y.sequence ?? 0))
      expect(bodies).toEqual(events)
      const status = bodies[3]
      if (status?.type !== "message.status_updated") throw new Error("expected message.status_updated last")
      expect(status.data.message).toMatchObject({ id: sent.body.data.id, deliveryStatus: "sent" })
    }, 120_000)
  })
}
