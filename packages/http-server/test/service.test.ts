/**
 * The standalone service: configuration (one clear line per problem), startup (503 + Retry-After until ready, never
 * a hang), a restart keeps every piece of data (embedded PGlite in a data directory), graceful shutdown lets in-flight
 * requests finish, health and readiness, OpenAPI and docs, the per-key rate limit, 503 when storage fails, and logs
 * that never carry keys, tokens or phone numbers.
 */

import { execFile } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { promisify } from "node:util"
import { HttpServer } from "@effect/platform"
import { ConversationRepository, MessageRepository, StorageError } from "@parley/core"
import { storage, TestDatabase } from "@parley/postgres/testing"
import { FakeCloudApi } from "@parley/whatsapp-cloud/testing"
import {
  Context,
  Deferred,
  Effect,
  Either,
  Exit,
  Fiber,
  Layer,
  Logger,
  LogLevel,
  Option,
  Redacted,
  Scope
} from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Config from "../src/Config.js"
import { makeHandle } from "../src/NodeServer.js"
import type { ConversationJson } from "../src/Representation.js"
import * as Server from "../src/Server.js"
import * as Service from "../src/Service.js"
import {
  adminToken,
  appSecret,
  createTenant,
  type Envelope,
  type ErrorReply,
  envelope,
  type Harness,
  inboundChange,
  start
} from "./support/Harness.js"

const pglite = { name: "PGlite", database: () => TestDatabase.pglite }
const quiet = Logger.withMinimumLogLevel(LogLevel.None)

describe("configuration", () => {
  it("has defaults for everything: embedded database in ./.parley on port 3000", () => {
    const config = Either.getOrThrow(Config.fromEnv({}))
    expect(config).toMatchObject({
      port: 3000,
      host: "127.0.0.1",
      database: { _tag: "Embedded" },
      dataDir: "./.parley",
      whatsapp: { apiUrl: "https://graph.facebook.com", apiVersion: "v24.0" },
      unconfirmedSendTimeoutSeconds: 900,
      outboundWebhooks: { allowPrivateTargets: false, allowHttp: false }
    })
    expect(Option.isNone(config.adminToken)).toBe(true)
    expect(
      Either.getOrThrow(
        Config.fromEnv({ PARLEY_WEBHOOK_ALLOW_PRIVATE_TARGETS: "true", PARLEY_WEBHOOK_ALLOW_HTTP: "1" })
      ).outboundWebhooks
    ).toEqual({ allowPrivateTargets: true, allowHttp: true })
    expect(
      Either.getOrThrow(Config.fromEnv({ PARLEY_UNCONFIRMED_SEND_TIMEOUT: "120" })).unconfirmedSendTimeoutSeconds
    ).toBe(120)
  })

  it("names the variable in one line for each kind of bad value", () => {
    const cases: ReadonlyArray<readonly [Record<string, string>, string]> = [
      [{ PORT: "abc" }, "PORT"],
      [{ PORT: "70000" }, "PORT"],
      [{ DATABASE_URL: "mysql://x" }, "DATABASE_URL"],
      [{ DATABASE_URL: "postgres://u@h/db" }, "PARLEY_SECRET_KEY"],
      [{ PARLEY_SECRET_KEY: "short" }, "PARLEY_SECRET_KEY"],
      [{ PARLEY_ADMIN_TOKEN: "short" }, "PARLEY_ADMIN_TOKEN"],
      [{ WHATSAPP_API_URL: "ftp://x" }, "WHATSAPP_API_URL"],
      [{ WHATSAPP_API_VERSION: "24" }, "WHATSAPP_API_VERSION"],
      [{ PARLEY_RATE_LIMIT_PER_MINUTE: "-1" }, "PARLEY_RATE_LIMIT_PER_MINUTE"],
      [{ PARLEY_UNCONFIRMED_SEND_TIMEOUT: "119" }, "PARLEY_UNCONFIRMED_SEND_TIMEOUT"],
      [{ PARLEY_UNCONFIRMED_SEND_TIMEOUT: "86401" }, "PARLEY_UNCONFIRMED_SEND_TIMEOUT"],
      [{ PARLEY_UNCONFIRMED_SEND_TIMEOUT: "15m" }, "PARLEY_UNCONFIRMED_SEND_TIMEOUT"],
      [{ PARLEY_LOG_LEVEL: "loud" }, "PARLEY_LOG_LEVEL"],
      [{ PARLEY_WEBHOOK_ALLOW_PRIVATE_TARGETS: "yes" }, "PARLEY_WEBHOOK_ALLOW_PRIVATE_TARGETS"],
      [{ PARLEY_PUBLIC_URL: "parley.example.com" }, "PARLEY_PUBLIC_URL"],
      [{ PARLEY_PUBLIC_URL: "https://parley.example.com/?x=1" }, "PARLEY_PUBLIC_URL"],
      [{ TWILIO_API_URL: "ftp://x" }, "TWILIO_API_URL"],
      [{ TWILIO_CONTENT_URL: "content" }, "TWILIO_CONTENT_URL"],
      [
        {
          DATABASE_URL: "postgres://u@h/db",
          PARLEY_SECRET_KEY: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
          DATABASE_PREPARED_STATEMENTS: "maybe"
        },
        "DATABASE_PREPARED_STATEMENTS"
      ]
    ]
    for (const [env, variable] of cases) {
      const result = Config.fromEnv(env)
      expect(Either.isLeft(result)).toBe(true)
      if (Either.isLeft(result)) {
        expect(result.left.variable).toBe(variable)
        expect(result.left.message.startsWith(variable)).toBe(true)
        expect(result.left.message).not.toContain("\n")
      }
    }
    const postgres = Config.fromEnv({
      DATABASE_URL: "postgres://u@h/db",
      PARLEY_SECRET_KEY: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
    })
    expect(Either.isRight(postgres)).toBe(true)
    // Prepared statements are on unless turned off (for a pooler that does not keep them).
    expect(Either.getOrThrow(postgres).database).toMatchObject({ _tag: "Postgres", poolSize: 10, prepare: true })
    const unprepared = Config.fromEnv({
      DATABASE_URL: "postgres://u@h/db",
      PARLEY_SECRET_KEY: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
      DATABASE_PREPARED_STATEMENTS: "false"
    })
    expect(Either.getOrThrow(unprepared).database).toMatchObject({ prepare: false })
  })

  it("PARLEY_PUBLIC_URL keeps a proxy's path prefix, without a trailing slash; Twilio's APIs default to Twilio's", () => {
    const config = Either.getOrThrow(Config.fromEnv({ PARLEY_PUBLIC_URL: "https://example.com/parley/" }))
    expect(Option.getOrNull(config.publicUrl)).toBe("https://example.com/parley")
    expect(config.twilio).toEqual({
      apiUrl: "https://api.twilio.com",
      contentUrl: "https://content.twilio.com",
      messagingUrl: "https://messaging.twilio.com"
    })
    expect(Option.isNone(Either.getOrThrow(Config.fromEnv({})).publicUrl)).toBe(true)
  })

  it("the service refuses to start on bad configuration, with one line naming the variable", async () => {
    const failure = await promisify(execFile)(
      process.execPath,
      ["--conditions=@parley/source", "--import", "tsx", "src/main.ts"],
      {
        cwd: Path.resolve(import.meta.dirname, ".."),
        env: { ...process.env, PORT: "not-a-port" }
      }
    ).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error
    )
    expect(failure?.code).toBe(1)
    expect(failure?.stderr.trim().split("\n")).toEqual([
      'parley: invalid configuration: PORT must be an integer from 0 to 65535, got "not-a-port"'
    ])
  })
})

describe("the standalone service", () => {
  let fake: FakeCloudApi.FakeCloudApiServer
  let dataDir: string
  beforeAll(async () => {
    fake = await FakeCloudApi.start({ accessTokens: ["token-a"] })
    dataDir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "parley-service-"))
  })
  afterAll(async () => {
    await fake?.close()
    Fs.rmSync(dataDir, { recursive: true, force: true })
  })

  const config = (): Config.ServiceConfig => ({
    ...Either.getOrThrow(Config.fromEnv({ PARLEY_DATA_DIR: dataDir, PORT: "0" })),
    whatsapp: {
      apiUrl: fake.url,
      apiVersion: "v24.0",
      appSecret: Option.some(Redacted.make(appSecret)),
      verifyToken: Option.none()
    }
  })

  it("keeps every piece of data across a restart (embedded PGlite in PARLEY_DATA_DIR)", async () => {
    const first = Effect.runSync(Scope.make())
    const started = await Effect.runPromise(quiet(Scope.extend(Service.start(config()), first)))
    expect(started.adminTokenSource).toBe(Path.join(dataDir, "admin-token"))
    const token = Redacted.value(started.adminToken)
    const h = {
      admin: async <T>(path: string, body: unknown) =>
        (await fetch(`${started.url}/v1/admin${path}`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify(body)
        }).then((r) => r.json())) as T
    }
    const business = await h.admin<Envelope<{ id: string }>>("/businesses", { name: "Durable" })
    const number = await h.admin<Envelope<{ id: string }>>(`/businesses/${business.data.id}/whatsapp-numbers`, {
      phoneNumberId: "200000000000002",
      displayPhoneNumber: "15550002222",
      accessToken: "token-a"
    })
    const key = await h.admin<Envelope<{ key: string }>>(`/businesses/${business.data.id}/api-keys`, {
      scopes: ["messaging:conversations:read", "messaging:messages:read", "messaging:messages:send"]
    })
    const signedPost = async (url: string) => {
      const raw = FakeCloudApi.metaJson(
        envelope(inboundChange("200000000000002", [{ from: "2348012345678", text: "still here?" }]))
      )
      const { Webhook } = await import("@parley/whatsapp-cloud")
      return fetch(`${url}/webhooks/whatsapp`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-hub-signature-256": Webhook.sign(raw, appSecret) },
        body: raw
      })
    }
    expect((await signedPost(started.url)).status).toBe(200)
    const list = async (url: string) =>
      (await fetch(`${url}/v1/messaging/conversations`, { headers: { authorization: `Bearer ${key.data.key}` } }).then(
        (r) => r.json()
      )) as Envelope<ReadonlyArray<ConversationJson>>
    // The 200 comes before processing: wait (bounded) for the worker to apply the delivery.
    let before = await list(started.url)
    for (let i = 0; i < 500 && before.data.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20))
      before = await list(started.url)
    }
    expect(before.data).toHaveLength(1)
    await Effect.runPromise(quiet(Scope.close(first, Exit.void)))

    const second = Effect.runSync(Scope.make())
    const again = await Effect.runPromise(quiet(Scope.extend(Service.start(config()), second)))
    try {
      expect(Redacted.value(again.adminToken)).toBe(token)
      const after = await list(again.url)
      expect(after.data).toEqual(before.data)
      const sent = await fetch(`${again.url}/v1/messaging/conversations/${after.data[0]?.id}/messages`, {
        method: "POST",
        headers: { authorization: `Bearer ${key.data.key}`, "content-type": "application/json" },
        body: JSON.stringify({ text: "yes, still here" })
      })
      expect(sent.status).toBe(201)
      expect(fake.sends.at(-1)?.phoneNumberId).toBe("200000000000002")
      expect(number.data.id).toMatch(/^[0-9a-f-]{36}$/)
    } finally {
      await Effect.runPromise(quiet(Scope.close(second, Exit.void)))
    }
  }, 60_000)
})

describe("startup and shutdown", () => {
  it("answers 503 with Retry-After while starting, then serves", async () => {
    const fake = await FakeCloudApi.start()
    const gate = Effect.runSync(Deferred.make<void>())
    const handle = makeHandle()
    const scope = Effect.runSync(Scope.make())
    const building = Effect.runFork(
      quiet(
        Layer.buildWithScope(
          Server.layer(
            {
              port: 0,
              host: "127.0.0.1",
              adminToken: Redacted.make(adminToken),
              whatsapp: { apiUrl: fake.url, apiVersion: "v24.0", appSecret: Option.none(), verifyToken: Option.none() },
              rateLimitPerMinute: 0,
              beforeStart: Deferred.await(gate),
              handle
            },
            storage(TestDatabase.pglite)
          ),
          scope
        )
      )
    )
    try {
      // Wait until the socket listens (not a timing assertion: nothing is asserted about how long it takes).
      while (handle.server()?.listening !== true) await new Promise((resolve) => setTimeout(resolve, 10))
      const address = handle.server()?.address()
      const url = `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`
      const early = await fetch(`${url}/v1/messaging/conversations`)
      expect(early.status).toBe(503)
      expect(early.headers.get("retry-after")).toBe("1")
      expect(((await early.json()) as ErrorReply).error.code).toBe("starting")
      Effect.runSync(Deferred.succeed(gate, undefined))
      const context = await Effect.runPromise(Fiber.join(building))
      expect(Context.get(context, HttpServer.HttpServer).address).toMatchObject({ _tag: "TcpAddress" })
      expect((await fetch(`${url}/health`)).status).toBe(200)
      expect((await fetch(`${url}/ready`)).status).toBe(200)
    } finally {
      await Effect.runPromise(quiet(Scope.close(scope, Exit.void)))
      await fake.close()
    }
  }, 60_000)

  it("lets an in-flight request finish when the server shuts down", async () => {
    const h = await start(pglite)
    let closed = false
    try {
      const a = await createTenant(h, "Shutdown", "200000000000002", "token-a")
      await h.webhook(envelope(inboundChange(a.phoneNumberId, [{ from: "2348011112222", text: "hi" }])))
      const found = await h.call<Envelope<ReadonlyArray<ConversationJson>>>("GET", "/v1/messaging/conversations", {
        key: a.key
      })
      h.fake.fail({ fault: { kind: "latency", millis: 500 }, times: 1 })
      const sending = h.call("POST", `/v1/messaging/conversations/${found.body.data[0]?.id}/messages`, {
        key: a.key,
        body: { text: "finishing" }
      })
      while (!h.fake.requests.some((r) => r.operation === "send")) await new Promise((r) => setTimeout(r, 5))
      const closing = h.close()
      closed = true
      const reply = await sending
      await closing
      expect(reply.status).toBe(201)
    } finally {
      if (!closed) await h.close()
    }
  }, 60_000)
})

describe("operations", () => {
  let h: Harness
  const logs: Array<string> = []
  beforeAll(async () => {
    h = await start(pglite, { rateLimitPerMinute: 5, webhooks: false, logs })
  })
  afterAll(async () => {
    await h?.close()
  })

  it("serves /health, /ready, /openapi.json (3.1, every endpoint) and /docs", async () => {
    expect((await h.call("GET", "/health")).body).toEqual({ status: "ok" })
    expect((await h.call("GET", "/ready")).body).toEqual({ status: "ready" })
    const spec = await h.call<{
      openapi: string
      paths: Record<string, Record<string, unknown>>
      components: { securitySchemes: Record<string, unknown> }
    }>("GET", "/openapi.json")
    expect(spec.body.openapi).toBe("3.1.0")
    expect(Object.keys(spec.body.paths).sort()).toEqual([
      "/health",
      "/ready",
      "/v1/admin/businesses",
      "/v1/admin/businesses/{businessId}/api-keys",
      "/v1/admin/businesses/{businessId}/api-keys/{apiKeyId}",
      "/v1/admin/businesses/{businessId}/templates",
      "/v1/admin/businesses/{businessId}/templates/sync",
      "/v1/admin/businesses/{businessId}/users",
      "/v1/admin/businesses/{businessId}/webhook-endpoints",
      "/v1/admin/businesses/{businessId}/webhook-endpoints/{endpointId}",
      "/v1/admin/businesses/{businessId}/webhook-endpoints/{endpointId}/deliveries",
      "/v1/admin/businesses/{businessId}/webhook-endpoints/{endpointId}/deliveries/{deliveryId}/attempts",
      "/v1/admin/businesses/{businessId}/webhook-endpoints/{endpointId}/replay",
      "/v1/admin/businesses/{businessId}/webhook-endpoints/{endpointId}/rotate-secret",
      "/v1/admin/businesses/{businessId}/whatsapp-numbers",
      "/v1/admin/businesses/{businessId}/whatsapp-numbers/{whatsappNumberId}",
      "/v1/admin/businesses/{businessId}/whatsapp-numbers/{whatsappNumberId}/access-token",
      "/v1/admin/secret-key/reseal",
      "/v1/admin/webhook-dead-letters",
      "/v1/admin/webhook-dead-letters/{id}/replay",
      "/v1/messaging/conversations",
      "/v1/messaging/conversations/{id}",
      "/v1/messaging/conversations/{id}/messages",
      "/v1/messaging/conversations/{id}/read",
      "/v1/messaging/events",
      "/v1/messaging/events/stream",
      "/v1/messaging/media",
      "/v1/messaging/messages/template",
      "/v1/messaging/messages/{id}/media",
      "/v1/messaging/webhook-endpoints",
      "/v1/messaging/webhook-endpoints/{endpointId}",
      "/v1/messaging/webhook-endpoints/{endpointId}/deliveries",
      "/v1/messaging/webhook-endpoints/{endpointId}/deliveries/{deliveryId}/attempts",
      "/v1/messaging/webhook-endpoints/{endpointId}/replay",
      "/v1/messaging/webhook-endpoints/{endpointId}/rotate-secret",
      "/webhooks/twilio",
      "/webhooks/whatsapp"
    ])
    expect(Object.keys(spec.body.components.securitySchemes).sort()).toEqual(["adminToken", "apiKey", "bearer"])
    expect(spec.text.includes("HttpApiDecodeError")).toBe(false)
    expect(spec.text.includes('"500"')).toBe(false)
    const docs = await h.call("GET", "/docs")
    expect(docs.status).toBe(200)
    expect(docs.headers.get("content-type")).toContain("text/html")
  })

  it("429 with Retry-After once a key exceeds its request rate; other keys are unaffected", async () => {
    const a = await createTenant(h, "Busy", "200000000000002", "token-a")
    const statuses: Array<number> = []
    for (let i = 0; i < 6; i++)
      statuses.push((await h.call("GET", "/v1/messaging/conversations", { key: a.key })).status)
    expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200])
    const limited = await h.call<ErrorReply>("GET", "/v1/messaging/conversations", { key: a.key })
    expect([limited.status, limited.body.error.code]).toEqual([429, "rate_limited"])
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1)
    expect((await h.call("GET", "/v1/messaging/conversations", { key: a.userKey })).status).toBe(200)
  })

  it("503 webhook_not_configured without WHATSAPP_APP_SECRET / WHATSAPP_VERIFY_TOKEN; 404 for unknown routes", async () => {
    const post = await h.webhook(envelope())
    expect([post.status, post.body.error.code]).toEqual([503, "webhook_not_configured"])
    const get = await h.call<ErrorReply>(
      "GET",
      "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1"
    )
    expect([get.status, get.body.error.code]).toEqual([503, "webhook_not_configured"])
    const unknown = await h.call<ErrorReply>("GET", "/v2/nothing")
    expect([unknown.status, unknown.body.error.code]).toEqual([404, "not_found"])
  })

  it("logs one JSON line per request with a request id, and never a key, token or phone number", async () => {
    const a = await createTenant(h, "Logged", "200000000000009", "token-a")
    const reply = await h.call("GET", "/v1/messaging/conversations?search=2348012345678", {
      key: a.userKey,
      headers: { "x-request-id": "req-12345" }
    })
    expect(reply.headers.get("x-request-id")).toBe("req-12345")
    const line = logs
      .map((l) => JSON.parse(l) as { message: string; annotations: Record<string, unknown> })
      .find((l) => l.annotations.requestId === "req-12345")
    expect(line?.message).toBe("GET /v1/messaging/conversations 200")
    expect(line?.annotations).toMatchObject({ status: 200, businessId: a.businessId })
    const all = logs.join("\n")
    for (const secret of [a.key, a.userKey, adminToken, "token-a", "2348012345678"]) expect(all).not.toContain(secret)
  })
})

describe("storage failures", () => {
  let h: Harness
  beforeAll(async () => {
    const failing = Layer.succeed(
      ConversationRepository,
      new Proxy({} as ConversationRepository["Type"], {
        get: () => () => Effect.fail(new StorageError({ operation: "test", reason: "database down" }))
      })
    )
    h = await start(pglite, { overrideStorage: (layer) => Layer.merge(layer, failing) })
  })
  afterAll(async () => {
    await h?.close()
  })

  it("503 database_unavailable with Retry-After when storage fails, without leaking the reason", async () => {
    const a = await createTenant(h, "Unlucky", "200000000000002", "token-a")
    const reply = await h.call<ErrorReply>("GET", "/v1/messaging/conversations", { key: a.key })
    expect([reply.status, reply.body.error.code]).toEqual([503, "database_unavailable"])
    expect(reply.headers.get("retry-after")).not.toBeNull()
    expect(reply.text).not.toContain("database down")
  })
})

describe("webhook deliveries whose processing fails", () => {
  let h: Harness
  let failures = 2
  beforeAll(async () => {
    // Storing the first inbound message fails twice (as a batch, then alone) after the delivery itself was stored;
    // then storage recovers.
    const flaky = Layer.effect(
      MessageRepository,
      Effect.map(MessageRepository, (real) => ({
        ...real,
        recordInboundBatch: (records: Parameters<typeof real.recordInboundBatch>[0]) =>
          failures-- > 0
            ? Effect.fail(new StorageError({ operation: "recordInboundBatch", reason: "flaky" }))
            : real.recordInboundBatch(records)
      }))
    )
    h = await start(pglite, { overrideStorage: (layer) => Layer.provideMerge(flaky, layer) })
  })
  afterAll(async () => {
    await h?.close()
  })

  it("are acknowledged (already durable) and applied later by the worker", async () => {
    const a = await createTenant(h, "Flaky", "200000000000002", "token-a")
    const reply = await h.webhook(envelope(inboundChange(a.phoneNumberId, [{ from: "2348033334444", text: "hello?" }])))
    expect(reply.status).toBe(200)
    const pending = await h.query<{ last_error: string | null }>("SELECT last_error FROM webhook_deliveries")
    expect(pending.map((d) => d.last_error)).toEqual([expect.stringContaining("flaky")])
    const list = async () =>
      (await h.call<Envelope<ReadonlyArray<ConversationJson>>>("GET", "/v1/messaging/conversations", { key: a.key }))
        .body.data
    // The new customer's conversation is stored with its first message, so nothing half-made shows meanwhile.
    expect(await list()).toEqual([])
    const unread = async () => (await list())[0]?.unreadCount ?? 0
    // The worker retries it once its back-off has passed (polling, not a timing assertion).
    while ((await unread()) === 0) await new Promise((resolve) => setTimeout(resolve, 250))
    expect(await unread()).toBe(1)
    const processed = await h.query<{ done: boolean }>(
      "SELECT processed_at IS NOT NULL AS done FROM webhook_deliveries"
    )
    expect(processed.map((d) => d.done)).toEqual([true])
  }, 30_000)
})
