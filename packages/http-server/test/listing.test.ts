/**
 * Listing over a few hundred conversations, on PGlite and PostgreSQL: keyset pagination (every conversation once,
 * most recently active first), each filter, search by name and by phone digits, and their combinations.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { ConversationJson } from "../src/Representation.js"
import {
  createTenant,
  type Envelope,
  engines,
  envelope,
  type Harness,
  inboundChange,
  nowSeconds,
  start,
  type Tenant
} from "./support/Harness.js"

const list = await engines()
const total = 300

type Page = Envelope<ReadonlyArray<ConversationJson>>

describe.each(list)("listing conversations on $name", (engine) => {
  let h: Harness
  let a: Tenant
  let b: Tenant

  /** Every conversation a query returns, page by page. */
  const all = async (query: string, key: string, limit = 50) => {
    const rows: Array<ConversationJson> = []
    let cursor: string | null = null
    let pages = 0
    do {
      const url: string = `/v1/messaging/conversations?limit=${limit}&${query}${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`
      const page = await h.call<Page>("GET", url, { key })
      expect(page.status).toBe(200)
      expect(page.body.message).toBe("Conversations retrieved")
      rows.push(...page.body.data)
      cursor = page.body.page?.nextCursor ?? null
      pages++
    } while (cursor !== null && pages < 100)
    return { rows, pages }
  }

  beforeAll(async () => {
    h = await start(engine)
    a = await createTenant(h, "Business A", "200000000000002", "token-a")
    b = await createTenant(h, "Business B", "200000000000003", "token-b")
    // One batched delivery per 100 customers (Meta batches); distinct times so the order is total.
    const t0 = nowSeconds() - 3600
    for (let batch = 0; batch < total / 100; batch++) {
      const messages = Array.from({ length: 100 }, (_, j) => {
        const i = batch * 100 + j
        return {
          from: `4477009${String(i).padStart(5, "0")}`,
          text: `hello ${i}`,
          name: i % 10 === 0 ? `Zed Special ${i}` : `Customer ${i}`,
          timestamp: t0 + i
        }
      })
      const reply = await h.webhook(envelope(inboundChange(a.phoneNumberId, messages)))
      expect(reply.status).toBe(200)
    }
    await h.webhook(envelope(inboundChange(b.phoneNumberId, [{ from: "447700900001", text: "other business" }])))
    // Some state to filter on: every 3rd resolved, every 4th in ai mode, every 5th assigned to the user.
    const { rows } = await all("", a.key, 200)
    for (const c of rows) {
      const i = Number(c.customerPhone?.slice(-5))
      const patch: Record<string, unknown> = {}
      if (i % 3 === 0) patch.status = "resolved"
      if (i % 4 === 0) patch.mode = "ai"
      if (i % 5 === 0) patch.assignedUserId = a.userId
      if (Object.keys(patch).length > 0) {
        const reply = await h.call("PATCH", `/v1/messaging/conversations/${c.id}`, { key: a.key, body: patch })
        expect(reply.status).toBe(200)
      }
    }
  }, 180_000)
  afterAll(async () => {
    await h?.close()
  })

  const index = (c: ConversationJson) => Number(c.customerPhone?.slice(-5))
  const expected = (keep: (i: number) => boolean) => Array.from({ length: total }, (_, i) => total - 1 - i).filter(keep)

  it("pages through every conversation once, most recently active first; default page size 50", async () => {
    const { rows, pages } = await all("", a.key)
    expect(pages).toBe(6)
    expect(rows.map(index)).toEqual(expected(() => true))
    expect(new Set(rows.map((c) => c.id)).size).toBe(total)
    expect(rows.every((c) => c.businessId === a.businessId)).toBe(true)
    const first = await h.call<Page>("GET", "/v1/messaging/conversations", { key: a.key })
    expect(first.body.data).toHaveLength(50)
    const big = await h.call<Page>("GET", "/v1/messaging/conversations?limit=200", { key: a.key })
    expect(big.body.data).toHaveLength(200)
  })

  it("filters by status, mode and assignment, alone and combined", async () => {
    expect((await all("status=resolved", a.key)).rows.map(index)).toEqual(expected((i) => i % 3 === 0))
    expect((await all("status=open", a.key)).rows.map(index)).toEqual(expected((i) => i % 3 !== 0))
    expect((await all("mode=ai", a.key)).rows.map(index)).toEqual(expected((i) => i % 4 === 0))
    expect((await all("assigned=me", a.userKey)).rows.map(index)).toEqual(expected((i) => i % 5 === 0))
    expect((await all("assigned=unassigned", a.key)).rows.map(index)).toEqual(expected((i) => i % 5 !== 0))
    expect((await all("status=resolved&mode=ai&assigned=me", a.userKey, 7)).rows.map(index)).toEqual(
      expected((i) => i % 3 === 0 && i % 4 === 0 && i % 5 === 0)
    )
  })

  it("searches by customer name and by phone digits, within the business only", async () => {
    expect((await all("search=Zed%20Special", a.key, 8)).rows.map(index)).toEqual(expected((i) => i % 10 === 0))
    const byPhone = await all("search=447700900123", a.key)
    expect(byPhone.rows.map(index)).toEqual([123])
    const byPlus = await all(`search=${encodeURIComponent("+447700900123")}`, a.key)
    expect(byPlus.rows.map(index)).toEqual([123])
    expect((await all("search=447700900001", b.key)).rows).toHaveLength(1)
    expect((await all("search=other%20business", a.key)).rows).toHaveLength(0)
  })
})
