/**
 * One send's trace, recorded by an in-memory OpenTelemetry exporter: the HTTP server span of the request, the
 * core's use case, the storage and SQL spans, the gateway, and the HTTP client call to the (fake) Cloud API, all in
 * one trace, each span a descendant of the HTTP server span.
 */

import * as Http from "node:http"
import { NodeSdk } from "@effect/opentelemetry"
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { TestDatabase } from "@parley/postgres/testing"
import { Effect, Either, Option } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Config from "../src/Config.js"
import * as Tracing from "../src/Tracing.js"
import { createTenant, customerWrites, type Harness, start, type Tenant } from "./support/Harness.js"

const exporter = new InMemorySpanExporter()

/** The chain of ancestors of `span` (itself first), by parent span id within the recorded spans. */
const ancestry = (spans: ReadonlyArray<ReadableSpan>, span: ReadableSpan): ReadonlyArray<ReadableSpan> => {
  const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]))
  const chain: Array<ReadableSpan> = [span]
  let current: ReadableSpan | undefined = span
  while (current?.parentSpanContext !== undefined) {
    current = byId.get(current.parentSpanContext.spanId)
    if (current !== undefined) chain.push(current)
  }
  return chain
}

describe("traces", () => {
  let h: Harness
  let t: Tenant

  beforeAll(async () => {
    h = await start(
      { name: "PGlite", database: () => TestDatabase.pglite },
      {
        tracing: NodeSdk.layer(() => ({
          resource: { serviceName: "parley-test" },
          spanProcessor: new SimpleSpanProcessor(exporter)
        }))
      }
    )
    t = await createTenant(h, "Traced", "200000000000002", "token-a")
  }, 60_000)
  afterAll(async () => {
    await h?.close()
  })

  it("follows one send from the HTTP server span to the provider call", async () => {
    const { conversation } = await customerWrites(h, t)
    exporter.reset()
    const sent = await h.call("POST", `/v1/messaging/conversations/${conversation.id}/messages`, {
      key: t.key,
      body: { text: "Traced!" }
    })
    expect(sent.status).toBe(201)
    const spans = exporter.getFinishedSpans()
    const server = spans.find(
      (s) => s.name.startsWith("http.server POST") && String(s.attributes["url.path"] ?? "").endsWith("/messages")
    )
    expect(server, spans.map((s) => s.name).join(", ")).toBeDefined()
    if (server === undefined) return
    const traceId = server.spanContext().traceId
    const inTrace = spans.filter((s) => s.spanContext().traceId === traceId)

    // The call to the Cloud API, with its W3C context, under the gateway, under the use case, under the request.
    const provider = inTrace.find(
      (s) => s.name.startsWith("http.client POST") && String(s.attributes["url.full"] ?? "").startsWith(h.fake.url)
    )
    expect(provider, inTrace.map((s) => s.name).join(", ")).toBeDefined()
    if (provider === undefined) return
    const names = ancestry(inTrace, provider).map((s) => s.name)
    expect(names[0]).toBe(provider.name)
    expect(names).toContain("CloudApiGateway.sendText")
    expect(names).toContain("Inbox.sendText")
    expect(names[names.length - 1]).toBe(server.name)
    expect(h.fake.requests.at(-1)?.headers.traceparent ?? "").toContain(traceId)

    // Storage and SQL spans of the same request.
    const sql = inTrace.filter((s) => s.name === "sql.execute")
    expect(sql.length).toBeGreaterThan(0)
    for (const statement of sql) expect(ancestry(inTrace, statement).at(-1)?.name).toBe(server.name)
    const storageOps = inTrace.map((s) => s.name).filter((n) => /^(MessageRepository|ConversationRepository)\./.test(n))
    expect(storageOps).toEqual(
      expect.arrayContaining(["MessageRepository.recordOutbound", "MessageRepository.markSent"])
    )
    // The key never appears in a span.
    expect(JSON.stringify(inTrace.map((s) => s.attributes))).not.toContain(t.key)
  }, 60_000)

  it("keeps query values (a phone number searched for, Meta's verify token) out of every span", async () => {
    exporter.reset()
    await h.call("GET", "/v1/messaging/conversations?search=2348012345678&limit=5", { key: t.key })
    await h.call("GET", "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=test-verify-token&hub.challenge=7")
    const spans = exporter.getFinishedSpans()
    const server = spans.filter((s) => s.name.startsWith("http.server GET"))
    expect(server.length).toBe(2)
    expect(server.map((s) => s.attributes["url.query"])).toContain("search=REDACTED&limit=REDACTED")
    const everything = JSON.stringify(spans.map((s) => s.attributes))
    expect(everything).not.toContain("2348012345678")
    expect(everything).not.toContain("test-verify-token")
    expect(everything).not.toContain(t.key)
  }, 60_000)
})

describe("OTLP export", () => {
  it("sends spans to a collector's /v1/traces as OTLP JSON, flushing when the service stops", async () => {
    const received: Array<{ path: string; body: string }> = []
    const collector = Http.createServer((request, response) => {
      const chunks: Array<Buffer> = []
      request.on("data", (chunk: Buffer) => chunks.push(chunk))
      request.on("end", () => {
        received.push({ path: request.url ?? "", body: Buffer.concat(chunks).toString("utf8") })
        response.writeHead(200, { "content-type": "application/json" }).end("{}")
      })
    })
    await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve))
    const address = collector.address()
    const endpoint = typeof address === "object" && address !== null ? `http://127.0.0.1:${address.port}` : ""
    try {
      await Effect.runPromise(
        Effect.void.pipe(
          Effect.withSpan("probe.operation", { attributes: { "probe.attribute": "yes" } }),
          Effect.provide(Tracing.layerOtlp({ endpoint }))
        )
      )
      expect(received.map((r) => r.path)).toContain("/v1/traces")
      const body = received.map((r) => r.body).join("\n")
      expect(body).toContain("probe.operation")
      expect(body).toContain('"service.name"')
    } finally {
      await new Promise((resolve) => collector.close(resolve))
    }
  }, 60_000)
})

describe("tracing configuration", () => {
  it("exports over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set, and is off otherwise", () => {
    const off = Either.getOrThrow(Config.fromEnv({}))
    expect(Option.isNone(off.otlpEndpoint)).toBe(true)
    expect(Tracing.fromEndpoint(off.otlpEndpoint)).toBe(Tracing.layerOff)
    const on = Either.getOrThrow(Config.fromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318" }))
    expect(Option.getOrNull(on.otlpEndpoint)).toBe("http://127.0.0.1:4318")
    expect(Tracing.fromEndpoint(on.otlpEndpoint)).not.toBe(Tracing.layerOff)
  })
})
