/**
 * The fuzz suite, webhook side: Meta-shaped deliveries with hostile values anywhere (NUL and lone surrogates in
 * texts and names, timestamps far in the past and future, wrong types, unknown numbers and message types, huge and
 * deep bodies), signed with the app secret the test knows, plus unsigned and wrongly signed ones. Never a 5xx, never
 * a hang, the documented error body; and afterwards every tenant still reads its inbox. Seeded and bounded like
 * the API suite (`PARLEY_FUZZ_SEED`, `PARLEY_FUZZ_RUNS`, `PARLEY_FUZZ_SECONDS`).
 */
import { Webhook } from "@parley/whatsapp-cloud"
import { FakeCloudApi } from "@parley/whatsapp-cloud/testing"
import { FastCheck as fc } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { ConversationJson } from "../../src/Representation.js"
import {
  appSecret,
  createTenant,
  type Envelope,
  engines,
  envelope,
  type Harness,
  inboundChange,
  nextPhone,
  nowSeconds,
  start,
  statusChange,
  type Tenant,
  wamid
} from "../support/Harness.js"
import { emptyTally, sendAndCheck, settings, summary } from "./Checks.js"
import { printable } from "./Requests.js"
import { hostileString, hostileValue } from "./SchemaArbitrary.js"

const list = await engines()
const { seed, runs, seconds } = settings(150, 30)

type Json = unknown

/** Every path to a value inside `value` (containers included), breadth first, at most `max`. */
const pathsOf = (value: Json, max = 500): Array<ReadonlyArray<string | number>> => {
  const out: Array<ReadonlyArray<string | number>> = []
  const queue: Array<[Json, ReadonlyArray<string | number>]> = [[value, []]]
  while (queue.length > 0 && out.length < max) {
    const [v, path] = queue.shift() as [Json, ReadonlyArray<string | number>]
    out.push(path)
    if (typeof v === "object" && v !== null) {
      for (const [k, item] of Object.entries(v)) queue.push([item, [...path, Array.isArray(v) ? Number(k) : k]])
    }
  }
  return out
}

/** `value` with the thing at `path` replaced (copied, not changed in place). */
const replaceAt = (value: Json, path: ReadonlyArray<string | number>, by: Json): Json => {
  const [head, ...rest] = path
  if (head === undefined) return by
  if (Array.isArray(value)) return value.map((item, i) => (i === head ? replaceAt(item, rest, by) : item))
  if (typeof value === "object" && value !== null) {
    const record = value as Record<string, Json>
    return { ...record, [head]: replaceAt(record[head], rest, by) }
  }
  return value
}

describe.each(list)("fuzzing the webhooks on $name", (engine) => {
  let h: Harness
  let a: Tenant
  let b: Tenant

  beforeAll(async () => {
    h = await start(engine)
    a = await createTenant(h, "Acme", "200000000000002", "token-a")
    b = await createTenant(h, "Globex", "200000000000003", "token-b")
  })
  afterAll(async () => {
    await h?.close()
  })

  it("answers every delivery under 500, in time, and every tenant still reads its inbox", async () => {
    const phones = [nextPhone(), nextPhone(), nextPhone()]
    const numbers = [a.phoneNumberId, b.phoneNumberId, "999999999999999"]
    const message = fc.record({
      phoneNumberId: fc.constantFrom(...numbers),
      from: fc.constantFrom(...phones),
      text: fc.oneof(fc.string({ maxLength: 50 }), hostileString),
      name: fc.oneof(fc.string({ maxLength: 30 }), hostileString),
      timestamp: fc.oneof(
        fc.constant(nowSeconds()),
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.constantFrom(253_402_300_800, 8_640_000_000_000, -1, 1e20)
      ),
      wamid: fc.oneof(fc.constant(undefined), fc.constantFrom("wamid.SAME", "")).map((w) => w ?? wamid())
    })
    const delivery = fc.record({
      messages: fc.array(message, { minLength: 1, maxLength: 4 }),
      statuses: fc.array(
        fc.record({
          status: fc.oneof(fc.constantFrom("sent", "delivered", "read", "failed"), hostileString),
          wamid: fc.oneof(fc.constant("wamid.SAME"), fc.string({ maxLength: 20 }))
        }),
        { maxLength: 3 }
      ),
      mutations: fc.array(fc.tuple(fc.nat(), hostileValue), { maxLength: 3 }),
      raw: fc.oneof(
        { weight: 8, arbitrary: fc.constant(undefined) },
        {
          weight: 1,
          arbitrary: fc.oneof(
            fc.constantFrom("", "{", "null", "[]", '{"entry":null}', '{"object":1,"entry":[1,"x",null]}'),
            fc.integer({ min: 100, max: 200_000 }).map((n) => `{"entry":${"[".repeat(n)}${"]".repeat(n)}}`),
            fc.string({ unit: "binary", maxLength: 200 })
          )
        }
      ),
      signature: fc.oneof(
        { weight: 10, arbitrary: fc.constant("good" as const) },
        { weight: 1, arbitrary: fc.constantFrom("none", "wrong", "garbage") }
      ),
      metaEscaped: fc.boolean()
    })
    const tally = emptyTally()
    console.log(`fuzz webhooks on ${engine.name}: seed=${seed} runs=${runs} budget=${seconds}s`)
    try {
      await fc.assert(
        fc.asyncProperty(delivery, async (d) => {
          const byNumber = numbers.map((n) => d.messages.filter((m) => m.phoneNumberId === n))
          let payload: Json = envelope(
            ...byNumber.flatMap((ms, i) =>
              ms.length === 0
                ? []
                : [
                    inboundChange(
                      numbers[i] ?? "",
                      ms.map((m) => ({ ...m }))
                    )
                  ]
            ),
            ...(d.statuses.length === 0
              ? []
              : [
                  statusChange(
                    a.phoneNumberId,
                    d.statuses.map((s) => ({ ...s, to: phones[0] ?? "" }))
                  )
                ])
          )
          for (const [pick, by] of d.mutations) {
            const paths = pathsOf(payload)
            payload = replaceAt(payload, paths[pick % paths.length] ?? [], by)
          }
          const body = d.raw ?? (d.metaEscaped ? FakeCloudApi.metaJson(payload) : JSON.stringify(payload))
          const headers: Record<string, string> = { "content-type": "application/json" }
          if (d.signature === "good") headers[Webhook.signatureHeader] = Webhook.sign(body, appSecret)
          if (d.signature === "wrong") headers[Webhook.signatureHeader] = Webhook.sign(body, "not-the-secret")
          if (d.signature === "garbage") headers[Webhook.signatureHeader] = "sha256=zz"
          const request = printable({
            operation: "POST /webhooks/whatsapp",
            method: "POST",
            path: "/webhooks/whatsapp",
            headers,
            body
          })
          const status = await sendAndCheck(h.url, request, tally)
          if (d.signature !== "good") expect(status).toBe(401)
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
      console.log(summary(`webhooks on ${engine.name}`, seed, tally))
    }
    // Whatever was delivered, each tenant still lists its conversations and opens every one of them.
    for (const t of [a, b]) {
      const listed = await h.call<Envelope<ReadonlyArray<ConversationJson>>>("GET", "/v1/messaging/conversations", {
        key: t.key
      })
      expect(listed.status).toBe(200)
      for (const c of listed.body.data) {
        expect((await h.call("GET", `/v1/messaging/conversations/${c.id}`, { key: t.key })).status).toBe(200)
      }
    }
    expect((await h.call("GET", "/health")).status).toBe(200)
  }, 300_000)
})
