/**
 * The fuzz suite, API side: from the served `/openapi.json`, fast-check sends valid, mutated and hostile requests
 * to every endpoint of a real server on loopback (PGlite, and PostgreSQL when available): never a 5xx, never a hang,
 * always the documented error body. Seeded and bounded; `PARLEY_FUZZ_SEED`, `PARLEY_FUZZ_RUNS` and
 * `PARLEY_FUZZ_SECONDS` replay a failure or run long (see docs/reliability.md).
 */
import { FastCheck as fc } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { ConversationJson } from "../../src/Representation.js"
import {
  adminToken,
  createTenant,
  customerWrites,
  type Envelope,
  engines,
  type Harness,
  start,
  type Tenant
} from "../support/Harness.js"
import { emptyTally, sendAndCheck, settings, summary } from "./Checks.js"
import { anyRequest } from "./Requests.js"
import type { Spec } from "./SchemaArbitrary.js"

const list = await engines()
const { seed, runs, seconds } = settings(250, 45)

describe.each(list)("fuzzing the API on $name", (engine) => {
  let h: Harness
  let a: Tenant
  let b: Tenant
  let spec: Spec
  const cursors: Array<string> = []

  beforeAll(async () => {
    h = await start(engine)
    a = await createTenant(h, "Acme", "200000000000002", "token-a")
    b = await createTenant(h, "Globex", "200000000000003", "token-b")
    for (let i = 0; i < 3; i++) {
      await customerWrites(h, a)
      await customerWrites(h, b)
    }
    const page = await h.call<Envelope<ReadonlyArray<ConversationJson>>>("GET", "/v1/messaging/conversations?limit=1", {
      key: a.key
    })
    const conversation = page.body.data[0]
    if (page.body.page?.nextCursor) cursors.push(page.body.page.nextCursor)
    if (conversation !== undefined) {
      for (let i = 0; i < 3; i++) {
        await h.call("POST", `/v1/messaging/conversations/${conversation.id}/messages`, {
          key: a.key,
          body: { text: `hello ${i}` }
        })
      }
      const detail = await h.call<Envelope<unknown>>(
        "GET",
        `/v1/messaging/conversations/${conversation.id}?messagesLimit=1`,
        {
          key: a.key
        }
      )
      if (detail.body.page?.nextCursor) cursors.push(detail.body.page.nextCursor)
    }
    spec = (await h.call<Spec>("GET", "/openapi.json")).body
  })
  afterAll(async () => {
    await h?.close()
  })

  it("answers every request under 500, in time, with the documented error body", async () => {
    const conversations = async (t: Tenant) =>
      (
        await h.call<Envelope<ReadonlyArray<ConversationJson>>>("GET", "/v1/messaging/conversations", { key: t.key })
      ).body.data.map((c) => c.id)
    const known = {
      id: [...(await conversations(a)), ...(await conversations(b))],
      businessId: [a.businessId, b.businessId],
      business_whatsapp_number_id: [a.numberId, b.numberId],
      whatsappNumberId: [a.numberId, b.numberId],
      userId: [a.userId, b.userId],
      assignedUserId: [a.userId, b.userId],
      template_key: ["order_shipped", "spring_sale", "missing"],
      accessToken: ["token-a"],
      "hub.verify_token": ["test-verify-token"]
    }
    const credentials = { apiKeys: [a.key, a.userKey, b.key, "pk_live_forged"], adminToken }
    const tally = emptyTally()
    console.log(`fuzz API on ${engine.name}: seed=${seed} runs=${runs} budget=${seconds}s`)
    try {
      await fc.assert(
        fc.asyncProperty(anyRequest(spec, known, credentials, cursors), async (request) => {
          await sendAndCheck(h.url, request, tally)
        }),
        {
          seed,
          numRuns: runs,
          interruptAfterTimeLimit: seconds * 1000,
          markInterruptAsFailure: false,
          endOnFailure: true
        }
      )
    } finally {
      console.log(summary(`API on ${engine.name}`, seed, tally))
    }
    // The service is still whole afterwards: health answers, and a tenant still lists its conversations.
    expect((await h.call("GET", "/health")).status).toBe(200)
    expect((await h.call("GET", "/v1/messaging/conversations", { key: a.key })).status).toBe(200)
    expect(tally.requests).toBeGreaterThan(0)
  }, 300_000)
})
