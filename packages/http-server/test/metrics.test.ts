/**
 * `GET /metrics`: off unless configured, guarded by its own token, Prometheus text; and the measurements behind it,
 * recorded where things happen: requests by route and status with latency, sends by outcome and Meta error code,
 * provider latency, limiter waits, webhook deliveries and their processing lag, idempotency replays.
 */
import { TestDatabase } from "@parley/postgres/testing"
import { Effect, Either, Metric, MetricBoundaries, Redacted } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Config from "../src/Config.js"
import * as Metrics from "../src/Metrics.js"
import * as Prometheus from "../src/Prometheus.js"
import {
  createTenant,
  customerWrites,
  type ErrorReply,
  envelope,
  type Harness,
  start,
  type Tenant
} from "./support/Harness.js"

const pglite = { name: "PGlite", database: () => TestDatabase.pglite }
const metricsToken = "metrics-token-0123456789"

/** `name{labels} value` lines of an exposition, as (name, labels, value). */
const samples = (text: string) =>
  text
    .split("\n")
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line)
      if (match === null) throw new Error(`not a Prometheus sample line: ${line}`)
      const labels = Object.fromEntries(
        Array.from((match[3] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g), (m) => [m[1], m[2]])
      )
      return { name: match[1] ?? "", labels, value: Number(match[4]) }
    })

/** The sum of the samples of `name` whose labels include `where`. */
const total = (text: string, name: string, where: Record<string, string> = {}) =>
  samples(text)
    .filter((s) => s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0)

describe("Prometheus rendering", () => {
  it("renders counters, gauges and cumulative histograms with +Inf, escaping label values", async () => {
    const counter = Metric.counter("test_render_total", { description: "a counter", incremental: true })
    const gauge = Metric.gauge("test_render_gauge")
    const upDown = Metric.counter("test_render_up_down")
    const histogram = Metric.histogram("test_render_seconds", MetricBoundaries.fromIterable([0.1, 1]), "a histogram")
    await Effect.runPromise(
      Effect.all([
        Metric.incrementBy(Metric.tagged(counter, "path", 'a"b\\c\nd'), 2),
        Metric.set(gauge, 7),
        Metric.incrementBy(upDown, 3),
        Metric.incrementBy(upDown, -1),
        Metric.update(histogram, 0.05),
        Metric.update(histogram, 0.5),
        Metric.update(histogram, 5)
      ])
    )
    const text = Prometheus.render(await Effect.runPromise(Metric.snapshot))
    expect(text).toContain("# HELP test_render_total a counter\n# TYPE test_render_total counter\n")
    expect(text).toContain('test_render_total{path="a\\"b\\\\c\\nd"} 2\n')
    expect(text).toContain("# TYPE test_render_gauge gauge\ntest_render_gauge 7\n")
    // A counter that may go down is exposed as a gauge.
    expect(text).toContain("# TYPE test_render_up_down gauge\ntest_render_up_down 2\n")
    expect(text).toContain('test_render_seconds_bucket{le="0.1"} 1\n')
    expect(text).toContain('test_render_seconds_bucket{le="1"} 2\n')
    expect(text).toContain('test_render_seconds_bucket{le="+Inf"} 3\n')
    expect(text).toContain("test_render_seconds_count 3\n")
    expect(text).toContain("test_render_seconds_sum 5.55\n")
    // Every line is a comment or a well-formed sample.
    expect(() => samples(text)).not.toThrow()
  })

  it("labels requests with their route template, never the raw path", () => {
    expect(Metrics.routeOf("GET", "/v1/messaging/conversations/0190a4b2-7c1d-7e3f-8a5b-6c7d8e9f0a1b")).toBe(
      "/v1/messaging/conversations/{id}"
    )
    expect(Metrics.routeOf("POST", "/v1/messaging/conversations/x/messages")).toBe(
      "/v1/messaging/conversations/{id}/messages"
    )
    expect(Metrics.routeOf("GET", "/v1/admin/businesses/b/api-keys")).toBe("/v1/admin/businesses/{businessId}/api-keys")
    expect(Metrics.routeOf("GET", "/metrics")).toBe("/metrics")
    expect(Metrics.routeOf("GET", "/wp-admin/x.php")).toBe("other")
    expect(Metrics.routeOf("PUT", "/health")).toBe("other")
    expect(Metrics.routeOf("GET", "/v1/messaging/conversations//messages")).toBe("other")
  })

  it("reads PARLEY_METRICS_TOKEN and PARLEY_METRICS_PUBLIC, refusing bad values by name", () => {
    const off = Either.getOrThrow(Config.fromEnv({}))
    expect(off.metrics).toEqual({ public: false })
    const on = Either.getOrThrow(Config.fromEnv({ PARLEY_METRICS_TOKEN: metricsToken, PARLEY_METRICS_PUBLIC: "true" }))
    expect(on.metrics.public).toBe(true)
    expect(on.metrics.token === undefined ? undefined : Redacted.value(on.metrics.token)).toBe(metricsToken)
    for (const [env, variable] of [
      [{ PARLEY_METRICS_TOKEN: "short" }, "PARLEY_METRICS_TOKEN"],
      [{ PARLEY_METRICS_PUBLIC: "yes please" }, "PARLEY_METRICS_PUBLIC"],
      [{ OTEL_EXPORTER_OTLP_ENDPOINT: "collector:4318" }, "OTEL_EXPORTER_OTLP_ENDPOINT"]
    ] as const) {
      const result = Config.fromEnv(env)
      expect(Either.isLeft(result) ? result.left.variable : undefined).toBe(variable)
    }
  })
})

describe("/metrics exposure", () => {
  it("is not served unless configured; public when opted in", async () => {
    const off = await start(pglite)
    try {
      const reply = await off.call<ErrorReply>("GET", "/metrics")
      expect([reply.status, reply.body.error.code]).toEqual([404, "not_found"])
    } finally {
      await off.close()
    }
    const open = await start(pglite, { metrics: { public: true } })
    try {
      const reply = await open.call("GET", "/metrics")
      expect(reply.status).toBe(200)
      expect(reply.headers.get("content-type")).toBe(Prometheus.contentType)
    } finally {
      await open.close()
    }
  }, 60_000)
})

describe("/metrics with a token", () => {
  let h: Harness
  let t: Tenant
  const scrape = async () => {
    const reply = await h.call<string>("GET", "/metrics", { key: metricsToken })
    expect(reply.status).toBe(200)
    return reply.text
  }

  beforeAll(async () => {
    h = await start(pglite, { metrics: { token: Redacted.make(metricsToken) } })
    t = await createTenant(h, "Measured", "200000000000002", "token-a")
  }, 60_000)
  afterAll(async () => {
    await h?.close()
  })

  it("401 without the token or with another (an API key or the admin token)", async () => {
    expect((await h.call("GET", "/metrics")).status).toBe(401)
    expect((await h.call("GET", "/metrics", { key: t.key })).status).toBe(401)
    expect((await h.call("GET", "/metrics", { key: `${metricsToken}x` })).status).toBe(401)
  })

  it("counts requests by route and status, with a latency histogram", async () => {
    const before = await scrape()
    const where = { method: "GET", route: "/v1/messaging/conversations/{id}", status: "404" }
    for (let i = 0; i < 3; i++) {
      await h.call("GET", `/v1/messaging/conversations/0190a4b2-7c1d-7e3f-8a5b-6c7d8e9f0a${i}b`, { key: t.key })
    }
    const after = await scrape()
    const name = "parley_http_request_duration_seconds"
    expect(total(after, `${name}_count`, where) - total(before, `${name}_count`, where)).toBe(3)
    expect(total(after, `${name}_bucket`, { ...where, le: "+Inf" })).toBe(total(after, `${name}_count`, where))
    expect(after).toContain(`# TYPE ${name} histogram`)
    // No raw id reaches a label.
    expect(after).not.toContain("0190a4b2-7c1d-7e3f-8a5b-6c7d8e9f0a0b")
  })

  it("counts sends by outcome and Meta error code, times provider calls and limiter waits, and counts replays", async () => {
    const { conversation } = await customerWrites(h, t)
    const before = await scrape()
    const send = (key: string) =>
      h.call("POST", `/v1/messaging/conversations/${conversation.id}/messages`, {
        key: t.key,
        body: { text: "Shipped!" },
        headers: { "idempotency-key": key }
      })
    expect((await send("metrics-1")).status).toBe(201)
    expect((await send("metrics-1")).status).toBe(201)
    h.fake.fail({ fault: { kind: "graph-error", code: 131026 }, times: 1 })
    const refused = await send("metrics-2")
    expect(refused.status).toBeGreaterThanOrEqual(400)
    const after = await scrape()
    const delta = (name: string, where: Record<string, string> = {}) =>
      total(after, name, where) - total(before, name, where)

    expect(delta("parley_whatsapp_sends_total", { kind: "text", outcome: "sent" })).toBe(1)
    expect(delta("parley_whatsapp_sends_total", { kind: "text", code: "131026" })).toBe(1)
    expect(delta("parley_idempotency_replays_total", { operation: "sendText" })).toBe(1)
    expect(delta("parley_whatsapp_request_duration_seconds_count", { operation: "send" })).toBeGreaterThanOrEqual(2)
    expect(delta("parley_whatsapp_limiter_wait_seconds_count", { limiter: "number" })).toBeGreaterThanOrEqual(2)
  }, 60_000)

  it("counts webhook deliveries received, duplicate, rejected and processed, with the processing lag", async () => {
    const before = await scrape()
    await customerWrites(h, t)
    const same = envelope()
    expect((await h.webhook(same)).status).toBe(200)
    expect((await h.webhook(same)).status).toBe(200)
    expect((await h.webhook(envelope(), "sha256=00")).status).toBe(401)
    // The worker processes stored deliveries just after the 200: wait (bounded) until both are counted.
    const processed = (text: string) =>
      total(text, "parley_webhook_deliveries_total", { outcome: "processed" }) -
      total(before, "parley_webhook_deliveries_total", { outcome: "processed" })
    let after = await scrape()
    for (let i = 0; i < 100 && processed(after) < 2; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      after = await scrape()
    }
    const delta = (name: string, where: Record<string, string> = {}) =>
      total(after, name, where) - total(before, name, where)
    expect(delta("parley_webhook_deliveries_total", { outcome: "received" })).toBe(2)
    expect(delta("parley_webhook_deliveries_total", { outcome: "duplicate" })).toBe(1)
    expect(delta("parley_webhook_deliveries_total", { outcome: "rejected" })).toBe(1)
    expect(delta("parley_webhook_deliveries_total", { outcome: "processed" })).toBe(2)
    expect(delta("parley_webhook_processing_lag_seconds_count")).toBe(2)
  }, 60_000)

  it("never shows a key, token or phone number", async () => {
    const text = await scrape()
    expect(text).not.toContain(t.key)
    expect(text).not.toContain(metricsToken)
    expect(text).not.toContain("token-a")
    // No label value looks like a phone number (bucket bounds `le` and sample values are numbers of any length).
    const labelValues = samples(text).flatMap((s) =>
      Object.entries(s.labels)
        .filter(([name]) => name !== "le")
        .map(([, value]) => value)
    )
    expect(labelValues.filter((v) => /\+?\d{8,}/.test(String(v)))).toEqual([])
  })
})
