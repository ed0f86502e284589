/**
 * The public contract end to end, on PGlite and PostgreSQL: a real server on loopback, the fake Cloud API as
 * WhatsApp, conversations created by signed webhooks. Every endpoint, its scopes, cross-business 404s, every error
 * status, pagination and filters, and idempotent sends.
 */

import * as Http from "node:http"
import type { Scope as ParleyScope } from "@parley/core"
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
  nextPhone,
  nowSeconds,
  start,
  type Tenant,
  customerWrites as writes
} from "./support/Harness.js"

type Detail = ConversationJson & { readonly messages: ReadonlyArray<MessageJson> }

const list = await engines()

describe.each(list)("messaging API on $name", (engine) => {
  let h: Harness
  let a: Tenant
  let b: Tenant
  const customerWrites = (t: Tenant, options: Parameters<typeof writes>[2] = {}) => writes(h, t, options)

  beforeAll(async () => {
    h = await start(engine)
    a = await createTenant(h, "Business A", "200000000000002", "token-a")
    b = await createTenant(h, "Business B", "200000000000003", "token-b")
  })
  afterAll(async () => {
    await h?.close()
  })

  it("a signed inbound webhook creates the conversation: window open, unreadCount 1, contract fields", async () => {
    const { conversation, phone } = await customerWrites(a, { name: "Ada Lovelace" })
    expect(conversation).toMatchObject({
      businessId: a.businessId,
      customerPhone: phone,
      customerName: "Ada Lovelace",
      status: "open",
      mode: "human",
      unreadCount: 1,
      assignedUserId: null,
      lastOutboundAt: null
    })
    expect(conversation.windowClosesAt).not.toBeNull()
    expect(Date.parse(conversation.windowClosesAt ?? "")).toBe(
      Date.parse(conversation.lastInboundAt ?? "") + 86_400_000
    )
    expect(conversation.lastActivityAt).toBe(conversation.lastInboundAt)

    const detail = await h.call<Envelope<Detail>>("GET", `/v1/messaging/conversations/${conversation.id}`, {
      key: a.key
    })
    expect(detail.status).toBe(200)
    expect(detail.body.message).toBe("Conversation retrieved")
    expect(detail.body.data.messages).toHaveLength(1)
    expect(detail.body.data.messages[0]).toMatchObject({
      direction: "inbound",
      messageType: "text",
      text: "Is my order shipped?",
      deliveryStatus: "delivered"
    })
    expect(detail.body.page).toEqual({ nextCursor: null })
  })

  it("sends a text inside the window: 201, the contract's body, one request to WhatsApp", async () => {
    const { conversation, phone } = await customerWrites(a)
    const before = h.fake.sends.length
    const sent = await h.call<Envelope<MessageJson>>(
      "POST",
      `/v1/messaging/conversations/${conversation.id}/messages`,
      {
        key: a.key,
        body: { text: "Your order #1234 shipped today and arrives Friday." }
      }
    )
    expect(sent.status).toBe(201)
    expect(sent.body.message).toBe("Message sent")
    expect(sent.body.data).toMatchObject({
      conversationId: conversation.id,
      direction: "outbound",
      messageType: "text",
      text: "Your order #1234 shipped today and arrives Friday.",
      deliveryStatus: "sent"
    })
    expect(h.fake.sends.length).toBe(before + 1)
    expect(h.fake.sends.at(-1)?.to).toBe(phone)
    const after = await h.call<Envelope<Detail>>("GET", `/v1/messaging/conversations/${conversation.id}`, {
      key: a.key
    })
    expect(after.body.data.status).toBe("pending_customer")
    expect(after.body.data.messages[0]?.id).toBe(sent.body.data.id)
  })

  it("refuses free text once the window has closed: 422 service_window_closed with windowClosedAt and a hint", async () => {
    const { conversation } = await customerWrites(a, { minutesAgo: 25 * 60 })
    expect(conversation.windowClosesAt).toBeNull()
    const before = h.fake.sends.length
    const refused = await h.call<ErrorReply>("POST", `/v1/messaging/conversations/${conversation.id}/messages`, {
      key: a.key,
      body: { text: "hello" }
    })
    expect(refused.status).toBe(422)
    expect(refused.body.error.code).toBe("service_window_closed")
    expect(refused.body.error.details?.windowClosedAt).toBe(
      new Date(Date.parse(conversation.lastInboundAt ?? "") + 86_400_000).toISOString()
    )
    expect(String(refused.body.error.details?.hint)).toContain("/v1/messaging/messages/template")
    expect(h.fake.sends.length).toBe(before)
  })

  it("a customer message dated 25 hours ago through the fake's /_fake/inbound leaves the window closed", async () => {
    // The sandbox path docs/getting-started.md walks through: the fake signs and posts the webhook itself.
    const from = nextPhone()
    const writtenAt = new Date((nowSeconds() - 25 * 3600) * 1000).toISOString()
    const relayed = await fetch(`${h.fake.url}/_fake/inbound`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        url: `${h.url}/webhooks/whatsapp`,
        appSecret,
        from,
        text: "Still there?",
        timestamp: writtenAt
      })
    }).then((r) => r.json() as Promise<{ status: number }>)
    expect(relayed.status).toBe(200)
    await h.settled()
    const found = await h.call<Envelope<ReadonlyArray<ConversationJson>>>(
      "GET",
      `/v1/messaging/conversations?search=${from}`,
      { key: a.key }
    )
    const conversation = found.body.data[0]
    expect(conversation).toMatchObject({ lastInboundAt: writtenAt, windowClosesAt: null, unreadCount: 1 })
    const refused = await h.call<ErrorReply>("POST", `/v1/messaging/conversations/${conversation?.id}/messages`, {
      key: a.key,
      body: { text: "hello" }
    })
    expect([refused.status, refused.body.error.code]).toEqual([422, "service_window_closed"])
    const template = await h.call<Envelope<MessageJson>>("POST", "/v1/messaging/messages/template", {
      key: a.key,
      body: {
        business_whatsapp_number_id: a.numberId,
        phone: `+${from}`,
        template_key: "order_shipped",
        variables: { order_id: "1234", eta: "Friday" }
      }
    })
    expect([template.status, template.body.data.conversationId]).toEqual([201, conversation?.id])
  })

  it("sends a template to a new number: 201, a new conversation, outside any window", async () => {
    const phone = `+${nextPhone()}`
    const sent = await h.call<Envelope<MessageJson>>("POST", "/v1/messaging/messages/template", {
      key: a.key,
      body: {
        business_whatsapp_number_id: a.numberId,
        phone,
        template_key: "order_shipped",
        customer_name: "Ada Lovelace",
        variables: { order_id: "1234", eta: "Friday" }
      }
    })
    expect(sent.status).toBe(201)
    expect(sent.body.data).toMatchObject({
      direction: "outbound",
      messageType: "template",
      text: "Order 1234 arrives Friday",
      deliveryStatus: "sent",
      template: { key: "order_shipped", variables: { order_id: "1234", eta: "Friday" } }
    })
    const conversation = await h.call<Envelope<Detail>>(
      "GET",
      `/v1/messaging/conversations/${sent.body.data.conversationId}`,
      { key: a.key }
    )
    expect(conversation.body.data).toMatchObject({
      customerPhone: phone,
      customerName: "Ada Lovelace",
      windowClosesAt: null
    })
  })

  it("template errors: 404 template_not_found, 422 template_not_approved, 422 template_variables_invalid (all)", async () => {
    const base = { business_whatsapp_number_id: a.numberId, phone: `+${nextPhone()}` }
    const missing = await h.call<ErrorReply>("POST", "/v1/messaging/messages/template", {
      key: a.key,
      body: { ...base, template_key: "no_such_template" }
    })
    expect([missing.status, missing.body.error.code]).toEqual([404, "template_not_found"])
    const paused = await h.call<ErrorReply>("POST", "/v1/messaging/messages/template", {
      key: a.key,
      body: { ...base, template_key: "spring_sale" }
    })
    expect([paused.status, paused.body.error.code]).toEqual([422, "template_not_approved"])
    expect(paused.body.error.details?.status).toBe("PAUSED")
    const invalid = await h.call<ErrorReply>("POST", "/v1/messaging/messages/template", {
      key: a.key,
      body: { ...base, template_key: "order_shipped", variables: { order_id: "", extra: "x" } }
    })
    expect([invalid.status, invalid.body.error.code]).toEqual([422, "template_variables_invalid"])
    const problems = invalid.body.error.details?.problems as ReadonlyArray<{ variable: string; problem: string }>
    expect(problems.map((p) => `${p.variable}:${p.problem}`).sort()).toEqual([
      "eta:missing",
      "extra:unknown",
      "order_id:empty"
    ])
  })

  it("400 for invalid bodies (field and reason), unknown fields, malformed JSON; 413 over 1 MiB", async () => {
    const { conversation } = await customerWrites(a)
    const path = `/v1/messaging/conversations/${conversation.id}/messages`
    const empty = await h.call<ErrorReply>("POST", path, { key: a.key, body: { text: "" } })
    expect([empty.status, empty.body.error.code]).toEqual([400, "invalid_request"])
    expect(JSON.stringify(empty.body.error.details)).toContain('"path":"text"')
    const extra = await h.call<ErrorReply>("POST", path, { key: a.key, body: { text: "hi", deliveryStatus: "read" } })
    expect([extra.status, extra.body.error.code]).toEqual([400, "invalid_request"])
    expect(JSON.stringify(extra.body.error.details)).toContain('"path":"deliveryStatus"')
    const long = await h.call<ErrorReply>("POST", path, { key: a.key, body: { text: "x".repeat(4097) } })
    expect(long.status).toBe(400)
    const malformed = await h.call<ErrorReply>("POST", path, { key: a.key, raw: '{"text": "hi"' })
    expect([malformed.status, malformed.body.error.code]).toEqual([400, "malformed_json"])
    const huge = await h.call<ErrorReply>("POST", path, { key: a.key, body: { text: "x".repeat(1024 * 1024 + 10) } })
    expect([huge.status, huge.body.error.code]).toEqual([413, "payload_too_large"])
    // Without a Content-Length (chunked), the limit holds while reading.
    const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = Http.request(`${h.url}${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${a.key}`, "content-type": "application/json" }
      })
      request.on("response", (response) => {
        let body = ""
        response.on("data", (c: Buffer) => {
          body += c.toString("utf8")
        })
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body }))
      })
      request.on("error", reject)
      request.write('{"text":"')
      const chunk = "x".repeat(64 * 1024)
      for (let i = 0; i < 20; i++) request.write(chunk)
      request.end('"}')
    })
    expect(chunked.status).toBe(413)
    expect((JSON.parse(chunked.body) as ErrorReply).error.code).toBe("payload_too_large")
    const badPhone = await h.call<ErrorReply>("POST", "/v1/messaging/messages/template", {
      key: a.key,
      body: { business_whatsapp_number_id: a.numberId, phone: "08012345678", template_key: "order_shipped" }
    })
    expect([badPhone.status, badPhone.body.error.code]).toEqual([400, "invalid_request"])
    expect(JSON.stringify(badPhone.body.error.details)).toContain('"path":"phone"')
    const blankName = await h.call<ErrorReply>("POST", "/v1/messaging/messages/template", {
      key: a.key,
      body: {
        business_whatsapp_number_id: a.numberId,
        phone: `+${nextPhone()}`,
        template_key: "order_shipped",
        customer_name: "   ",
        variables: { order_id: "1", eta: "now" }
      }
    })
    expect([blankName.status, JSON.stringify(blankName.body.error.details)]).toEqual([
      400,
      expect.stringContaining('"path":"customer_name"')
    ])
  })

  it("400 for bad query parameters, cursors and assigned=me without a user", async () => {
    for (const query of ["limit=0", "limit=201", "limit=abc", "status=closed", "mode=robot", "assigned=someone"]) {
      const reply = await h.call<ErrorReply>("GET", `/v1/messaging/conversations?${query}`, { key: a.key })
      expect([query, reply.status, reply.body.error.code]).toEqual([query, 400, "invalid_request"])
      // One issue, naming the parameter: not the "expected undefined" half of the optional's union too.
      expect(reply.body.error.details).toEqual({ issues: [{ path: query.split("=")[0], message: expect.any(String) }] })
    }
    const cursor = await h.call<ErrorReply>("GET", "/v1/messaging/conversations?cursor=bm9wZQ", { key: a.key })
    expect([cursor.status, cursor.body.error.code]).toEqual([400, "invalid_cursor"])
    const me = await h.call<ErrorReply>("GET", "/v1/messaging/conversations?assigned=me", { key: a.key })
    expect([me.status, me.body.error.code]).toEqual([400, "assigned_me_requires_user"])
    const mine = await h.call("GET", "/v1/messaging/conversations?assigned=me", { key: a.userKey })
    expect(mine.status).toBe(200)
  })

  it("401: no key, wrong scheme, malformed, unknown and revoked keys; X-API-Key works", async () => {
    const path = "/v1/messaging/conversations"
    const none = await h.call<ErrorReply>("GET", path)
    expect([none.status, none.body.error.code]).toEqual([401, "unauthorized"])
    for (const authorization of [`Basic ${a.key}`, `Token ${a.key}`, a.key, "Bearer ", "Bearer parley_x_y"]) {
      const reply = await h.call<ErrorReply>("GET", path, { headers: { authorization } })
      expect([authorization.slice(0, 8), reply.status]).toEqual([authorization.slice(0, 8), 401])
    }
    const unknown = await h.call<ErrorReply>("GET", path, {
      key: a.key.replace(/.$/, (c) => (c === "A" ? "B" : "A"))
    })
    expect(unknown.status).toBe(401)
    expect(unknown.text).not.toContain(a.key)
    const viaHeader = await h.call("GET", path, { headers: { "x-api-key": a.key } })
    expect(viaHeader.status).toBe(200)
    const emptyHeader = await h.call("GET", path, { headers: { "x-api-key": "" } })
    expect(emptyHeader.status).toBe(401)

    const created = await h.admin<Envelope<{ id: string; key: string }>>(
      "POST",
      `/businesses/${a.businessId}/api-keys`,
      {
        scopes: ["messaging:conversations:read"]
      }
    )
    expect((await h.call("GET", path, { key: created.body.data.key })).status).toBe(200)
    const revoked = await h.admin("DELETE", `/businesses/${a.businessId}/api-keys/${created.body.data.id}`)
    expect(revoked.status).toBe(204)
    expect((await h.call("GET", path, { key: created.body.data.key })).status).toBe(401)
  })

  it("403 for a key without the endpoint's scope, on every endpoint (before the body is looked at)", async () => {
    const { conversation } = await customerWrites(a)
    const id = conversation.id
    const endpoints: ReadonlyArray<readonly [string, string, ParleyScope, unknown]> = [
      ["GET", "/v1/messaging/conversations", "messaging:conversations:read", undefined],
      ["GET", `/v1/messaging/conversations/${id}`, "messaging:messages:read", undefined],
      ["POST", `/v1/messaging/conversations/${id}/messages`, "messaging:messages:send", { text: "hi" }],
      ["POST", "/v1/messaging/messages/template", "messaging:messages:send", { nonsense: true }],
      ["PATCH", `/v1/messaging/conversations/${id}`, "messaging:conversations:write", { status: "resolved" }],
      ["POST", `/v1/messaging/conversations/${id}/read`, "messaging:conversations:write", undefined]
    ]
    const all = [
      "messaging:conversations:read",
      "messaging:conversations:write",
      "messaging:messages:read",
      "messaging:messages:send"
    ] as const
    for (const [method, path, scope, body] of endpoints) {
      const others = await a.keyFor(all.filter((s) => s !== scope))
      const reply = await h.call<ErrorReply>(method, path, { key: others, body })
      expect([method, path, reply.status, reply.body.error.code, reply.body.error.details?.requiredScope]).toEqual([
        method,
        path,
        403,
        "missing_scope",
        scope
      ])
      const only = await a.keyFor([scope])
      const allowed = await h.call(method, path, {
        key: only,
        body: scope === "messaging:messages:send" ? undefined : body
      })
      expect([method, path, allowed.status === 403 || allowed.status === 401]).toEqual([method, path, false])
    }
  })

  it("another business's conversation or number is a 404, exactly like a missing one", async () => {
    const { conversation } = await customerWrites(b)
    const id = conversation.id
    const missing = "01a00000-0000-7000-8000-000000000000"
    for (const target of [id, missing, "not-a-uuid"]) {
      const get = await h.call<ErrorReply>("GET", `/v1/messaging/conversations/${target}`, { key: a.key })
      expect([get.status, get.body.error.code]).toEqual([404, "conversation_not_found"])
      const send = await h.call<ErrorReply>("POST", `/v1/messaging/conversations/${target}/messages`, {
        key: a.key,
        body: { text: "hi" }
      })
      expect([send.status, send.body.error.code]).toEqual([404, "conversation_not_found"])
      const patch = await h.call<ErrorReply>("PATCH", `/v1/messaging/conversations/${target}`, {
        key: a.key,
        body: { status: "resolved" }
      })
      expect([patch.status, patch.body.error.code]).toEqual([404, "conversation_not_found"])
      const read = await h.call<ErrorReply>("POST", `/v1/messaging/conversations/${target}/read`, { key: a.key })
      expect([read.status, read.body.error.code]).toEqual([404, "conversation_not_found"])
    }
    const otherNumber = await h.call<ErrorReply>("POST", "/v1/messaging/messages/template", {
      key: a.key,
      body: { business_whatsapp_number_id: b.numberId, phone: `+${nextPhone()}`, template_key: "order_shipped" }
    })
    expect([otherNumber.status, otherNumber.body.error.code]).toEqual([404, "whatsapp_number_not_found"])
    const listed = await h.call<Envelope<ReadonlyArray<ConversationJson>>>(
      "GET",
      "/v1/messaging/conversations?limit=200",
      {
        key: a.key
      }
    )
    expect(listed.body.data.some((c) => c.id === id)).toBe(false)
  })

  it("PATCH changes status, mode and assignment (null unassigns); POST read zeroes unreadCount", async () => {
    const { conversation } = await customerWrites(a)
    const path = `/v1/messaging/conversations/${conversation.id}`
    const patched = await h.call<Envelope<ConversationJson>>("PATCH", path, {
      key: a.key,
      body: { status: "resolved", mode: "ai", assignedUserId: a.userId }
    })
    expect(patched.status).toBe(200)
    expect(patched.body.data).toMatchObject({ status: "resolved", mode: "ai", assignedUserId: a.userId })
    const unassigned = await h.call<Envelope<ConversationJson>>("PATCH", path, {
      key: a.key,
      body: { assignedUserId: null }
    })
    expect(unassigned.body.data).toMatchObject({ status: "resolved", mode: "ai", assignedUserId: null })
    const foreignUser = await h.call<ErrorReply>("PATCH", path, { key: a.key, body: { assignedUserId: b.userId } })
    expect([foreignUser.status, foreignUser.body.error.code]).toEqual([422, "assignee_not_found"])
    const badStatus = await h.call<ErrorReply>("PATCH", path, { key: a.key, body: { status: "closed" } })
    expect(badStatus.status).toBe(400)
    const extra = await h.call<ErrorReply>("PATCH", path, { key: a.key, body: { unreadCount: 0 } })
    expect(extra.status).toBe(400)

    expect(conversation.unreadCount).toBe(1)
    const read = await h.call<Envelope<ConversationJson>>("POST", `${path}/read`, { key: a.key })
    expect(read.status).toBe(200)
    expect(read.body.data.unreadCount).toBe(0)
  })

  it("list and get bodies are JSON whose Content-Length is their length in bytes, whatever the characters", async () => {
    const { conversation } = await customerWrites(a, { name: "Zoë 🚀 Ünïcode 日本" })
    const raw = (path: string) =>
      new Promise<{ headers: Http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
        const request = Http.get(`${h.url}${path}`, { headers: { authorization: `Bearer ${a.key}` } }, (response) => {
          const chunks: Array<Buffer> = []
          response.on("data", (chunk: Buffer) => chunks.push(chunk))
          response.on("end", () => resolve({ headers: response.headers, body: Buffer.concat(chunks) }))
          response.on("error", reject)
        })
        request.on("error", reject)
      })
    for (const path of ["/v1/messaging/conversations?limit=200", `/v1/messaging/conversations/${conversation.id}`]) {
      const { headers, body } = await raw(path)
      expect(headers["content-type"]).toMatch(/^application\/json/)
      expect(headers["transfer-encoding"]).toBeUndefined()
      expect(Number(headers["content-length"])).toBe(body.length)
      expect(body.toString("utf8")).toContain("Zoë 🚀 Ünïcode 日本")
      expect(() => JSON.parse(body.toString("utf8"))).not.toThrow()
    }
  })

  it("pages back through a conversation's history with messagesLimit and before", async () => {
    const { conversation, phone } = await customerWrites(a)
    const from = phone.slice(1)
    const t0 = nowSeconds() - 600
    await h.webhook(
      envelope(
        inboundChange(
          a.phoneNumberId,
          Array.from({ length: 6 }, (_, i) => ({ from, text: `message ${i}`, timestamp: t0 + i }))
        )
      )
    )
    const seen: Array<string> = []
    let before: string | null = null
    let pages = 0
    do {
      const query: string = `messagesLimit=3${before === null ? "" : `&before=${encodeURIComponent(before)}`}`
      const page: Awaited<ReturnType<typeof h.call<Envelope<Detail>>>> = await h.call<Envelope<Detail>>(
        "GET",
        `/v1/messaging/conversations/${conversation.id}?${query}`,
        { key: a.key }
      )
      expect(page.status).toBe(200)
      seen.push(...page.body.data.messages.map((m) => m.text ?? ""))
      before = page.body.page?.nextCursor ?? null
      pages++
    } while (before !== null)
    expect(pages).toBe(3)
    expect(seen).toEqual([
      "Is my order shipped?",
      "message 5",
      "message 4",
      "message 3",
      "message 2",
      "message 1",
      "message 0"
    ])
  })
})
