/**
 * The event feed and the live stream through a real server on loopback, on PGlite and on PostgreSQL: what a
 * consumer sees after a customer writes and the business answers, paging by cursor, filters, refusals, and the
 * Server-Sent Events stream (headers, frames, heartbeats, resuming by `Last-Event-ID`).
 */
import type { Event } from "@parley/core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { MessageJson } from "../src/Representation.js"
import { connect } from "./support/EventSource.js"
import {
  createTenant,
  customerWrites,
  type Envelope,
  type ErrorReply,
  engines,
  envelope,
  type Harness,
  start,
  type Tenant
} from "./support/Harness.js"

const list = await engines()

type Feed = Envelope<ReadonlyArray<Event>>

describe.each(list)("events on $name", (engine) => {
  let h: Harness
  let a: Tenant
  let b: Tenant

  beforeAll(async () => {
    h = await start(engine, { events: { heartbeat: "200 millis" } })
    a = await createTenant(h, "Business A", "200000000000002", "token-a")
    b = await createTenant(h, "Business B", "200000000000003", "token-b")
  })
  afterAll(async () => {
    await h?.close()
  })

  const feed = (t: Tenant, query = "") => h.call<Feed>("GET", `/v1/messaging/events${query}`, { key: t.key })

  /** The whole feed once it holds `count` events (a commit is served once no older transaction runs). */
  const feedOf = async (t: Tenant, count: number, query = "") => {
    const deadline = Date.now() + 30_000
    for (;;) {
      const reply = await feed(t, query === "" ? "?limit=1000" : `${query}&limit=1000`)
      expect(reply.status).toBe(200)
      if (reply.body.data.length >= count || Date.now() > deadline) return reply.body.data
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  const send = (t: Tenant, conversationId: string, text: string) =>
    h.call<Envelope<MessageJson>>("POST", `/v1/messaging/conversations/${conversationId}/messages`, {
      key: t.key,
      body: { text }
    })

  it("a customer's message and the business's answer are in the feed, in order, in the API's shapes", async () => {
    // Template events from the tenant's setup come first.
    const setup = (await feedOf(a, 2)).length
    const { conversation } = await customerWrites(h, a)
    const sent = await send(a, conversation.id, "On its way")
    expect(sent.status).toBe(201)
    const events = (await feedOf(a, setup + 4)).slice(setup)
    expect(events.map((e) => [e.type, e.sequence])).toEqual([
      ["conversation.created", 1],
      ["message.received", 2],
      ["message.sent", 3],
      ["message.status_updated", 4]
    ])
    for (const event of events) {
      expect(event).toMatchObject({ businessId: a.businessId, conversationId: conversation.id })
      expect(event.id).toMatch(/^[0-9a-f-]{36}$/)
      expect(Date.parse(event.occurredAt)).not.toBeNaN()
    }
    const received = events[1]
    if (received?.type !== "message.received") throw new Error("expected message.received")
    expect(received.data.conversation).toMatchObject({ id: conversation.id, unreadCount: 1, status: "open" })
    expect(received.data.message).toMatchObject({ direction: "inbound", text: "Is my order shipped?" })
    const statused = events[3]
    if (statused?.type !== "message.status_updated") throw new Error("expected message.status_updated")
    expect(statused.data.message).toMatchObject({ id: sent.body.data.id, deliveryStatus: "sent" })
  })

  it("pages by cursor without gaps or repeats, filters by type, and keeps businesses apart", async () => {
    const all = await feedOf(a, 6)
    const paged: Array<Event> = []
    let cursor: string | null = null
    for (let i = 0; i < 100; i++) {
      const reply: Awaited<ReturnType<typeof feed>> = await feed(
        a,
        `?limit=2${cursor === null ? "" : `&after=${encodeURIComponent(cursor)}`}`
      )
      expect(reply.status).toBe(200)
      paged.push(...reply.body.data)
      // An empty page still says where to continue.
      expect(reply.body.page?.nextCursor).not.toBeNull()
      if (reply.body.data.length === 0) break
      cursor = reply.body.page?.nextCursor ?? null
    }
    expect(paged.map((e) => e.id)).toEqual(all.map((e) => e.id))

    const onlyMessages = await feed(a, "?types=message.received,message.sent&limit=1000")
    expect(new Set(onlyMessages.body.data.map((e) => e.type))).toEqual(new Set(["message.received", "message.sent"]))

    const theirs = await feedOf(b, 2)
    expect(theirs.every((e) => e.businessId === b.businessId)).toBe(true)
    expect(theirs.map((e) => e.type)).toEqual(["template.status_updated", "template.status_updated"])
  })

  it("refuses an unknown type, a forged cursor, and a key without the scope", async () => {
    const badType = await h.call<ErrorReply>("GET", "/v1/messaging/events?types=message.deleted", { key: a.key })
    expect(badType.status).toBe(400)
    expect(badType.body.error.code).toBe("invalid_request")
    const forged = await h.call<ErrorReply>("GET", "/v1/messaging/events?after=1.1.AAAA", { key: a.key })
    expect(forged.status).toBe(400)
    expect(forged.body.error).toMatchObject({ code: "invalid_cursor", details: { parameter: "after" } })
    const narrow = await a.keyFor(["messaging:conversations:read"])
    const denied = await h.call<ErrorReply>("GET", "/v1/messaging/events", { key: narrow })
    expect(denied.status).toBe(403)
    const deniedStream = await h.call<ErrorReply>("GET", "/v1/messaging/events/stream", { key: narrow })
    expect(deniedStream.status).toBe(403)
    const forgedResume = await h.call<ErrorReply>("GET", "/v1/messaging/events/stream", {
      key: a.key,
      headers: { "last-event-id": "1.1.AAAA" }
    })
    expect(forgedResume.status).toBe(400)
    expect(forgedResume.body.error).toMatchObject({ code: "invalid_cursor", details: { parameter: "Last-Event-ID" } })
    // A cursor of business A's feed is only a position: B's key reads B's events after it, never A's.
    const aCursor = (await feed(a, "?limit=1")).body.page?.nextCursor ?? ""
    const crossed = await feed(b, `?after=${encodeURIComponent(aCursor)}&limit=1000`)
    expect(crossed.status).toBe(200)
    expect(crossed.body.data.every((e) => e.businessId === b.businessId)).toBe(true)
  })

  it("streams new events live as SSE with heartbeats, and resumes after Last-Event-ID with nothing lost or repeated", async () => {
    const stream = await connect(`${h.url}/v1/messaging/events/stream`, { key: a.key })
    try {
      expect(stream.status).toBe(200)
      expect(stream.headers.get("content-type")).toMatch(/^text\/event-stream/)
      expect(stream.headers.get("cache-control")).toBe("no-cache")
      expect(stream.headers.get("x-accel-buffering")).toBe("no")
      // From now: nothing of the past arrives. Wait for the first heartbeat so the stream surely started.
      const deadline = Date.now() + 10_000
      while (!stream.comments().includes("heartbeat") && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      expect(stream.comments()).toContain("heartbeat")
      expect(stream.frames()).toEqual([])
      const { conversation } = await customerWrites(h, a)
      await send(a, conversation.id, "First answer")
      const frames = await stream.waitFor(4)
      expect(frames.map((f) => f.event)).toEqual([
        "conversation.created",
        "message.received",
        "message.sent",
        "message.status_updated"
      ])
      const parsed = frames.map((f) => JSON.parse(f.data) as Event)
      expect(parsed.map((e) => e.type)).toEqual(frames.map((f) => f.event))
      // The id is the feed cursor: the feed after it holds exactly what came after it on the stream.
      const after = await feed(a, `?after=${encodeURIComponent(frames[1]?.id ?? "")}&limit=1000`)
      expect(after.body.data.map((e) => e.id)).toEqual(parsed.slice(2).map((e) => e.id))
      stream.close()

      // Reconnect after the second event while more happen meanwhile.
      await send(a, conversation.id, "Second answer")
      const resumed = await connect(`${h.url}/v1/messaging/events/stream`, {
        key: a.key,
        lastEventId: frames[1]?.id
      })
      try {
        const again = await resumed.waitFor(4)
        const ids = again.map((f) => (JSON.parse(f.data) as Event).id)
        expect(ids.slice(0, 2)).toEqual(parsed.slice(2).map((e) => e.id))
        expect(again.slice(2).map((f) => f.event)).toEqual(["message.sent", "message.status_updated"])
        expect(new Set(ids).size).toBe(ids.length)
      } finally {
        resumed.close()
      }
    } finally {
      stream.close()
    }
  })

  it("Meta's template status webhook updates the template and records template.status_updated", async () => {
    const before = (await feedOf(a, 1, "?types=template.status_updated")).length
    const change = (event: string) => ({
      field: "message_template_status_update",
      value: {
        event,
        message_template_id: 123456789012345,
        message_template_name: "spring_sale",
        message_template_language: "en",
        reason: "NONE",
        message_template_category: "MARKETING"
      }
    })
    // FLAGGED is a notice, not a status: nothing changes. APPROVED lifts the pause.
    expect((await h.webhook(envelope(change("FLAGGED"), change("APPROVED")))).status).toBe(200)
    const events = (await feedOf(a, before + 1, "?types=template.status_updated")).slice(before)
    expect(events).toHaveLength(1)
    const [event] = events
    if (event?.type !== "template.status_updated") throw new Error("expected template.status_updated")
    expect(event.data.template).toMatchObject({ key: "spring_sale", status: "APPROVED", previousStatus: "PAUSED" })
    const templates = await h.admin<Envelope<ReadonlyArray<{ key: string; status: string }>>>(
      "GET",
      `/businesses/${a.businessId}/templates`
    )
    expect(templates.body.data.find((t) => t.key === "spring_sale")?.status).toBe("APPROVED")
    // Redelivered: the status is already APPROVED, so no second event.
    expect((await h.webhook(envelope(change("APPROVED")))).status).toBe(200)
    const after = await feed(a, "?types=template.status_updated&limit=1000")
    expect(after.body.data.length).toBe(before + 1)
  })
})
