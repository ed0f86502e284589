/**
 * Idempotent sends through HTTP, on PGlite and PostgreSQL: a replay answers the same status and body with
 * `Idempotent-Replayed: true` (refusals too), a different request with the same key is 422, one still running is 409,
 * 20 parallel sends with one key reach WhatsApp once, and a malformed key is 400.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { MessageJson } from "../src/Representation.js"
import {
  createTenant,
  customerWrites,
  type Envelope,
  type ErrorReply,
  engines,
  type Harness,
  start,
  type Tenant
} from "./support/Harness.js"

const list = await engines()

describe.each(list)("idempotent sends on $name", (engine) => {
  let h: Harness
  let a: Tenant
  let b: Tenant
  const openConversation = async (t: Tenant) => {
    const { conversation, phone } = await customerWrites(h, t)
    return { id: conversation.id, phone }
  }

  /** Send requests WhatsApp received for this recipient, accepted or not. */
  const sendsTo = (phone: string) =>
    h.fake.requests.filter(
      (r) =>
        r.operation === "send" && typeof r.body === "object" && r.body !== null && "to" in r.body && r.body.to === phone
    ).length

  beforeAll(async () => {
    h = await start(engine)
    a = await createTenant(h, "Business A", "200000000000002", "token-a")
    b = await createTenant(h, "Business B", "200000000000003", "token-b")
  })
  afterAll(async () => {
    await h?.close()
  })

  it("replays a text send: same status, same body, Idempotent-Replayed: true, no second send", async () => {
    const { id, phone } = await openConversation(a)
    const request = { key: a.key, body: { text: "once" }, headers: { "idempotency-key": "text-1" } }
    const first = await h.call<Envelope<MessageJson>>("POST", `/v1/messaging/conversations/${id}/messages`, request)
    expect(first.status).toBe(201)
    expect(first.headers.get("idempotent-replayed")).toBeNull()
    const second = await h.call<Envelope<MessageJson>>("POST", `/v1/messaging/conversations/${id}/messages`, request)
    expect(second.status).toBe(201)
    expect(second.text).toBe(first.text)
    expect(second.headers.get("idempotent-replayed")).toBe("true")
    expect(sendsTo(phone)).toBe(1)
    // Keys are per business: B may use the same key for its own send.
    const other = await openConversation(b)
    const theirs = await h.call("POST", `/v1/messaging/conversations/${other.id}/messages`, {
      key: b.key,
      body: { text: "once" },
      headers: { "idempotency-key": "text-1" }
    })
    expect(theirs.status).toBe(201)
    expect(theirs.headers.get("idempotent-replayed")).toBeNull()
  })

  it("replays a template send, and rejects the same key on a different request with 422", async () => {
    const phone = "+2348099000001"
    const body = {
      business_whatsapp_number_id: a.numberId,
      phone,
      template_key: "order_shipped",
      variables: { order_id: "1", eta: "Friday" }
    }
    const headers = { "idempotency-key": "template-1" }
    const first = await h.call("POST", "/v1/messaging/messages/template", { key: a.key, body, headers })
    expect(first.status).toBe(201)
    // The same request re-serialised differently is still the same request.
    const reordered = {
      variables: { eta: "Friday", order_id: "1" },
      template_key: "order_shipped",
      phone,
      business_whatsapp_number_id: a.numberId
    }
    const replay = await h.call("POST", "/v1/messaging/messages/template", { key: a.key, body: reordered, headers })
    expect([replay.status, replay.text, replay.headers.get("idempotent-replayed")]).toEqual([201, first.text, "true"])
    const different = await h.call<ErrorReply>("POST", "/v1/messaging/messages/template", {
      key: a.key,
      body: { ...body, variables: { order_id: "2", eta: "Friday" } },
      headers
    })
    expect([different.status, different.body.error.code]).toEqual([422, "idempotency_key_reused"])
    expect(sendsTo(phone)).toBe(1)
  })

  it("20 parallel sends with one key reach WhatsApp once; the others replay it or get 409", async () => {
    const { id, phone } = await openConversation(a)
    h.fake.fail({ fault: { kind: "latency", millis: 300 }, times: 1, match: { to: phone } })
    const replies = await Promise.all(
      Array.from({ length: 20 }, () =>
        h.call<Envelope<MessageJson> & ErrorReply>("POST", `/v1/messaging/conversations/${id}/messages`, {
          key: a.key,
          body: { text: "exactly once" },
          headers: { "idempotency-key": "parallel-1" }
        })
      )
    )
    expect(sendsTo(phone)).toBe(1)
    const created = replies.filter((r) => r.status === 201)
    const busy = replies.filter((r) => r.status === 409)
    expect(created.length + busy.length).toBe(20)
    expect(created.length).toBeGreaterThanOrEqual(1)
    expect(new Set(created.map((r) => r.body.data.id)).size).toBe(1)
    expect(
      busy.every((r) => r.body.error.code === "idempotency_key_in_use" && r.headers.get("retry-after") !== null)
    ).toBe(true)
    const after = await h.call("POST", `/v1/messaging/conversations/${id}/messages`, {
      key: a.key,
      body: { text: "exactly once" },
      headers: { "idempotency-key": "parallel-1" }
    })
    expect([after.status, after.headers.get("idempotent-replayed")]).toEqual([201, "true"])
    expect(sendsTo(phone)).toBe(1)
  })

  it("409 idempotency_key_in_use while the first request with the key is still running", async () => {
    const { id, phone } = await openConversation(a)
    h.fake.fail({ fault: { kind: "latency", millis: 400 }, times: 1, match: { to: phone } })
    const request = { key: a.key, body: { text: "slow" }, headers: { "idempotency-key": "in-flight-1" } }
    const first = h.call("POST", `/v1/messaging/conversations/${id}/messages`, request)
    while (sendsTo(phone) === 0) await new Promise((resolve) => setTimeout(resolve, 5))
    const second = await h.call<ErrorReply>("POST", `/v1/messaging/conversations/${id}/messages`, request)
    expect([second.status, second.body.error.code, second.headers.get("retry-after")]).toEqual([
      409,
      "idempotency_key_in_use",
      "1"
    ])
    expect((await first).status).toBe(201)
  })

  it("502 delivery_unconfirmed when WhatsApp never answers; a retry replays it and never resends", async () => {
    const { id, phone } = await openConversation(a)
    h.fake.fail({ fault: { kind: "hang" }, times: 1, match: { to: phone } })
    const request = { key: a.key, body: { text: "lost?" }, headers: { "idempotency-key": "unconfirmed-1" } }
    const first = await h.call<ErrorReply>("POST", `/v1/messaging/conversations/${id}/messages`, request)
    expect([first.status, first.body.error.code]).toEqual([502, "delivery_unconfirmed"])
    const second = await h.call("POST", `/v1/messaging/conversations/${id}/messages`, request)
    expect([second.status, second.text, second.headers.get("idempotent-replayed")]).toEqual([502, first.text, "true"])
    expect(sendsTo(phone)).toBe(1)
  })

  it("replays a provider refusal with the same status and body", async () => {
    const { id, phone } = await openConversation(a)
    h.fake.fail({ fault: { kind: "graph-error", code: 131026 }, times: 1, match: { to: phone } })
    const request = { key: a.key, body: { text: "nope" }, headers: { "idempotency-key": "refused-1" } }
    const first = await h.call<ErrorReply>("POST", `/v1/messaging/conversations/${id}/messages`, request)
    expect([first.status, first.body.error.code]).toEqual([422, "recipient_invalid"])
    expect(first.body.error.details?.providerCode).toBe(131026)
    const second = await h.call<ErrorReply>("POST", `/v1/messaging/conversations/${id}/messages`, request)
    expect([second.status, second.text, second.headers.get("idempotent-replayed")]).toEqual([422, first.text, "true"])
    expect(sendsTo(phone)).toBe(1)
  })

  it("does not store failures before WhatsApp decided: 502 provider_unavailable, then the same key succeeds", async () => {
    const { id, phone } = await openConversation(a)
    h.fake.fail({ fault: { kind: "graph-error", code: 131000 }, times: 5, match: { to: phone } })
    const request = { key: a.key, body: { text: "retry me" }, headers: { "idempotency-key": "unavailable-1" } }
    const first = await h.call<ErrorReply>("POST", `/v1/messaging/conversations/${id}/messages`, request)
    expect([first.status, first.body.error.code]).toEqual([502, "provider_unavailable"])
    h.fake.reset()
    const second = await h.call("POST", `/v1/messaging/conversations/${id}/messages`, request)
    expect([second.status, second.headers.get("idempotent-replayed")]).toEqual([201, null])
    h.fake.fail({ fault: { kind: "graph-error", code: 190 }, times: 1, match: { to: phone } })
    const misconfigured = await h.call<ErrorReply>("POST", `/v1/messaging/conversations/${id}/messages`, {
      key: a.key,
      body: { text: "bad token" }
    })
    expect([misconfigured.status, misconfigured.body.error.code]).toEqual([502, "provider_misconfigured"])
    h.fake.fail({
      fault: { kind: "graph-error", code: 130429, headers: { "retry-after": "0" } },
      times: 5,
      match: { to: phone }
    })
    const limited = await h.call<ErrorReply>("POST", `/v1/messaging/conversations/${id}/messages`, {
      key: a.key,
      body: { text: "too fast" }
    })
    expect([limited.status, limited.body.error.code]).toEqual([429, "provider_rate_limited"])
    expect(limited.headers.get("retry-after")).not.toBeNull()
    h.fake.reset()
  })

  it("400 for a malformed Idempotency-Key, with nothing sent", async () => {
    const { id, phone } = await openConversation(a)
    for (const key of ["x".repeat(256), "", "naïve"]) {
      const reply = await h.call<ErrorReply>("POST", `/v1/messaging/conversations/${id}/messages`, {
        key: a.key,
        body: { text: "hi" },
        headers: { "idempotency-key": key }
      })
      expect([key, reply.status, reply.body.error?.code]).toEqual([key, 400, "invalid_request"])
    }
    expect(sendsTo(phone)).toBe(0)
  })
})
