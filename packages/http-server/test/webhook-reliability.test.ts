/**
 * Webhook deliveries under stress, through a real server on PGlite and PostgreSQL: a 2,000-message batch is
 * acknowledged before it is processed; an item the database refuses (a NUL byte) holds back no other item, not even
 * another business's, and is set aside after a bounded number of attempts, listed and replayed through the admin
 * API; changes for an unknown number are applied once the number is registered; future timestamps are clamped.
 */
import { execFile } from "node:child_process"
import * as Path from "node:path"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { WebhookDeadLetterJson } from "../src/Api.js"
import type { ConversationJson, MessageJson } from "../src/Representation.js"
import {
  adminToken,
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
  wamid
} from "./support/Harness.js"

type DeadLetter = typeof WebhookDeadLetterJson.Type
type Detail = ConversationJson & { readonly messages: ReadonlyArray<MessageJson> }

const attempts = 3
const list = await engines()
const run = promisify(execFile)
const packageDir = Path.resolve(import.meta.dirname, "..")

/** Polls `probe` until it returns a value (bounded: a minute). */
const eventually = async <A>(probe: () => Promise<A | undefined>): Promise<A> => {
  const deadline = Date.now() + 60_000
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error("timed out")
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

describe.each(list)("webhook deliveries on $name", (engine) => {
  let h: Harness
  let a: Tenant
  let b: Tenant

  const conversationsOf = async (t: Tenant, from: string) =>
    (
      await h.call<Envelope<ReadonlyArray<ConversationJson>>>("GET", `/v1/messaging/conversations?search=${from}`, {
        key: t.key
      })
    ).body.data
  const messagesOf = async (t: Tenant, from: string) => {
    const [conversation] = await conversationsOf(t, from)
    if (conversation === undefined) return []
    const detail = await h.call<Envelope<Detail>>(
      "GET",
      `/v1/messaging/conversations/${conversation.id}?messagesLimit=200`,
      { key: t.key }
    )
    return detail.body.data.messages
  }
  const deadLetters = async (query = "") =>
    (await h.admin<Envelope<ReadonlyArray<DeadLetter>>>("GET", `/webhook-dead-letters${query}`)).body
  const deadLetterFor = (wamidOfItem: string, state: DeadLetter["state"]) =>
    eventually(async () =>
      (await deadLetters(`?state=${state}&limit=200`)).data.find((d) => d.itemKey === `message:${wamidOfItem}`)
    )

  beforeAll(async () => {
    h = await start(engine, { webhookProcessing: { maxItemAttempts: attempts } })
    a = await createTenant(h, "Business A", "200000000000002", "token-a")
    b = await createTenant(h, "Business B", "200000000000003", "token-b")
  })
  afterAll(async () => {
    await h?.close()
  })

  it("a 2,000-message batch is answered 200 before it is processed, then every message is visible once", async () => {
    const customers = Array.from({ length: 200 }, () => nextPhone())
    const t = nowSeconds()
    const messages = Array.from({ length: 2000 }, (_, i) => ({
      from: customers[i % customers.length] ?? "",
      text: `batch message ${i}`,
      wamid: `wamid.BATCH${engine.name}${i}`,
      timestamp: t - 60 + Math.floor(i / 100)
    }))
    const started = performance.now()
    const reply = await h.webhook(envelope(inboundChange(a.phoneNumberId, messages)), undefined, { wait: false })
    const answeredMs = performance.now() - started
    expect(reply.status).toBe(200)
    await eventually(async () => {
      const rows = await h.query<{ n: number | string }>(
        `SELECT count(*)::int AS n FROM messages WHERE provider_message_id LIKE 'wamid.BATCH${engine.name}%'`
      )
      return Number(rows[0]?.n) === 2000 ? true : undefined
    })
    const processedMs = performance.now() - started
    console.log(
      `[figures] ${engine.name}: 2,000-message delivery answered 200 in ${answeredMs.toFixed(0)} ms, ` +
        `all 2,000 messages visible after ${processedMs.toFixed(0)} ms`
    )
    // Inline processing took 25.6 s on PostgreSQL; the answer no longer waits for it.
    expect(answeredMs).toBeLessThan(5_000)
    expect(answeredMs).toBeLessThan(processedMs)
    const first = await messagesOf(a, customers[0] ?? "")
    expect(first).toHaveLength(10)
    expect(new Set(first.map((m) => m.providerMessageId)).size).toBe(10)
    // Meta's redelivery of the whole batch changes nothing.
    expect((await h.webhook(envelope(inboundChange(a.phoneNumberId, messages)))).status).toBe(200)
    expect(await messagesOf(a, customers[0] ?? "")).toHaveLength(10)
  })

  it("a NUL byte item is set aside after the bounded attempts; both businesses' good items are applied at once", async () => {
    const [pa1, pa2, pBad, pb] = [nextPhone(), nextPhone(), nextPhone(), nextPhone()]
    const bad = wamid()
    const payload = envelope(
      inboundChange(a.phoneNumberId, [
        { from: pa1, text: "good before" },
        { from: pBad, text: "bad \u0000 byte", wamid: bad },
        { from: pa2, text: "good after" }
      ]),
      inboundChange(b.phoneNumberId, [{ from: pb, text: "other business" }])
    )
    expect((await h.webhook(payload)).status).toBe(200)
    // After the first pass, the good items are all there, in both businesses.
    expect((await messagesOf(a, pa1)).map((m) => m.text)).toEqual(["good before"])
    expect((await messagesOf(a, pa2)).map((m) => m.text)).toEqual(["good after"])
    expect((await messagesOf(b, pb)).map((m) => m.text)).toEqual(["other business"])
    expect(await conversationsOf(a, pBad)).toHaveLength(0)

    const dead = await deadLetterFor(bad, "dead")
    expect(dead).toMatchObject({ kind: "message", phoneNumberId: a.phoneNumberId, attempts, state: "dead" })
    expect(dead.lastError.length).toBeGreaterThan(0)
    expect(dead.deadAt).not.toBeNull()
    // Set aside, so the delivery is done and nothing retries it any more.
    await eventually(async () => {
      const rows = await h.query<{ processed: boolean }>(
        `SELECT processed_at IS NOT NULL AS processed FROM webhook_deliveries WHERE body_sha256 = decode('${dead.deliveryId}', 'hex')`
      )
      return rows[0]?.processed === true ? true : undefined
    })
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    expect((await deadLetterFor(bad, "dead")).attempts).toBe(attempts)
    // Other items were never counted as failed.
    const all = (await deadLetters("?limit=200")).data.filter((d) => d.deliveryId === dead.deliveryId)
    expect(all.map((d) => d.itemKey)).toEqual([`message:${bad}`])

    // A replay of an item the database still refuses shows the same error, and counts the attempt.
    const replay = await h.admin<ErrorReply & { error: { details: { deadLetter: DeadLetter } } }>(
      "POST",
      `/webhook-dead-letters/${dead.id}/replay`
    )
    expect([replay.status, replay.body.error.code]).toEqual([422, "webhook_replay_failed"])
    expect(replay.body.error.details.deadLetter).toMatchObject({
      id: dead.id,
      state: "dead",
      attempts: attempts + 1,
      lastError: dead.lastError
    })
    expect(replay.text).not.toContain(pBad)
    // The same through the CLI: listed, and a replay that fails again exits 1 with the error.
    const parley = (...args: ReadonlyArray<string>) =>
      run(process.execPath, ["--import", "tsx", "src/cli.ts", ...args], {
        cwd: packageDir,
        env: { ...process.env, PARLEY_URL: h.url, PARLEY_ADMIN_TOKEN: adminToken }
      })
    const listed = JSON.parse(
      (await parley("webhooks", "dead-letters", "list", "--state", "dead")).stdout
    ) as Array<DeadLetter>
    expect(listed.find((d) => d.id === dead.id)).toMatchObject({ state: "dead", attempts: attempts + 1 })
    const failedAgain = await parley("webhooks", "dead-letters", "replay", "--id", dead.id).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error
    )
    expect(failedAgain?.code).toBe(1)
    expect(failedAgain?.stderr).toContain("webhook_replay_failed")
    const missing = await h.admin<ErrorReply>(
      "POST",
      "/webhook-dead-letters/00000000-0000-4000-8000-000000000000/replay"
    )
    expect([missing.status, missing.body.error.code]).toEqual([404, "webhook_dead_letter_not_found"])
  })

  it("once the cause is fixed, a replay applies the dead item; the list pages by cursor", async () => {
    await h.query(`
      CREATE OR REPLACE FUNCTION test_refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.text = 'poison' THEN RAISE EXCEPTION 'poison refused'; END IF;
        RETURN NEW;
      END $$`)
    await h.query(`
      CREATE TRIGGER test_refuse_poison BEFORE INSERT ON messages
      FOR EACH ROW EXECUTE FUNCTION test_refuse_poison()`)
    const [from, other] = [nextPhone(), nextPhone()]
    const poison = wamid()
    expect(
      (
        await h.webhook(
          envelope(
            inboundChange(a.phoneNumberId, [
              { from, text: "poison", wamid: poison },
              { from: other, text: "fine" }
            ])
          )
        )
      ).status
    ).toBe(200)
    expect((await messagesOf(a, other)).map((m) => m.text)).toEqual(["fine"])
    const dead = await deadLetterFor(poison, "dead")
    expect(dead.lastError).toContain("poison refused")
    await h.query("DROP TRIGGER test_refuse_poison ON messages")

    const replay = await h.admin<Envelope<DeadLetter>>("POST", `/webhook-dead-letters/${dead.id}/replay`)
    expect(replay.status).toBe(200)
    expect(replay.body.data).toMatchObject({ id: dead.id, state: "resolved" })
    expect((await messagesOf(a, from)).map((m) => m.text)).toEqual(["poison"])
    expect((await deadLetters("?state=resolved")).data.map((d) => d.id)).toContain(dead.id)

    // Pages of one, newest first, reach every item once.
    const everything = (await deadLetters("?limit=200")).data.map((d) => d.id)
    expect(everything.length).toBeGreaterThanOrEqual(1)
    const paged: Array<string> = []
    let cursor: string | null = null
    do {
      const page: Envelope<ReadonlyArray<DeadLetter>> = await deadLetters(
        `?limit=1${cursor === null ? "" : `&cursor=${cursor}`}`
      )
      paged.push(...page.data.map((d) => d.id))
      cursor = page.page?.nextCursor ?? null
    } while (cursor !== null)
    expect(paged).toEqual(everything)
    const forged = await h.admin<ErrorReply>("GET", "/webhook-dead-letters?cursor=not-a-cursor")
    expect(forged.status).toBe(400)
    const unauthorized = await h.call<ErrorReply>("GET", "/v1/admin/webhook-dead-letters")
    expect(unauthorized.status).toBe(401)
  })

  it("changes for an unknown phone_number_id are applied once a business registers the number", async () => {
    const pnid = engine.name === "PGlite" ? "300000000000031" : "300000000000032"
    const from = nextPhone()
    expect(
      (await h.webhook(envelope(inboundChange(pnid, [{ from, text: "anyone there?", name: "Early" }])))).status
    ).toBe(200)
    const kept = await h.query(`SELECT 1 FROM unrouted_webhooks WHERE provider_phone_number_id = '${pnid}'`)
    expect(kept).toHaveLength(1)
    const late = await createTenant(h, "Late business", pnid, "token-a")
    const [conversation] = await eventually(async () => {
      const found = await conversationsOf(late, from)
      return found.length > 0 ? found : undefined
    })
    expect(conversation?.customerName).toBe("Early")
    expect(conversation?.unreadCount).toBe(1)
    expect((await messagesOf(late, from)).map((m) => m.text)).toEqual(["anyone there?"])
    await eventually(async () =>
      (await h.query(`SELECT 1 FROM unrouted_webhooks WHERE provider_phone_number_id = '${pnid}'`)).length === 0
        ? true
        : undefined
    )
    // Nobody else got it.
    expect(await conversationsOf(a, from)).toHaveLength(0)
  })

  it("a timestamp a year ahead is clamped to the time received; one inside the skew is kept", async () => {
    const [future, near] = [nextPhone(), nextPhone()]
    const before = Date.now()
    const t = nowSeconds()
    expect(
      (
        await h.webhook(
          envelope(
            inboundChange(a.phoneNumberId, [
              { from: future, text: "from the future", timestamp: t + 365 * 86_400 },
              { from: near, text: "a little ahead", timestamp: t + 120 }
            ])
          )
        )
      ).status
    ).toBe(200)
    const after = Date.now()
    const [clamped] = await conversationsOf(a, future)
    const lastInbound = Date.parse(clamped?.lastInboundAt ?? "")
    expect(lastInbound).toBeGreaterThanOrEqual(before - 1_000)
    expect(lastInbound).toBeLessThanOrEqual(after)
    expect(Date.parse(clamped?.windowClosesAt ?? "")).toBe(lastInbound + 86_400_000)
    const [kept] = await conversationsOf(a, near)
    expect(kept?.lastInboundAt).toBe(new Date((t + 120) * 1000).toISOString())
    // The clamped conversation does not sit above newer activity for a year.
    const [latest] = (
      await h.call<Envelope<ReadonlyArray<ConversationJson>>>("GET", "/v1/messaging/conversations?limit=1", {
        key: a.key
      })
    ).body.data
    expect(latest?.customerPhone).toBe(`+${near}`)
  })

  it("timestamps before 2009 are clamped too: nothing is set aside or retried", async () => {
    const [epoch, early] = [nextPhone(), nextPhone()]
    // 1970 and 2001: dates PostgreSQL stores, but no WhatsApp message's.
    const payload = envelope(
      inboundChange(a.phoneNumberId, [
        { from: epoch, text: "from 1970", timestamp: 0 },
        { from: early, text: "from 2001", timestamp: 1_000_000_000 }
      ])
    )
    const before = Date.now()
    expect((await h.webhook(payload)).status).toBe(200)
    for (const from of [epoch, early]) {
      const [conversation] = await conversationsOf(a, from)
      expect(Date.parse(conversation?.lastInboundAt ?? "")).toBeGreaterThanOrEqual(before - 1_000)
    }
    const rows = await h.query<{ processed: boolean; last_error: string | null }>(
      "SELECT processed_at IS NOT NULL AS processed, last_error FROM webhook_deliveries ORDER BY received_at DESC LIMIT 1"
    )
    expect(rows).toEqual([{ processed: true, last_error: null }])
  })
})
