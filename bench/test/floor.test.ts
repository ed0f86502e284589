/**
 * The floor does Parley's work, no less: on a small generated database, every read scenario of `pnpm bench` answers
 * the same status and the same JSON body from both (cursors included: the floor signs them as Parley does), both
 * page the same way to the end, and both refuse a bad key and an unknown conversation alike. If Parley's output
 * changes shape, this fails until the floor follows, so the ratio keeps comparing like with like.
 */
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import { TestDatabase } from "@parley/postgres/testing"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Dataset from "../src/Dataset.js"
import type { Request } from "../src/Load.js"
import type { Running } from "../src/Processes.js"
import { readScenarios } from "../src/Scenarios.js"
import * as Stack from "../src/Stack.js"

const target = await TestDatabase.resolvePostgres()
const size = 240

if (target._tag !== "Unavailable") {
  describe("the floor answers the bench's scenarios exactly as Parley does", () => {
    const databaseUrl = (() => {
      const url = new URL(target.url)
      url.pathname = `/parley_bench_test_${randomBytes(6).toString("hex")}`
      return url.toString()
    })()
    const dataDir = mkdtempSync(Path.join(tmpdir(), "parley-bench-test-"))
    const running: Array<Running> = []
    let fixtures: Dataset.Fixtures
    let fake: Running
    let parley: Running
    let floor: Running
    let key: string

    beforeAll(async () => {
      await Dataset.prepare(databaseUrl, size, { fresh: true })
      fixtures = await Dataset.fixtures(databaseUrl, size)
      // Some windows open, so `windowClosesAt` is compared with a value as well as with null.
      await Dataset.openWindows(databaseUrl, fixtures.businessId, fixtures.conversationIds.slice(0, 40))
      fake = await Stack.startFake()
      running.push(fake)
      parley = await Stack.startParley({ databaseUrl, fakeUrl: fake.url, dataDir, source: true })
      running.push(parley)
      floor = await Stack.startFloor(databaseUrl, fake.url)
      running.push(floor)
      key = await Stack.createKey(parley.url, fixtures, "floor test")
    })

    afterAll(async () => {
      for (const process of running.reverse()) await process.stop()
      rmSync(dataDir, { recursive: true, force: true })
      await Dataset.drop(databaseUrl)
    })

    const fetchJson = async (base: string, path: string, headers: Record<string, string> = {}) => {
      const response = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${key}`, ...headers } })
      return { status: response.status, body: (await response.json()) as Record<string, unknown> }
    }
    const both = (request: Request | string, headers?: Record<string, string>) => {
      const path = typeof request === "string" ? request : request.path
      return Promise.all([fetchJson(parley.url, path, headers), fetchJson(floor.url, path, headers)])
    }

    it("every read scenario: the same status and body", async () => {
      const scenarios = readScenarios(fixtures, Dataset.benchSecretKey)
      expect(scenarios.length).toBe(9)
      for (const scenario of scenarios) {
        // Several requests of each (`get` walks several conversations).
        for (let i = 0; i < 5; i++) {
          const [fromParley, fromFloor] = await both(scenario.request(i))
          expect(fromParley.status, `${scenario.name} on Parley`).toBe(200)
          expect(fromFloor, scenario.name).toEqual(fromParley)
        }
      }
    })

    it("the scenarios return rows, so the comparison is not of empty pages", async () => {
      for (const scenario of readScenarios(fixtures, Dataset.benchSecretKey)) {
        const [fromParley] = await both(scenario.request(0))
        const data = fromParley.body.data
        const rows = Array.isArray(data) ? data : (data as { messages: Array<unknown> }).messages
        expect(rows.length, scenario.name).toBeGreaterThan(0)
      }
    })

    it("both page through the whole list alike, each following its own cursors", async () => {
      const walk = async (base: string) => {
        const pages: Array<unknown> = []
        let cursor: string | null = null
        do {
          const query: string = cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`
          const page = await fetchJson(base, `/v1/messaging/conversations?limit=50${query}`)
          expect(page.status).toBe(200)
          pages.push(page.body)
          cursor = (page.body.page as { nextCursor: string | null }).nextCursor
        } while (cursor !== null)
        return pages
      }
      const [onParley, onFloor] = await Promise.all([walk(parley.url), walk(floor.url)])
      expect(onParley.length).toBe(Math.ceil(size / 50))
      expect(onFloor).toEqual(onParley)
    })

    it("both page through a conversation's messages alike", async () => {
      const id = fixtures.conversationIds[0]
      const walk = async (base: string) => {
        const pages: Array<unknown> = []
        let before: string | null = null
        do {
          const query: string = before === null ? "" : `&before=${encodeURIComponent(before)}`
          const page = await fetchJson(base, `/v1/messaging/conversations/${id}?messagesLimit=1${query}`)
          expect(page.status).toBe(200)
          pages.push(page.body)
          before = (page.body.page as { nextCursor: string | null }).nextCursor
        } while (before !== null)
        return pages
      }
      const [onParley, onFloor] = await Promise.all([walk(parley.url), walk(floor.url)])
      expect(onParley.length).toBeGreaterThan(0)
      expect(onFloor).toEqual(onParley)
    })

    it("both refuse a wrong key (401) and an unknown conversation (404)", async () => {
      const wrongKey = `${key.slice(0, -4)}AAAA` === key ? `${key.slice(0, -4)}BBBB` : `${key.slice(0, -4)}AAAA`
      const refused = await both("/v1/messaging/conversations", { authorization: `Bearer ${wrongKey}` })
      expect(refused.map((r) => r.status)).toEqual([401, 401])
      const unknown = await both("/v1/messaging/conversations/00000000-0000-7000-8000-000000000000")
      expect(unknown.map((r) => r.status)).toEqual([404, 404])
    })

    /** `POST …/messages` with a text and a key, on one server. */
    const send = async (base: string, conversationId: string | undefined, idempotencyKey: string, text: string) => {
      const response = await fetch(`${base}/v1/messaging/conversations/${conversationId}/messages`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${key}`,
          "content-type": "application/json",
          "idempotency-key": idempotencyKey
        },
        body: JSON.stringify({ text })
      })
      return {
        status: response.status,
        body: (await response.json()) as { message: string; data: Record<string, unknown> }
      }
    }
    const acceptedSends = async () =>
      (
        (await (await fetch(`${fake.url}/_fake/requests`)).json()) as {
          sends: Array<{ bizOpaqueCallbackData: string | null }>
        }
      ).sends

    it("a send: the same answer from both (but for its ids and times), one provider request each, the same rows", async () => {
      const conversationId = fixtures.conversationIds[1]
      const text = "Your order shipped"
      const fromParley = await send(parley.url, conversationId, "floor-test-parley", text)
      const fromFloor = await send(floor.url, conversationId, "floor-test-floor", text)
      for (const answer of [fromParley, fromFloor]) {
        expect(answer.status).toBe(201)
        expect(answer.body.data.deliveryStatus).toBe("sent")
        expect(answer.body.data.providerMessageId).toMatch(/^wamid\./)
      }
      const unique = ({ id, createdAt, providerMessageId, ...rest }: Record<string, unknown>) => rest
      expect({ ...fromFloor.body, data: unique(fromFloor.body.data) }).toEqual({
        ...fromParley.body,
        data: unique(fromParley.body.data)
      })
      const ids = [fromParley.body.data.id, fromFloor.body.data.id]
      expect((await acceptedSends()).filter((s) => ids.includes(s.bizOpaqueCallbackData)).length).toBe(2)
      // The same writes: the message sent, its two events, the key completed with it.
      const rows = await Dataset.withClient(databaseUrl, async (client) =>
        Promise.all(
          ids.map(async (id) => ({
            message: (
              await client.query(
                "SELECT delivery_status, provider_message_id IS NOT NULL AS marked FROM messages WHERE id = $1",
                [id]
              )
            ).rows,
            events: (
              await client.query(
                "SELECT type FROM events WHERE data->'$rows'->'message'->>'id' = $1 ORDER BY sequence",
                [String(id)]
              )
            ).rows.map((row) => row.type),
            key: (
              await client.query(
                "SELECT outcome IS NOT NULL AS completed, message_id = $1 AS linked FROM idempotency_keys WHERE message_id = $1",
                [id]
              )
            ).rows
          }))
        )
      )
      expect(rows[0]).toEqual({
        message: [{ delivery_status: "sent", marked: true }],
        events: ["message.sent", "message.status_updated"],
        key: [{ completed: true, linked: true }]
      })
      expect(rows[1]).toEqual(rows[0])
    })

    it("the floor's send: its key used again is refused without a provider request; a closed window is refused", async () => {
      const again = await send(floor.url, fixtures.conversationIds[1], "floor-test-floor", "Your order shipped")
      expect(again.status).toBe(409)
      expect((await acceptedSends()).length).toBe(2)
      // Past the 40 whose windows the test opened: the window is closed, on both, and nothing is sent.
      const closed = fixtures.conversationIds[fixtures.conversationIds.length - 1]
      const refused = await Promise.all([
        send(parley.url, closed, "floor-test-closed-parley", "late"),
        send(floor.url, closed, "floor-test-closed-floor", "late")
      ])
      expect(refused.map((r) => r.status)).toEqual([422, 422])
      expect((await acceptedSends()).length).toBe(2)
    })
  })
}
