/**
 * Tenancy: in random multi-business worlds, no API key reads, lists, searches, writes, sends from or assigns
 * anything of another business. Another business's conversation, number or user answers exactly like an id that
 * exists nowhere (same status, same body once the echoed id is masked), and nothing of the other business changes
 * or reaches WhatsApp. Through HTTP on a real server, on PGlite and PostgreSQL; seeded (`TENANCY_SEED`), bounded.
 */
import { randomUUID } from "node:crypto"
import { FastCheck } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { ConversationJson } from "../../src/Representation.js"
import { type Envelope, engines, type Harness, type Reply, start } from "../support/Harness.js"
import { type Business, build, type Key, worldSpec } from "./World.js"

const list = await engines()
const seed = Number(process.env.TENANCY_SEED ?? 20261127)
const numRuns = Number(process.env.TENANCY_RUNS ?? 4)

type Page = Envelope<ReadonlyArray<ConversationJson>>

/** The answer with the probed id masked: an answer may echo the id it was given, and nothing else may differ. */
const shape = (reply: Reply<unknown>, id: string) => ({
  status: reply.status,
  body: reply.text.split(id).join("<id>")
})

describe.each(list)("tenancy on $name", (engine) => {
  let h: Harness
  let requests = 0

  beforeAll(async () => {
    h = await start(engine)
  }, 60_000)
  afterAll(async () => {
    console.info(`[tenancy] ${engine.name}: seed ${seed}, ${numRuns} worlds, ${requests} cross-business probes`)
    await h?.close()
  })

  /** Every probe of `key` (business `own`) at the ids of `other`, each beside the same probe at a missing id. */
  const probe = async (own: Business, key: Key, other: Business) => {
    const foreignConversation = other.conversations[0]!
    const ownConversation = own.conversations[0]!
    const missing = randomUUID()
    const pairs: Array<readonly [string, (id: string) => Promise<Reply<unknown>>, string]> = [
      [
        "read a conversation",
        (id) => h.call("GET", `/v1/messaging/conversations/${id}`, { key: key.key }),
        foreignConversation.id
      ],
      [
        "update a conversation",
        (id) => h.call("PATCH", `/v1/messaging/conversations/${id}`, { key: key.key, body: { status: "resolved" } }),
        foreignConversation.id
      ],
      [
        "assign a conversation",
        (id) =>
          h.call("PATCH", `/v1/messaging/conversations/${id}`, {
            key: key.key,
            body: { assignedUserId: own.userIds[0] ?? null }
          }),
        foreignConversation.id
      ],
      [
        "mark a conversation read",
        (id) => h.call("POST", `/v1/messaging/conversations/${id}/read`, { key: key.key }),
        foreignConversation.id
      ],
      [
        "send a text",
        (id) => h.call("POST", `/v1/messaging/conversations/${id}/messages`, { key: key.key, body: { text: "leak?" } }),
        foreignConversation.id
      ],
      [
        "send a template from a number",
        (id) =>
          h.call("POST", "/v1/messaging/messages/template", {
            key: key.key,
            body: {
              business_whatsapp_number_id: id,
              phone: "+447900000001",
              template_key: "order_shipped",
              variables: { order_id: "1", eta: "today" }
            }
          }),
        other.numberIds[0]!
      ]
    ]
    if (other.userIds[0] !== undefined) {
      pairs.push([
        "assign to a user",
        (id) =>
          h.call("PATCH", `/v1/messaging/conversations/${ownConversation.id}`, {
            key: key.key,
            body: { assignedUserId: id }
          }),
        other.userIds[0]
      ])
    }
    for (const [what, call, foreignId] of pairs) {
      const foreign = shape(await call(foreignId), foreignId)
      const absent = shape(await call(missing), missing)
      requests += 2
      expect(foreign, `${what}: another business's id answers like a missing one`).toEqual(absent)
      expect([403, 404, 422], `${what}: ${foreign.body}`).toContain(foreign.status)
    }

    if (key.scopes.has("messaging:conversations:read")) {
      const ownIds = new Set(own.conversations.map((c) => c.id))
      const listed = await h.call<Page>("GET", "/v1/messaging/conversations?limit=200", { key: key.key })
      requests++
      expect(new Set(listed.body.data.map((c) => c.id))).toEqual(ownIds)
      for (const c of other.conversations) {
        for (const term of [c.customerPhone?.slice(1) ?? "", c.customerName ?? ""].filter((t) => t.length > 0)) {
          const found = await h.call<Page>("GET", `/v1/messaging/conversations?search=${encodeURIComponent(term)}`, {
            key: key.key
          })
          requests++
          expect(found.status).toBe(200)
          for (const row of found.body.data) {
            expect(ownIds.has(row.id), `search "${term}" found another business's conversation`).toBe(true)
            expect(row.businessId).toBe(own.id)
          }
        }
      }
    }
  }

  it("no key reads, lists, searches, writes, sends or assigns across businesses", async () => {
    await FastCheck.assert(
      FastCheck.asyncProperty(worldSpec, async (spec) => {
        const world = await build(h, spec)
        const sendsBefore = h.fake.sends.length
        for (const own of world) {
          for (const key of own.keys) {
            for (const other of world) if (other !== own) await probe(own, key, other)
          }
        }
        // Nothing reached WhatsApp, and every business still sees exactly its own, unchanged conversations.
        expect(h.fake.sends.length).toBe(sendsBefore)
        for (const business of world) {
          const now = await h.call<Page>("GET", "/v1/messaging/conversations?limit=200", { key: business.ownerKey })
          const byId = new Map(now.body.data.map((c) => [c.id, c]))
          expect(byId.size).toBe(business.conversations.length)
          for (const before of business.conversations) {
            const after = byId.get(before.id)
            expect(after?.status).toBe(before.status)
            expect(after?.assignedUserId).toBe(before.assignedUserId)
            expect(after?.unreadCount).toBe(before.unreadCount)
            expect(after?.lastOutboundAt).toBe(before.lastOutboundAt)
          }
        }
      }),
      { seed, numRuns, endOnFailure: true }
    )
  }, 240_000)
})
