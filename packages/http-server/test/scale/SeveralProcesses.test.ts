/**
 * Several Parley processes on one PostgreSQL share their rate limits. Each case runs two separate Node processes on
 * one fresh database and counts what got through:
 * - the gateway in two processes (each its own pool and `SqlRateLimitStore`), releasing their sends together: the
 *   number's rate and the pair rate hold for the two together, measured by arrival times at the fake Cloud API;
 * - two standalone services (`src/main.ts` on DATABASE_URL): one API key's requests, spread over both, add up to
 *   the limit per minute.
 *
 * Tolerance. The schedule is exact on the database clock (the store's own tests check that slots are distinct and
 * one interval apart); what the fake sees is each grant shifted by the time from the statement's answer to the
 * request's arrival (driver, timer, HTTP over loopback). Only the spread of that delay matters; on this shared
 * machine it stays under 100 ms, so a window may hold `ceil(100 ms / interval)` arrivals more than the limit.
 * Without sharing, two processes let through twice the limit (a control case checks that the measurement sees it);
 * every bound below stays well under that.
 */
import * as Path from "node:path"
import { allScopes } from "@parley/core"
import { TestDatabase } from "@parley/postgres/testing"
import { FakeCloudApi } from "@parley/whatsapp-cloud/testing"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Child, type SharedDatabase, sharedDatabase, spawnScript } from "./support/Processes.js"
import type { SenderConfig, SenderResult } from "./support/sender.js"

const target = await TestDatabase.resolvePostgres()
const jitterMillis = 100
const senderScript = Path.join("test", "scale", "support", "sender.ts")

/** The most times in any half-open window `[t, t + window)`. */
const maxInWindow = (times: ReadonlyArray<number>, window: number): number => {
  const sorted = [...times].sort((a, b) => a - b)
  let max = 0
  let start = 0
  for (let end = 0; end < sorted.length; end++) {
    while ((sorted[end] ?? 0) - (sorted[start] ?? 0) >= window) start++
    max = Math.max(max, end - start + 1)
  }
  return max
}

const phones = (prefix: string, count: number) =>
  Array.from({ length: count }, (_, i) => `+${prefix}${String(i).padStart(6, "0")}`)

if (target._tag !== "Unavailable") {
  describe("several processes on one PostgreSQL", () => {
    let fake: FakeCloudApi.FakeCloudApiServer
    let database: SharedDatabase
    const children: Array<Child> = []

    beforeAll(async () => {
      fake = await FakeCloudApi.start({ accessTokens: ["token-a"] })
      database = await sharedDatabase(target.url)
    }, 60_000)

    afterAll(async () => {
      await Promise.all(children.map((child) => child.stop()))
      await fake?.close()
      await database?.close()
    }, 60_000)

    /**
     * The accepted sends at the fake: the busiest window by when the limiter let each go (`x-sent-at`, the senders'
     * clock, the same machine's) and by when it arrived, the spread of the delivery delay between the two, and the
     * span of the whole run.
     */
    const measure = (expected: number, window: number) => {
      const sends = fake.requests.filter((r) => r.operation === "send" && r.answer === "accepted")
      expect(sends.length).toBe(expected)
      const sent = sends.map((r) => Number(r.headers["x-sent-at"]))
      const arrived = sends.map((r) => r.receivedAt)
      const delays = sends.map((r, i) => r.receivedAt - sent[i]!)
      return {
        busiestSent: maxInWindow(sent, window),
        busiestArrived: maxInWindow(arrived, window),
        spread: Math.max(...delays) - Math.min(...delays),
        span: Math.max(...sent) - Math.min(...sent)
      }
    }

    /** Starts one sender per recipient list, releases them together, and returns their results. */
    const sendFromTwoProcesses = async (
      recipients: readonly [ReadonlyArray<string>, ReadonlyArray<string>],
      limits: Pick<SenderConfig, "messagesPerSecond" | "numberMessagesPerSecond" | "pairRate" | "shared">
    ): Promise<ReadonlyArray<SenderResult>> => {
      const senders = recipients.map((list, i) => {
        const config: SenderConfig = {
          databaseUrl: database.url,
          apiUrl: fake.url,
          accessToken: "token-a",
          phoneNumberId: "200000000000002",
          process: i + 1,
          recipients: list,
          ...limits
        }
        const child = spawnScript(senderScript, { SENDER_CONFIG: JSON.stringify(config) })
        children.push(child)
        return child
      })
      await Promise.all(senders.map((s) => s.line(/^ready$/)))
      fake.reset()
      for (const s of senders) s.write("go")
      const results = await Promise.all(senders.map((s) => s.line(/^\{/)))
      await Promise.all(senders.map((s) => s.stop()))
      return results.map((line) => JSON.parse(line) as SenderResult)
    }

    it("a number's messages per second hold across two processes", async () => {
      const perSecond = 40
      const each = 200
      const results = await sendFromTwoProcesses([phones("2348010", each), phones("2348020", each)], {
        messagesPerSecond: perSecond,
        pairRate: false
      })
      expect(results.map((r) => r.failed)).toEqual([[], []])
      const interval = 1_000 / perSecond
      const seen = measure(2 * each, 1_000)
      console.info(
        `[scale] number rate ${perSecond}/s, 2 processes x ${each} sends: busiest 1-s window ${seen.busiestSent} as ` +
          `sent, ${seen.busiestArrived} as arrived (delivery spread ${seen.spread} ms); span ${seen.span} ms ` +
          `(ideal ${(2 * each - 1) * interval} ms)`
      )
      expect(seen.busiestSent).toBeLessThanOrEqual(perSecond + Math.ceil(jitterMillis / interval))
      expect(seen.busiestArrived).toBeLessThanOrEqual(perSecond + Math.ceil((jitterMillis + seen.spread) / interval))
      expect(seen.span).toBeGreaterThanOrEqual((2 * each - 1) * interval - jitterMillis)
    }, 120_000)

    it("with Meta's pair rate on (each send's two turns in one statement), a number's rate holds across two processes", async () => {
      const perSecond = 40
      const each = 200
      const results = await sendFromTwoProcesses([phones("2348090", each), phones("2348100", each)], {
        messagesPerSecond: perSecond,
        pairRate: { burst: 45, everyMillis: 6_000 }
      })
      expect(results.map((r) => r.failed)).toEqual([[], []])
      const interval = 1_000 / perSecond
      const seen = measure(2 * each, 1_000)
      console.info(
        `[scale] number rate ${perSecond}/s with the pair rate on, 2 processes x ${each} sends: busiest 1-s window ` +
          `${seen.busiestSent} as sent, ${seen.busiestArrived} as arrived; span ${seen.span} ms ` +
          `(ideal ${(2 * each - 1) * interval} ms)`
      )
      expect(seen.busiestSent).toBeLessThanOrEqual(perSecond + Math.ceil(jitterMillis / interval))
      expect(seen.busiestArrived).toBeLessThanOrEqual(perSecond + Math.ceil((jitterMillis + seen.spread) / interval))
      expect(seen.span).toBeGreaterThanOrEqual((2 * each - 1) * interval - jitterMillis)
    }, 120_000)

    it("a number above Meta's standard tier sends at its own rate, and that rate holds across two processes", async () => {
      const perSecond = 200
      const each = 200
      const results = await sendFromTwoProcesses([phones("2348060", each), phones("2348070", each)], {
        numberMessagesPerSecond: perSecond,
        pairRate: false
      })
      expect(results.map((r) => r.failed)).toEqual([[], []])
      const interval = 1_000 / perSecond
      const seen = measure(2 * each, 1_000)
      console.info(
        `[scale] number's own rate ${perSecond}/s, 2 processes x ${each} sends: busiest 1-s window ` +
          `${seen.busiestSent} as sent, ${seen.busiestArrived} as arrived; span ${seen.span} ms ` +
          `(ideal ${(2 * each - 1) * interval} ms)`
      )
      // Beyond the standard tier's 80 in a second, never beyond the number's own rate.
      expect(seen.busiestSent).toBeGreaterThan(80)
      expect(seen.busiestSent).toBeLessThanOrEqual(perSecond + Math.ceil(jitterMillis / interval))
      expect(seen.busiestArrived).toBeLessThanOrEqual(perSecond + Math.ceil((jitterMillis + seen.spread) / interval))
      expect(seen.span).toBeGreaterThanOrEqual((2 * each - 1) * interval - jitterMillis)
    }, 120_000)

    it("control: the same two processes with their limits in memory exceed the number's rate", async () => {
      const perSecond = 40
      const each = 200
      const results = await sendFromTwoProcesses([phones("2348040", each), phones("2348050", each)], {
        messagesPerSecond: perSecond,
        pairRate: false,
        shared: false
      })
      expect(results.map((r) => r.failed)).toEqual([[], []])
      const seen = measure(2 * each, 1_000)
      console.info(`[scale] control, limits in memory: busiest 1-s window ${seen.busiestSent} as sent`)
      // Each process keeps its own 40/s: together well above what the shared limit allows.
      expect(seen.busiestSent).toBeGreaterThan(perSecond + Math.ceil(jitterMillis / (1_000 / perSecond)))
    }, 120_000)

    it("the pair rate (a burst, then one per interval) holds across two processes", async () => {
      const burst = 4
      const everyMillis = 500
      const each = 12
      const customer = "+2348030000001"
      const results = await sendFromTwoProcesses(
        [Array.from({ length: each }, () => customer), Array.from({ length: each }, () => customer)],
        { messagesPerSecond: 1_000, pairRate: { burst, everyMillis } }
      )
      expect(results.map((r) => r.failed)).toEqual([[], []])
      const seen = measure(2 * each, 1_000)
      console.info(
        `[scale] pair rate ${burst} then 1/${everyMillis} ms, 2 processes x ${each} sends: busiest 1-s window ` +
          `${seen.busiestSent} as sent, ${seen.busiestArrived} as arrived (delivery spread ${seen.spread} ms); ` +
          `span ${seen.span} ms (ideal ${(2 * each - burst) * everyMillis} ms)`
      )
      // Fewer than 1000 / interval + burst in any second (see RateLimit.gcraStep), plus the jitter allowance.
      const bound = Math.ceil(1_000 / everyMillis + burst) - 1
      expect(seen.busiestSent).toBeLessThanOrEqual(bound + Math.ceil(jitterMillis / everyMillis))
      expect(seen.busiestArrived).toBeLessThanOrEqual(bound + Math.ceil((jitterMillis + seen.spread) / everyMillis))
      expect(seen.span).toBeGreaterThanOrEqual((2 * each - burst) * everyMillis - jitterMillis)
    }, 120_000)

    it("one API key's requests per minute add up to the limit across two services", async () => {
      const perMinute = 30
      const adminToken = "scale-admin-token-0123456789"
      const env = {
        DATABASE_URL: database.url,
        PARLEY_SECRET_KEY: database.secretKey,
        PARLEY_ADMIN_TOKEN: adminToken,
        PORT: "0",
        HOST: "127.0.0.1",
        WHATSAPP_API_URL: fake.url,
        PARLEY_RATE_LIMIT_PER_MINUTE: String(perMinute),
        PARLEY_LOG_LEVEL: "none"
      }
      const services = [spawnScript("src/main.ts", env), spawnScript("src/main.ts", env)]
      children.push(...services)
      const urls = await Promise.all(
        services.map(async (service) => {
          const line = await service.line(/running at http:\/\//)
          return /(http:\/\/\S+)/.exec(line)?.[1] ?? ""
        })
      )
      const admin = async (path: string, body: unknown) => {
        const response = await fetch(`${urls[0]}/v1/admin${path}`, {
          method: "POST",
          headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
          body: JSON.stringify(body)
        })
        return ((await response.json()) as { data: Record<string, string> }).data
      }
      const business = await admin("/businesses", { name: "Scale" })
      const { key } = await admin(`/businesses/${business.id}/api-keys`, { name: "shared", scopes: allScopes })

      // One request at a time, alternating between the services: each service sees half of the burst pass and
      // then refuses its share, which it can only do by counting the other service's requests too.
      const started = Date.now()
      const statuses: Array<{ readonly service: number; readonly status: number }> = []
      for (let i = 0; i < 2 * perMinute; i++) {
        const response = await fetch(`${urls[i % 2]}/v1/messaging/conversations`, {
          headers: { authorization: `Bearer ${key}` }
        })
        await response.arrayBuffer()
        statuses.push({ service: i % 2, status: response.status })
      }
      const elapsed = Date.now() - started
      const passed = statuses.filter((s) => s.status === 200).length
      const refused = statuses.filter((s) => s.status === 429)
      console.info(
        `[scale] API key limit ${perMinute}/min, ${statuses.length} requests over 2 services in ${elapsed} ms: ` +
          `${passed} passed, ${refused.length} refused (429)`
      )
      expect(passed + refused.length).toBe(statuses.length)
      // The whole burst passes, plus at most what refilled during the run; each service alone would pass 30.
      expect(passed).toBeGreaterThanOrEqual(perMinute)
      expect(passed).toBeLessThanOrEqual(perMinute + Math.floor(elapsed / (60_000 / perMinute)))
      expect(new Set(refused.map((r) => r.service)).size).toBe(2)
    }, 180_000)
  })
}
