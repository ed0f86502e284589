/**
 * The worker's rounds, on PGlite and PostgreSQL: deliveries waiting together are claimed together and applied as one
 * batch per number, exactly as one by one would apply them (each message once, a redelivery inside the round
 * changing nothing, a conversation's events in the order of the deliveries); a round whose batch the database
 * refuses falls back to the one-by-one path, where only the bad item fails.
 */
import { createHash } from "node:crypto"
import { FakeCloudApi } from "@parley/whatsapp-cloud/testing"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  createTenant,
  engines,
  envelope,
  type Harness,
  inboundChange,
  nextPhone,
  start,
  type Tenant,
  wamid
} from "./support/Harness.js"

const list = await engines()

describe.each(list)("webhook rounds on $name", (engine) => {
  let h: Harness
  let a: Tenant
  const logs: Array<string> = []

  beforeAll(async () => {
    // One attempt per item: a refused item is set aside at once, so the fallback's outcome is final.
    h = await start(engine, { logs, webhookProcessing: { maxItemAttempts: 1 } })
    a = await createTenant(h, "Business A", "200000000000002", "token-a")
  })
  afterAll(async () => {
    await h?.close()
  })

  /**
   * Stores the payloads as deliveries in one statement, received in this order: the worker sees them all at once
   * (nothing wakes it; its next look claims them together). Their ids, in order.
   */
  const storeTogether = async (payloads: ReadonlyArray<unknown>) => {
    const raws = payloads.map((p) => FakeCloudApi.metaJson(p))
    const ids = raws.map((raw) => createHash("sha256").update(raw, "utf8").digest("hex"))
    const rows = raws.map(
      (raw, i) =>
        `(decode('${ids[i]}', 'hex'), convert_to('${raw.replaceAll("'", "''")}', 'UTF8'), ` +
        `now() - interval '1 minute' + interval '${i} milliseconds', 'whatsapp_cloud')`
    )
    await h.query(
      `INSERT INTO webhook_deliveries (body_sha256, body, received_at, provider) VALUES ${rows.join(", ")} RETURNING 1`
    )
    return ids
  }

  const conversationIdOf = async (phone: string) =>
    (
      await h.query<{ id: string }>(
        `SELECT id::text AS id FROM conversations WHERE business_id = '${a.businessId}' AND customer_phone = '+${phone}'`
      )
    )[0]?.id

  const eventsOf = async (conversationId: string) =>
    (
      await h.query<{ type: string; wamid: string | null }>(
        `SELECT type, data->'message'->>'providerMessageId' AS wamid FROM events
         WHERE conversation_id = '${conversationId}' ORDER BY sequence`
      )
    ).map((e) => (e.wamid === null ? e.type : `${e.type} ${e.wamid}`))

  /** The deliveries named by each round's log line. */
  const roundLogs = () =>
    logs.flatMap((line) => {
      const deliveries: unknown = JSON.parse(line).annotations?.deliveries
      return Array.isArray(deliveries) ? [deliveries.map(String)] : []
    })

  it("deliveries waiting together are applied as one round, as one by one would apply them", async () => {
    const [p1, p2, p3] = [nextPhone(), nextPhone(), nextPhone()]
    const w: readonly [string, string, string, string, string] = [wamid(), wamid(), wamid(), wamid(), wamid()]
    const ids = await storeTogether([
      envelope(inboundChange(a.phoneNumberId, [{ from: p1, text: "one", wamid: w[0], name: "Ada" }])),
      envelope(
        inboundChange(a.phoneNumberId, [
          { from: p2, text: "two", wamid: w[1] },
          { from: p1, text: "three", wamid: w[2] }
        ])
      ),
      // A redelivery of the first message, inside the same round, beside a new one (a change names each contact once).
      envelope(
        inboundChange(a.phoneNumberId, [
          { from: p1, text: "one", wamid: w[0], name: "Ada L." },
          { from: p1, text: "four", wamid: w[3], name: "Ada L." }
        ])
      ),
      // A redelivery alone, from a sender with no conversation: it creates none.
      envelope(inboundChange(a.phoneNumberId, [{ from: p3, text: "two", wamid: w[1] }])),
      envelope(inboundChange(a.phoneNumberId, [{ from: p2, text: "five", wamid: w[4] }]))
    ])
    await h.settled()
    const deliveries = await h.query<{ processed: boolean; attempts: number }>(
      `SELECT processed_at IS NOT NULL AS processed, attempts FROM webhook_deliveries
       WHERE body_sha256 IN (${ids.map((id) => `decode('${id}', 'hex')`).join(", ")})`
    )
    expect(deliveries).toEqual(ids.map(() => ({ processed: true, attempts: 1 })))
    // Applied together: one round's log line names all five.
    expect(roundLogs().some((d) => ids.every((id) => d.includes(id)))).toBe(true)

    const c1 = await conversationIdOf(p1)
    const c2 = await conversationIdOf(p2)
    if (c1 === undefined || c2 === undefined) throw new Error("a sender's conversation is missing")
    expect(await eventsOf(c1)).toEqual([
      "conversation.created",
      `message.received ${w[0]}`,
      `message.received ${w[2]}`,
      `message.received ${w[3]}`
    ])
    expect(await eventsOf(c2)).toEqual(["conversation.created", `message.received ${w[1]}`, `message.received ${w[4]}`])
    const [state] = await h.query<{ unread: number; name: string | null }>(
      `SELECT unread_count AS unread, customer_name AS name FROM conversations WHERE id = '${c1}'`
    )
    expect(state).toEqual({ unread: 3, name: "Ada L." })
    const [count] = await h.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM messages WHERE provider_message_id IN (${w.map((x) => `'${x}'`).join(", ")})`
    )
    expect(count?.n).toBe(5)
    expect(await conversationIdOf(p3)).toBeUndefined()
  })

  it("a round the database refuses falls back to one by one: only the bad item fails", async () => {
    const [p1, p2, pBad] = [nextPhone(), nextPhone(), nextPhone()]
    const [good1, good2, bad, good3] = [wamid(), wamid(), wamid(), wamid()]
    const ids = await storeTogether([
      envelope(inboundChange(a.phoneNumberId, [{ from: p1, text: "fine", wamid: good1 }])),
      envelope(
        inboundChange(a.phoneNumberId, [
          { from: p2, text: "fine too", wamid: good2 },
          { from: pBad, text: "bad \u0000 byte", wamid: bad }
        ])
      ),
      envelope(inboundChange(a.phoneNumberId, [{ from: p1, text: "still fine", wamid: good3 }]))
    ])
    await h.settled()
    const stored = await h.query<{ wamid: string }>(
      `SELECT provider_message_id AS wamid FROM messages
       WHERE provider_message_id IN ('${good1}', '${good2}', '${bad}', '${good3}') ORDER BY provider_message_id`
    )
    expect(stored.map((r) => r.wamid)).toEqual([good1, good2, good3].sort())
    const failures = await h.query<{ item: string; dead: boolean }>(
      `SELECT item_key AS item, dead_at IS NOT NULL AS dead FROM webhook_item_failures
       WHERE delivery_sha256 IN (${ids.map((id) => `decode('${id}', 'hex')`).join(", ")})`
    )
    expect(failures).toEqual([{ item: `message:${bad}`, dead: true }])
    const c1 = await conversationIdOf(p1)
    if (c1 === undefined) throw new Error("the sender's conversation is missing")
    expect(await eventsOf(c1)).toEqual([
      "conversation.created",
      `message.received ${good1}`,
      `message.received ${good3}`
    ])
    expect(await conversationIdOf(pBad)).toBeUndefined()
  })
})

describe.each(list)("a backlog of webhook rounds on $name", (engine) => {
  let h: Harness
  let a: Tenant
  const logs: Array<string> = []

  beforeAll(async () => {
    // Rounds of two: a backlog of many deliveries is many full rounds, so the worker's second loop joins in.
    h = await start(engine, { logs, webhookProcessing: { roundSize: 2 } })
    a = await createTenant(h, "Business B", "200000000000003", "token-b")
  })
  afterAll(async () => {
    await h?.close()
  })

  it("rounds applied at once store each message once, and keep every conversation's counts and sequences", async () => {
    const customers = [nextPhone(), nextPhone(), nextPhone()]
    const sent = new Map<string, Array<string>>(customers.map((p) => [p, []]))
    // 60 deliveries of 4 messages, each from the three customers in turn: concurrent rounds touch the same
    // conversations, and the first creates them.
    const payloads = Array.from({ length: 60 }, (_, d) =>
      envelope(
        inboundChange(
          a.phoneNumberId,
          Array.from({ length: 4 }, (_, m) => {
            const from = customers[(d + m) % customers.length] ?? ""
            const id = wamid()
            sent.get(from)?.push(id)
            return { from, text: `delivery ${d} message ${m}`, wamid: id }
          })
        )
      )
    )
    const raws = payloads.map((p) => FakeCloudApi.metaJson(p))
    const keys = raws.map((raw) => `decode('${createHash("sha256").update(raw, "utf8").digest("hex")}', 'hex')`)
    const rows = raws.map(
      (raw, i) =>
        `(${keys[i]}, convert_to('${raw.replaceAll("'", "''")}', 'UTF8'), now() - interval '1 minute', 'whatsapp_cloud')`
    )
    await h.query(
      `INSERT INTO webhook_deliveries (body_sha256, body, received_at, provider) VALUES ${rows.join(", ")} RETURNING 1`
    )
    await h.settled()

    const [deliveries] = await h.query<{ processed: number; retried: number }>(
      `SELECT count(*) FILTER (WHERE processed_at IS NOT NULL)::int AS processed,
         count(*) FILTER (WHERE attempts > 1)::int AS retried
       FROM webhook_deliveries WHERE body_sha256 IN (${keys.join(", ")})`
    )
    expect(deliveries).toEqual({ processed: 60, retried: 0 })
    const [failures] = await h.query<{ n: number }>("SELECT count(*)::int AS n FROM webhook_item_failures")
    expect(failures?.n).toBe(0)
    // No delivery was applied by two rounds.
    // Each round's log line names its deliveries: all 60 were applied by rounds, none by two, and none fell back to
    // one by one (a round the database refused, as a deadlock between concurrent rounds would be).
    const applied = logs.flatMap((line) => {
      const named: unknown = JSON.parse(line).annotations?.deliveries
      return Array.isArray(named) ? named.map(String) : []
    })
    expect(applied.length).toBe(60)
    expect(new Set(applied).size).toBe(60)
    expect(logs.filter((line) => JSON.parse(line).annotations?.delivery !== undefined)).toEqual([])

    for (const customer of customers) {
      const wamids = sent.get(customer) ?? []
      const [conversation] = await h.query<{ id: string; unread: number; sequence: number }>(
        `SELECT id::text AS id, unread_count AS unread, event_sequence::int AS sequence FROM conversations
         WHERE business_id = '${a.businessId}' AND customer_phone = '+${customer}'`
      )
      if (conversation === undefined) throw new Error("a sender's conversation is missing")
      expect(conversation.unread).toBe(wamids.length)
      const events = await h.query<{ type: string; wamid: string | null; sequence: number }>(
        `SELECT type, data->'message'->>'providerMessageId' AS wamid, sequence::int AS sequence FROM events
         WHERE conversation_id = '${conversation.id}' ORDER BY sequence`
      )
      // Sequences without gaps or repeats, the conversation created first, each message received once.
      expect(events.map((e) => e.sequence)).toEqual(events.map((_, i) => i + 1))
      expect(conversation.sequence).toBe(events.length)
      expect(events[0]?.type).toBe("conversation.created")
      expect(
        events
          .slice(1)
          .map((e) => e.wamid)
          .sort()
      ).toEqual([...wamids].sort())
      const [stored] = await h.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM messages WHERE conversation_id = '${conversation.id}'`
      )
      expect(stored?.n).toBe(wamids.length)
    }
  })
})
