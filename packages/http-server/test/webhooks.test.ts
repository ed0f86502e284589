/**
 * Meta's webhooks end to end, on PGlite and PostgreSQL: the handshake, signatures over the raw bytes (nothing
 * stored without one), durable storage before the 200, batched and repeated deliveries (each message once),
 * out-of-order statuses (the final status wins), unknown numbers kept aside, and the 3 MB body size.
 */
import { Webhook } from "@parley/whatsapp-cloud"
import { FakeCloudApi } from "@parley/whatsapp-cloud/testing"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { ConversationJson, MessageJson } from "../src/Representation.js"
import {
  appSecret,
  createTenant,
  type Envelope,
  type ErrorReply,
  engines,
  envelope,
  type Harness,
  inboundChange,
  nowSeconds,
  start,
  statusChange,
  type Tenant,
  verifyToken,
  wamid
} from "./support/Harness.js"

type Detail = ConversationJson & { readonly messages: ReadonlyArray<MessageJson> }

const list = await engines()

describe.each(list)("webhooks on $name", (engine) => {
  let h: Harness
  let a: Tenant
  let seq = 0
  const nextPhone = () => `4915112${String(100000 + seq++).padStart(6, "0")}`

  const conversationOf = async (from: string) => {
    const found = await h.call<Envelope<ReadonlyArray<ConversationJson>>>(
      "GET",
      `/v1/messaging/conversations?search=${from}`,
      {
        key: a.key
      }
    )
    return found.body.data
  }
  const detail = async (id: string) =>
    (await h.call<Envelope<Detail>>("GET", `/v1/messaging/conversations/${id}?messagesLimit=200`, { key: a.key })).body
      .data
  const deliveries = async () =>
    Number((await h.query<{ n: number | string }>("SELECT count(*)::int AS n FROM webhook_deliveries"))[0]?.n)

  beforeAll(async () => {
    h = await start(engine)
    a = await createTenant(h, "Business A", "200000000000002", "token-a")
  })
  afterAll(async () => {
    await h?.close()
  })

  it("answers Meta's verification handshake only with the verify token", async () => {
    const ok = await h.call(
      "GET",
      `/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=${verifyToken}&hub.challenge=1158201444`
    )
    expect([ok.status, ok.text]).toEqual([200, "1158201444"])
    const wrong = await h.call<ErrorReply>(
      "GET",
      "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1"
    )
    expect([wrong.status, wrong.body.error.code]).toEqual([403, "webhook_verification_failed"])
  })

  it("401 and nothing stored for a missing, malformed or wrong signature", async () => {
    const payload = envelope(inboundChange(a.phoneNumberId, [{ from: nextPhone(), text: "forged" }]))
    const before = await deliveries()
    for (const signature of [null, "sha256=zz", `sha256=${"0".repeat(64)}`, Webhook.sign("other body", appSecret)]) {
      const reply = await h.webhook(payload, signature)
      expect([signature?.slice(0, 10), reply.status, reply.body.error.code]).toEqual([
        signature?.slice(0, 10),
        401,
        "invalid_signature"
      ])
    }
    expect(await deliveries()).toBe(before)
  })

  it("verifies the raw bytes: a Meta-escaped non-ASCII body is accepted and decoded", async () => {
    const from = nextPhone()
    const reply = await h.webhook(
      envelope(inboundChange(a.phoneNumberId, [{ from, text: "Grüße, où est ma commande? 👋", name: "Zoë" }]))
    )
    expect(reply.status).toBe(200)
    const [conversation] = await conversationOf(from)
    expect(conversation?.customerName).toBe("Zoë")
    expect((await detail(conversation?.id ?? "")).messages[0]?.text).toBe("Grüße, où est ma commande? 👋")
  })

  it("stores the delivery before the 200, and processes every entry, change and message once", async () => {
    const [p1, p2, p3] = [nextPhone(), nextPhone(), nextPhone()]
    const [w0, w1, w2, w3] = [wamid(), wamid(), wamid(), wamid()]
    const t = nowSeconds()
    const payload = {
      object: "whatsapp_business_account",
      entry: [
        {
          id: "100000000000001",
          changes: [
            inboundChange(a.phoneNumberId, [
              { from: p1, text: "one", wamid: w0, timestamp: t - 3 },
              { from: p2, text: "two", wamid: w1, timestamp: t - 2 }
            ])
          ]
        },
        {
          id: "100000000000001",
          changes: [
            inboundChange(a.phoneNumberId, [{ from: p3, text: "three", wamid: w2, timestamp: t - 1 }]),
            inboundChange(a.phoneNumberId, [{ from: p1, text: "four", wamid: w3, timestamp: t }])
          ]
        }
      ]
    }
    const before = await deliveries()
    const first = await h.webhook(payload)
    expect(first.status).toBe(200)
    expect(await deliveries()).toBe(before + 1)
    const stored = await h.query<{ processed: boolean }>(
      "SELECT processed_at IS NOT NULL AS processed FROM webhook_deliveries ORDER BY received_at DESC LIMIT 1"
    )
    expect(stored[0]?.processed).toBe(true)
    // Meta redelivers the same body, and the same message inside another envelope.
    expect((await h.webhook(payload)).status).toBe(200)
    expect(
      (
        await h.webhook(
          envelope(inboundChange(a.phoneNumberId, [{ from: p1, text: "one", wamid: w0, timestamp: t - 3 }]))
        )
      ).status
    ).toBe(200)
    expect(await deliveries()).toBe(before + 2)

    const [c1] = await conversationOf(p1)
    expect(c1?.unreadCount).toBe(2)
    expect((await detail(c1?.id ?? "")).messages.map((m) => m.text)).toEqual(["four", "one"])
    const [c2] = await conversationOf(p2)
    expect((await detail(c2?.id ?? "")).messages.map((m) => m.text)).toEqual(["two"])
    const [c3] = await conversationOf(p3)
    expect(c3?.unreadCount).toBe(1)
  })

  it("applies out-of-order and repeated statuses so the final status is the highest one", async () => {
    const from = nextPhone()
    await h.webhook(envelope(inboundChange(a.phoneNumberId, [{ from, text: "hi" }])))
    const [conversation] = await conversationOf(from)
    const sent = await h.call<Envelope<MessageJson>>(
      "POST",
      `/v1/messaging/conversations/${conversation?.id}/messages`,
      {
        key: a.key,
        body: { text: "Your order shipped" }
      }
    )
    expect(sent.status).toBe(201)
    const wamidOfSend = sent.body.data.providerMessageId ?? ""
    const t = nowSeconds()
    const status = (s: string, dt: number) =>
      statusChange(a.phoneNumberId, [{ wamid: wamidOfSend, status: s, to: from, timestamp: t + dt }])
    // read arrives first, then delivered and sent in one delivery, then sent again: read stands.
    expect((await h.webhook(envelope(status("read", 2)))).status).toBe(200)
    expect(await h.webhook(envelope(status("delivered", 1), status("sent", 0)))).toMatchObject({ status: 200 })
    expect((await h.webhook(envelope(status("sent", 0)))).status).toBe(200)
    const message = (await detail(conversation?.id ?? "")).messages.find((m) => m.id === sent.body.data.id)
    expect(message?.deliveryStatus).toBe("read")
  })

  it("the fake Cloud API's own signed status webhooks settle a sent message", async () => {
    const from = nextPhone()
    await h.webhook(envelope(inboundChange(a.phoneNumberId, [{ from, text: "hi" }])))
    const [conversation] = await conversationOf(from)
    const sent = await h.call<Envelope<MessageJson>>(
      "POST",
      `/v1/messaging/conversations/${conversation?.id}/messages`,
      {
        key: a.key,
        body: { text: "ok" }
      }
    )
    const accepted = h.fake.sends.find((s) => s.wamid === sent.body.data.providerMessageId)
    if (accepted === undefined) throw new Error("the fake did not see the send")
    const target = { url: `${h.url}/webhooks/whatsapp`, appSecret }
    expect((await h.fake.emitStatusFor(target, accepted, "delivered")).status).toBe(200)
    await h.settled()
    expect(
      (await detail(conversation?.id ?? "")).messages.find((m) => m.id === sent.body.data.id)?.deliveryStatus
    ).toBe("delivered")
    expect((await h.fake.emitInboundText(target, { from, text: "thanks" })).status).toBe(200)
    await h.settled()
    expect((await conversationOf(from))[0]?.unreadCount).toBe(2)
  })

  it("acknowledges a delivery for an unknown phone_number_id and keeps it aside, attached to nobody", async () => {
    const from = nextPhone()
    const reply = await h.webhook(envelope(inboundChange("999999999999999", [{ from, text: "who is this?" }])))
    expect(reply.status).toBe(200)
    const kept = await h.query<{ provider_phone_number_id: string }>(
      "SELECT provider_phone_number_id FROM unrouted_webhooks WHERE provider_phone_number_id = '999999999999999'"
    )
    expect(kept).toHaveLength(1)
    expect(await conversationOf(from)).toHaveLength(0)
    const anywhere = await h.query<{ n: number | string }>(
      `SELECT count(*)::int AS n FROM conversations WHERE customer_phone = '+${from}'`
    )
    expect(Number(anywhere[0]?.n)).toBe(0)
  })

  it("accepts a 3 MB delivery; 413 above the webhook limit", async () => {
    const from = nextPhone()
    const filler = "x".repeat(100_500)
    const messages = Array.from({ length: 30 }, (_, i) => ({ from, text: `${i} ${filler}`, wamid: wamid() }))
    const payload = envelope(inboundChange(a.phoneNumberId, messages))
    const size = FakeCloudApi.metaJson(payload).length
    expect(size).toBeGreaterThan(3_000_000)
    expect(size).toBeLessThan(4 * 1024 * 1024)
    const reply = await h.webhook(payload)
    expect(reply.status).toBe(200)
    expect((await conversationOf(from))[0]?.unreadCount).toBe(30)
    const tooBig = await h.webhook(
      envelope(inboundChange(a.phoneNumberId, [{ from, text: "y".repeat(4 * 1024 * 1024) }]))
    )
    expect([tooBig.status, tooBig.body.error.code]).toEqual([413, "payload_too_large"])
  })
})
