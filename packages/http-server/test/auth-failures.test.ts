/**
 * Failed authentication is limited per client address: after `perMinute` wrong admin tokens or API keys, the
 * address gets 429 with `Retry-After` (even with a right credential) until its allowance refills; other addresses
 * are not affected. Through a real server on loopback, with distinct source addresses (127.0.0.x), and as a property
 * of the limiter under the test clock.
 */
import * as Http from "node:http"
import { TestDatabase } from "@parley/postgres/testing"
import { Effect, FastCheck, TestClock, TestContext } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as AuthFailureLimit from "../src/AuthFailureLimit.js"
import { adminToken, createTenant, type ErrorReply, type Harness, start, type Tenant } from "./support/Harness.js"

const perMinute = 5

interface Answer {
  readonly status: number
  readonly retryAfter: string | undefined
  readonly body: ErrorReply
}

/** A request from the given loopback source address (Linux answers on all of 127.0.0.0/8). */
const requestFrom = (
  from: string,
  method: string,
  url: string,
  authorization: string,
  body?: unknown
): Promise<Answer> =>
  new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const headers: Record<string, string> = { authorization }
    if (payload !== undefined) headers["content-type"] = "application/json"
    const request = Http.request(url, { method, localAddress: from, headers }, (response) => {
      let text = ""
      response.setEncoding("utf8")
      response.on("data", (chunk: string) => {
        text += chunk
      })
      response.on("end", () => {
        const retryAfter = response.headers["retry-after"]
        resolve({
          status: response.statusCode ?? 0,
          retryAfter: typeof retryAfter === "string" ? retryAfter : undefined,
          body: (text === "" ? {} : JSON.parse(text)) as ErrorReply
        })
      })
    })
    request.on("error", reject)
    request.end(payload)
  })

describe("failed authentication per client address", () => {
  let h: Harness
  let a: Tenant
  beforeAll(async () => {
    h = await start({ name: "PGlite", database: () => TestDatabase.pglite }, { authFailuresPerMinute: perMinute })
    a = await createTenant(h, "Guarded", "200000000000002", "token-a")
  }, 60_000)
  afterAll(async () => {
    await h?.close()
  })

  const admin = (from: string, token: string) =>
    requestFrom(from, "POST", `${h.url}/v1/admin/businesses`, `Bearer ${token}`, { name: "Probe" })
  const list = (from: string, key: string) =>
    requestFrom(from, "GET", `${h.url}/v1/messaging/conversations`, `Bearer ${key}`)

  const expectBlocked = (answer: Answer) => {
    expect([answer.status, answer.body.error?.code]).toEqual([429, "rate_limited"])
    expect(answer.body.error.details).toMatchObject({ reason: "failed_authentication" })
    const seconds = Number(answer.retryAfter)
    expect(Number.isInteger(seconds) && seconds >= 1 && seconds <= Math.ceil(60 / perMinute)).toBe(true)
  }

  it("wrong admin tokens: 401 up to the allowance, then 429 + Retry-After, even for the right token", async () => {
    const from = "127.0.0.2"
    const answers: Array<number> = []
    for (let i = 0; i < perMinute; i++) answers.push((await admin(from, `wrong-admin-token-${i}-0123456789`)).status)
    expect(answers).toEqual(Array.from({ length: perMinute }, () => 401))
    expectBlocked(await admin(from, "wrong-admin-token-last-0123456789"))
    expectBlocked(await admin(from, adminToken))
    // Another address is not affected, and its right token works.
    expect((await admin("127.0.0.3", adminToken)).status).toBe(201)
    expect((await admin("127.0.0.3", "wrong-admin-token-other-0123456789")).status).toBe(401)
  }, 60_000)

  it("wrong API keys: the same, and a right key does not get through a blocked address", async () => {
    const from = "127.0.0.4"
    const answers: Array<number> = []
    for (let i = 0; i < perMinute; i++) answers.push((await list(from, `parley_wrong${i}`)).status)
    expect(answers).toEqual(Array.from({ length: perMinute }, () => 401))
    expectBlocked(await list(from, "parley_wrong_again"))
    expectBlocked(await list(from, a.key))
    // The address is blocked for the admin API too: one allowance per address, whatever was guessed.
    expectBlocked(await admin(from, adminToken))
    expect((await list("127.0.0.5", a.key)).status).toBe(200)
  }, 60_000)

  it("successful requests do not use the allowance", async () => {
    const from = "127.0.0.6"
    for (let i = 0; i < perMinute * 3; i++) expect((await list(from, a.key)).status).toBe(200)
    expect((await list(from, "parley_wrong")).status).toBe(401)
  }, 60_000)
})

describe("AuthFailureLimit", () => {
  it("an address is blocked exactly once it has failed perMinute times, and free again after Retry-After", async () => {
    await FastCheck.assert(
      FastCheck.asyncProperty(
        FastCheck.integer({ min: 1, max: 200 }),
        FastCheck.integer({ min: 0, max: 400 }),
        async (limit, failures) => {
          const program = Effect.gen(function* () {
            const limiter = AuthFailureLimit.make({ perMinute: limit })
            for (let i = 0; i < failures; i++) yield* limiter.failed("198.51.100.7")
            const wait = yield* limiter.blocked("198.51.100.7")
            expect(wait !== undefined).toBe(failures >= limit)
            expect(yield* limiter.blocked("198.51.100.8")).toBeUndefined()
            if (wait !== undefined) {
              expect(wait).toBeGreaterThanOrEqual(1)
              // One failure's worth refills in 60 / limit seconds: Retry-After never promises more than that.
              expect(wait).toBeLessThanOrEqual(Math.ceil(60 / limit))
              yield* TestClock.adjust(`${wait} seconds`)
              expect(yield* limiter.blocked("198.51.100.7")).toBeUndefined()
            }
          })
          await Effect.runPromise(program.pipe(Effect.provide(TestContext.TestContext)))
        }
      ),
      { numRuns: 200 }
    )
  })

  it("0 turns the limit off", async () => {
    const limiter = AuthFailureLimit.make({ perMinute: 0 })
    await Effect.runPromise(
      Effect.gen(function* () {
        for (let i = 0; i < 1000; i++) yield* limiter.failed("198.51.100.7")
        expect(yield* limiter.blocked("198.51.100.7")).toBeUndefined()
      })
    )
  })
})
