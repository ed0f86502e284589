/**
 * Sends whose outcome is unknown converge, through a real server on PGlite and PostgreSQL with the fake Cloud API:
 * WhatsApp reads the send and never answers (or drops the connection) → 502 `delivery_unconfirmed`; once the status
 * webhook (matched by our id in `biz_opaque_callback_data`) settles it, a retry with the key answers 201 replayed
 * with the same message; with no evidence, the sweeper fails it after the timeout and the key answers 201 with the
 * failed message; and a send whose accept could not be recorded (dropped connection) converges the same way.
 * WhatsApp is never asked twice.
 */
import { MessageRepository, StorageError } from "@parley/core"
import { FakeCloudApi } from "@parley/whatsapp-cloud/testing"
import { Effect, Layer } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { MessageJson } from "../src/Representation.js"
import {
  appSecret,
  createTenant,
  customerWrites,
  type Envelope,
  type ErrorReply,
  engines,
  type Harness,
  type Reply,
  start,
  type Tenant
} from "./support/Harness.js"

const list = await engines()

/** Sends WhatsApp received for this recipient (wa_id digits or +E.164), accepted or not. */
const sendsTo = (h: Harness, phone: string) =>
  h.fake.requests.filter(
    (r) =>
      r.operation === "send" &&
      typeof r.body === "object" &&
      r.body !== null &&
      "to" in r.body &&
      String(r.body.to).replace(/\D+/g, "") === phone.replace(/\D+/g, "")
  )

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

/** Retries like a client that retries on 5xx, until a non-5xx answer (bounded). */
const retryUntilFinal = async (send: () => Promise<Reply<unknown>>, deadlineMillis: number) => {
  const until = Date.now() + deadlineMillis
  for (;;) {
    const reply = await send()
    if (reply.status < 500 || Date.now() > until) return reply
    await sleep(100)
  }
}

describe.each(list)("unconfirmed sends on $name", (engine) => {
  let h: Harness
  let a: Tenant

  beforeAll(async () => {
    h = await start(engine)
    a = await createTenant(h, "Business A", "200000000000002", "token-a")
  })
  afterAll(async () => {
    await h?.close()
  })

  it.each(["hang", "drop"] as const)(
    "WhatsApp reads the send then %ss: 502, then its status webhook settles it and the retry answers 201 replayed",
    async (kind) => {
      const { conversation, phone } = await customerWrites(h, a)
      h.fake.fail({ fault: { kind }, times: 1, match: { to: phone } })
      const path = `/v1/messaging/conversations/${conversation.id}/messages`
      const request = {
        key: a.key,
        body: { text: `lost? (${kind})` },
        headers: { "idempotency-key": `unconfirmed-${kind}` }
      }
      const first = await h.call<ErrorReply>("POST", path, request)
      expect([first.status, first.body.error.code]).toEqual([502, "delivery_unconfirmed"])
      const messageId = first.body.error.details?.messageId
      expect(typeof messageId).toBe("string")
      // Still unknown: the retry replays the 502.
      const again = await h.call<ErrorReply>("POST", path, request)
      expect([again.status, again.text, again.headers.get("idempotent-replayed")]).toEqual([502, first.text, "true"])

      // WhatsApp had it: its status webhook echoes our id, as Meta does with biz_opaque_callback_data.
      const [sent] = sendsTo(h, phone)
      const body = sent?.body as Record<string, unknown> | undefined
      expect(body?.biz_opaque_callback_data).toBe(messageId)
      const wamid = FakeCloudApi.makeWamid(phone)
      const delivery = await h.fake.emitStatuses({ url: `${h.url}/webhooks/whatsapp`, appSecret }, [
        { wamid, status: "delivered", recipientId: phone, bizOpaqueCallbackData: String(messageId) }
      ])
      expect(delivery.status).toBe(200)

      const settled = (await retryUntilFinal(() => h.call("POST", path, request), 15_000)) as Reply<
        Envelope<MessageJson>
      >
      expect(settled.status).toBe(201)
      expect(settled.headers.get("idempotent-replayed")).toBe("true")
      expect(settled.body.data).toMatchObject({
        id: messageId,
        conversationId: conversation.id,
        text: `lost? (${kind})`,
        deliveryStatus: "delivered",
        providerMessageId: wamid,
        failure: null
      })
      // The answer is the message as the API shows it.
      const detail = await h.call<Envelope<{ messages: ReadonlyArray<MessageJson> }>>(
        "GET",
        `/v1/messaging/conversations/${conversation.id}`,
        { key: a.key }
      )
      expect(detail.body.data.messages.find((m) => m.id === messageId)).toEqual(settled.body.data)
      expect(sendsTo(h, phone).length).toBe(1)
    },
    60_000
  )
})

describe.each(list)("a client that disconnects mid-send, on $name", (engine) => {
  let h: Harness
  let a: Tenant

  beforeAll(async () => {
    h = await start(engine)
    a = await createTenant(h, "Business A", "200000000000002", "token-a")
  })
  afterAll(async () => {
    await h?.close()
  })

  it("does not release its key: the send finishes, and the retry replays it instead of sending again", async () => {
    const { conversation, phone } = await customerWrites(h, a)
    h.fake.fail({ fault: { kind: "latency", millis: 1_500 }, times: 1, match: { to: phone } })
    const path = `/v1/messaging/conversations/${conversation.id}/messages`
    const headers = {
      authorization: `Bearer ${a.key}`,
      "content-type": "application/json",
      "idempotency-key": "gone-1"
    }
    const body = JSON.stringify({ text: "still there?" })
    const abort = new AbortController()
    const first = fetch(`${h.url}${path}`, { method: "POST", headers, body, signal: abort.signal })
    while (sendsTo(h, phone).length === 0) await sleep(5)
    abort.abort()
    await first.then(
      () => undefined,
      () => undefined
    )
    const until = Date.now() + 15_000
    let retry: Reply<Envelope<MessageJson>>
    do {
      retry = await h.call<Envelope<MessageJson>>("POST", path, { key: a.key, body: { text: "still there?" }, headers })
      if (retry.status === 409) await sleep(100)
    } while (retry.status === 409 && Date.now() < until)
    expect([retry.status, retry.headers.get("idempotent-replayed")]).toEqual([201, "true"])
    expect(retry.body.data.deliveryStatus).toBe("sent")
    expect(sendsTo(h, phone).length).toBe(1)
  }, 60_000)
})

describe.each(list)("unconfirmed sends that nothing settles, on $name", (engine) => {
  const timeoutMillis = 3_000
  let h: Harness
  let a: Tenant

  beforeAll(async () => {
    h = await start(engine, { unconfirmedSendTimeout: `${timeoutMillis} millis`, sweepUnconfirmedEvery: "200 millis" })
    a = await createTenant(h, "Business A", "200000000000002", "token-a")
  })
  afterAll(async () => {
    await h?.close()
  })

  it("fail as delivery_unconfirmed after the timeout; the key then answers 201 with the failed message", async () => {
    const { conversation, phone } = await customerWrites(h, a)
    h.fake.fail({ fault: { kind: "drop" }, times: 1, match: { to: phone } })
    const path = `/v1/messaging/conversations/${conversation.id}/messages`
    const request = { key: a.key, body: { text: "anyone?" }, headers: { "idempotency-key": "expires-1" } }
    const sentAt = Date.now()
    const first = await h.call<ErrorReply>("POST", path, request)
    expect([first.status, first.body.error.code]).toEqual([502, "delivery_unconfirmed"])
    const messageId = first.body.error.details?.messageId

    const final = (await retryUntilFinal(() => h.call("POST", path, request), 30_000)) as Reply<Envelope<MessageJson>>
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(timeoutMillis)
    expect(final.status).toBe(201)
    expect(final.headers.get("idempotent-replayed")).toBe("true")
    expect(final.body.data).toMatchObject({
      id: messageId,
      deliveryStatus: "failed",
      failure: { code: -1, title: "delivery_unconfirmed" },
      providerMessageId: null
    })
    // Final: the same answer again, never a resend.
    const replay = await h.call<Envelope<MessageJson>>("POST", path, request)
    expect([replay.status, replay.text]).toEqual([201, final.text])

    // A status after the expiry records WhatsApp's id but cannot lift `failed` (failed is terminal).
    const wamid = FakeCloudApi.makeWamid(phone)
    const late = await h.fake.emitStatuses({ url: `${h.url}/webhooks/whatsapp`, appSecret }, [
      { wamid, status: "delivered", recipientId: phone, bizOpaqueCallbackData: String(messageId) }
    ])
    expect(late.status).toBe(200)
    const until = Date.now() + 15_000
    let after: Reply<Envelope<MessageJson>>
    do {
      await sleep(100)
      after = await h.call<Envelope<MessageJson>>("POST", path, request)
    } while (after.body.data.providerMessageId === null && Date.now() < until)
    expect(after.status).toBe(201)
    expect(after.body.data).toMatchObject({
      id: messageId,
      deliveryStatus: "failed",
      failure: { code: -1, title: "delivery_unconfirmed" },
      providerMessageId: wamid
    })
    expect(sendsTo(h, phone).length).toBe(1)
  }, 90_000)
})

describe.each(list)("an accepted send whose recording fails, on $name", (engine) => {
  let h: Harness
  let a: Tenant
  let failMarkSent = 0

  beforeAll(async () => {
    // The database drops the connection each time the provider's accept is recorded (three tries), then recovers.
    const dropping = Layer.effect(
      MessageRepository,
      Effect.map(MessageRepository, (real) => ({
        ...real,
        markSent: (...args: Parameters<typeof real.markSent>) =>
          failMarkSent-- > 0
            ? Effect.fail(new StorageError({ operation: "markSent", reason: "connection terminated" }))
            : real.markSent(...args)
      }))
    )
    h = await start(engine, { overrideStorage: (layer) => Layer.provideMerge(dropping, layer) })
    a = await createTenant(h, "Business A", "200000000000002", "token-a")
  })
  afterAll(async () => {
    await h?.close()
  })

  it("is never sent twice: 502, then its status webhook settles it and the retry answers 201 replayed", async () => {
    const { conversation, phone } = await customerWrites(h, a)
    const path = `/v1/messaging/conversations/${conversation.id}/messages`
    const request = { key: a.key, body: { text: "recorded?" }, headers: { "idempotency-key": "mark-sent-dropped" } }
    failMarkSent = 3
    const first = await h.call<ErrorReply>("POST", path, request)
    expect([first.status, first.body.error.code]).toEqual([502, "delivery_unconfirmed"])
    const messageId = first.body.error.details?.messageId
    const again = await h.call<ErrorReply>("POST", path, request)
    expect([again.status, again.headers.get("idempotent-replayed")]).toEqual([502, "true"])
    const accepted = h.fake.sends.find((s) => s.bizOpaqueCallbackData === messageId)
    if (accepted === undefined) throw new Error("WhatsApp did not accept the send")
    const delivery = await h.fake.emitStatusFor({ url: `${h.url}/webhooks/whatsapp`, appSecret }, accepted, "sent")
    expect(delivery.status).toBe(200)
    const settled = (await retryUntilFinal(() => h.call("POST", path, request), 15_000)) as Reply<Envelope<MessageJson>>
    expect([settled.status, settled.headers.get("idempotent-replayed")]).toEqual([201, "true"])
    expect(settled.body.data).toMatchObject({
      id: messageId,
      deliveryStatus: "sent",
      providerMessageId: accepted.wamid
    })
    expect(sendsTo(h, phone).length).toBe(1)
  }, 60_000)
})
