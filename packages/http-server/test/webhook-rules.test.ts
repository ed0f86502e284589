/**
 * The pure rules of outbound webhooks: the retry schedule (over three days, bounded jitter, Retry-After honoured),
 * the SSRF classification of addresses and URLs, and signatures that the `standardwebhooks` package computes alike.
 */
import { Duration, Effect, FastCheck as fc, Option, Redacted } from "effect"
import { Webhook } from "standardwebhooks"
import { describe, expect, it } from "vitest"
import * as SsrfGuard from "../src/SsrfGuard.js"
import * as WebhookRetry from "../src/WebhookRetry.js"
import * as WebhookSigner from "../src/WebhookSigner.js"

const threeDays = Duration.toMillis(Duration.days(3))

describe("the retry schedule", () => {
  it("spans at least three days whatever the jitter, and stops after its last step", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { minLength: 9, maxLength: 9 }),
        (randoms) => {
          const waits = randoms.map((r, i) => Option.getOrThrow(WebhookRetry.delayAfter(i + 1, r)))
          expect(waits.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(threeDays)
          expect(Option.isNone(WebhookRetry.delayAfter(10, randoms[0] ?? 0))).toBe(true)
        }
      )
    )
  })

  it("adds at most 20 % jitter to a step and never less than the step", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (n, r) => {
          const step = Duration.toMillis(WebhookRetry.schedule[n - 1] ?? Duration.zero)
          const wait = Option.getOrThrow(WebhookRetry.delayAfter(n, r))
          expect(wait).toBeGreaterThanOrEqual(step)
          expect(wait).toBeLessThanOrEqual(Math.round(step * 1.2))
        }
      )
    )
  })

  it("honours a longer Retry-After, capped at a day", () => {
    expect(WebhookRetry.delayAfter(1, 0, 3_600_000)).toEqual(Option.some(3_600_000))
    expect(WebhookRetry.delayAfter(1, 0, 10 * 86_400_000)).toEqual(Option.some(86_400_000))
    expect(WebhookRetry.parseRetryAfter("120", 0)).toBe(120_000)
    expect(WebhookRetry.parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT", Date.parse("2015-10-21T07:27:00Z"))).toBe(
      60_000
    )
    expect(WebhookRetry.parseRetryAfter("soon", 0)).toBeUndefined()
  })

  it("classifies responses: 2xx succeeds, 410 is gone, 3xx and everything else retries", () => {
    expect([200, 204, 299].map(WebhookRetry.classify)).toEqual(["succeeded", "succeeded", "succeeded"])
    expect([301, 302, 400, 404, 410, 429, 500, 503].map(WebhookRetry.classify)).toEqual([
      "retry",
      "retry",
      "retry",
      "retry",
      "gone",
      "retry",
      "retry",
      "retry"
    ])
  })
})

describe("the SSRF guard", () => {
  const refused = [
    "0.0.0.0",
    "127.0.0.1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.0.8",
    "192.0.2.1",
    "198.18.0.1",
    "198.51.100.1",
    "203.0.113.1",
    "::",
    "::1",
    "fe80::1",
    "fc00::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "64:ff9b::a00:1",
    "2002::1",
    "2001::1",
    "2001:db8::1"
  ]
  it("refuses every private, loopback, link-local, CGNAT, multicast and reserved address", () => {
    expect(refused.filter(SsrfGuard.isPublic)).toEqual([])
    expect(["8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8"].every(SsrfGuard.isPublic)).toBe(true)
  })

  const strict = { allowPrivateTargets: false, allowHttp: false }
  const check = (url: string, options = strict) =>
    Effect.runPromise(Effect.either(SsrfGuard.check(url, options))).then((e) =>
      e._tag === "Left" ? e.left.reason : `ok ${e.right.address}`
    )

  it("refuses IP literals in any notation, http without the operator's consent, and credentials", async () => {
    expect(await check("https://127.0.0.1/hook")).toContain("loopback")
    expect(await check("https://0x7f.1/hook")).toContain("loopback")
    expect(await check("https://2130706433/hook")).toContain("loopback")
    expect(await check("https://[::ffff:169.254.169.254]/hook")).toContain("linkLocal")
    expect(await check("http://8.8.8.8/hook")).toBe("https is required")
    expect(await check("https://user:pw@8.8.8.8/hook")).toContain("credentials")
    expect(await check("not a url")).toBe("not an absolute URL")
    expect(await check("https://localhost/hook")).toContain("non-public address")
  })

  it("lets the operator allow private targets and plain http", async () => {
    expect(await check("http://127.0.0.1:8080/hook", { allowPrivateTargets: true, allowHttp: true })).toBe(
      "ok 127.0.0.1"
    )
    expect(await check("https://8.8.8.8/hook")).toBe("ok 8.8.8.8")
  })
})

describe("signatures", () => {
  it("match the standardwebhooks package's for any id, time and body, and verify with either key in a rotation", () => {
    fc.assert(
      fc.property(
        fc.uuid(),
        fc.integer({ min: 1_600_000_000, max: 2_000_000_000 }),
        fc.string(),
        fc.uint8Array({ minLength: 24, maxLength: 64 }),
        (id, seconds, body, key) => {
          const secret = `whsec_${Buffer.from(key).toString("base64")}`
          const ours = WebhookSigner.sign(Redacted.make(secret), id, seconds, body)
          expect(ours).toBe(new Webhook(secret).sign(id, new Date(seconds * 1000), body))
        }
      )
    )
    const a = `whsec_${Buffer.alloc(32, 1).toString("base64")}`
    const b = `whsec_${Buffer.alloc(32, 2).toString("base64")}`
    const now = Math.floor(Date.now() / 1000)
    const headers = WebhookSigner.headers([Redacted.make(b), Redacted.make(a)], "evt_1", now, '{"x":1}')
    expect(new Webhook(a).verify('{"x":1}', headers)).toEqual({ x: 1 })
    expect(new Webhook(b).verify('{"x":1}', headers)).toEqual({ x: 1 })
    expect(() => new Webhook(b).verify('{"x":2}', headers)).toThrow()
  })
})
