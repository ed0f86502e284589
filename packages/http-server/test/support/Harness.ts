/**
 * A real Parley server on a loopback port (port 0) over a fresh test database (PGlite, or PostgreSQL), with the
 * fake Cloud API as WhatsApp, plus small helpers to call it the way a client would (fetch, JSON).
 */
import { createHash } from "node:crypto"
import { HttpServer } from "@effect/platform"
import * as SqlClient from "@effect/sql/SqlClient"
import { allScopes, type Scope as ParleyScope } from "@parley/core"
import { storage, TestDatabase } from "@parley/postgres/testing"
import { Webhook } from "@parley/whatsapp-cloud"
import { FakeCloudApi } from "@parley/whatsapp-cloud/testing"
import type { Duration, Layer as LayerType } from "effect"
import { Context, Effect, Exit, Layer, Logger, LogLevel, Option, Redacted, Scope } from "effect"
import type * as Maintenance from "../../src/Maintenance.js"
import type { ConversationJson } from "../../src/Representation.js"
import * as Server from "../../src/Server.js"

export const adminToken = "test-admin-token-0123456789"
export const appSecret = "test-app-secret"
export const verifyToken = "test-verify-token"

export interface Engine {
  readonly name: string
  readonly database: () => LayerType.Layer<SqlClient.SqlClient, unknown>
}

/** PGlite always; PostgreSQL when available (required, never skipped, when CI or TEST_DATABASE_URL is set). */
export const engines = async (): Promise<ReadonlyArray<Engine>> => {
  const target = await TestDatabase.resolvePostgres()
  const list: Array<Engine> = [{ name: "PGlite", database: () => TestDatabase.pglite }]
  if (target._tag !== "Unavailable") {
    list.push({ name: "PostgreSQL", database: () => TestDatabase.postgres({ url: target.url }) })
  }
  return list
}

export interface Reply<T> {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  readonly body: T
}

export interface ErrorReply {
  readonly message: string
  readonly error: { readonly code: string; readonly details?: Record<string, unknown> }
}

export interface Envelope<T> {
  readonly message: string
  readonly data: T
  readonly page?: { readonly nextCursor: string | null }
}

export interface CallOptions {
  readonly key?: string | undefined
  readonly body?: unknown
  /** Sent as is (e.g. malformed JSON). */
  readonly raw?: string | Uint8Array
  readonly headers?: Readonly<Record<string, string>>
}

export interface Harness {
  readonly url: string
  readonly fake: FakeCloudApi.FakeCloudApiServer
  readonly sql: SqlClient.SqlClient
  readonly call: <T = ErrorReply>(method: string, path: string, options?: CallOptions) => Promise<Reply<T>>
  readonly admin: <T = ErrorReply>(method: string, path: string, body?: unknown) => Promise<Reply<T>>
  /**
   * POSTs a payload to the webhook endpoint, Meta-escaped and signed (or with the given signature). The server
   * answers before it processes; this waits for the worker's first pass over an accepted delivery unless
   * `wait: false`.
   */
  readonly webhook: (
    payload: unknown,
    signature?: string | null,
    options?: { readonly wait?: boolean }
  ) => Promise<Reply<ErrorReply>>
  /** Waits until the worker has made its first pass over every stored delivery (e.g. after the fake's webhooks). */
  readonly settled: () => Promise<void>
  readonly query: <A extends object>(statement: string) => Promise<ReadonlyArray<A>>
  readonly close: () => Promise<void>
}

export interface HarnessOptions {
  readonly rateLimitPerMinute?: number
  /** Failed authentications per minute per client address (default 0: off). */
  readonly authFailuresPerMinute?: number
  readonly maxBodyBytes?: number
  readonly webhooks?: boolean
  /** Replace part of the storage (e.g. a failing port). */
  readonly overrideStorage?: (layer: Server.StorageLayer<unknown>) => Server.StorageLayer<unknown>
  readonly beforeStart?: Effect.Effect<void>
  /** Webhook item retries (attempts, first delay); the harness default retries after 50 ms. */
  readonly webhookProcessing?: {
    readonly maxItemAttempts?: number
    readonly retryDelay?: Duration.DurationInput
    readonly roundSize?: number
  }
  /** Collects the server's JSON log lines here (otherwise the server logs nothing). */
  readonly logs?: Array<string>
  /** The tracer the server's spans go to (e.g. an in-memory exporter). */
  readonly tracing?: Server.ServerOptions["tracing"]
  /** `/metrics` exposure (off by default, like the service). */
  readonly metrics?: Server.ServerOptions["metrics"]
  /** How long an unconfirmed send stays pending, and how often the sweeper looks (defaults: the service's). */
  readonly unconfirmedSendTimeout?: Server.ServerOptions["unconfirmedSendTimeout"]
  readonly sweepUnconfirmedEvery?: Maintenance.MaintenanceOptions["sweepUnconfirmedEvery"]
  /** Keep copies of downloaded media here (`PARLEY_MEDIA_DIR`). */
  readonly mediaDir?: string
  /** Outbound webhooks (off by default here: no delivery worker unless a test asks for one). */
  readonly outboundWebhooks?: Server.ServerOptions["outboundWebhooks"]
  /** `PARLEY_PUBLIC_URL`: what Twilio's webhooks are signed over (default `https://parley.test`). */
  readonly publicUrl?: string
  /** Twilio's APIs (e.g. the fake Twilio API's URL for both); unset: Twilio's own, never reached by tests. */
  readonly twilio?: Server.ServerOptions["twilio"]
  /** The live event stream's heartbeat interval (the service's default otherwise). */
  readonly events?: Server.ServerOptions["events"]
}

const quiet = <A, E>(effect: Effect.Effect<A, E>) => effect.pipe(Logger.withMinimumLogLevel(LogLevel.None))

const collecting =
  (lines: Array<string>) =>
  <A, E>(effect: Effect.Effect<A, E>) =>
    effect.pipe(
      Effect.provide(
        Logger.replace(
          Logger.defaultLogger,
          Logger.map(Logger.jsonLogger, (line) => lines.push(line))
        )
      ),
      Logger.withMinimumLogLevel(LogLevel.Info)
    )

export const start = async (engine: Engine, options: HarnessOptions = {}): Promise<Harness> => {
  const fake = await FakeCloudApi.start({
    accessTokens: ["token-a", "token-b"],
    phoneNumberId: "200000000000002",
    wabaId: "100000000000001"
  })
  const scope = Effect.runSync(Scope.make())
  const storageContext = await Effect.runPromise(quiet(Layer.buildWithScope(storage(engine.database()), scope)))
  const storageLayer = Layer.succeedContext(storageContext)
  const logging = options.logs === undefined ? quiet : collecting(options.logs)
  const serverContext = await Effect.runPromise(
    logging(
      Layer.buildWithScope(
        Server.layer(
          {
            port: 0,
            host: "127.0.0.1",
            adminToken: Redacted.make(adminToken),
            whatsapp: {
              apiUrl: fake.url,
              apiVersion: "v24.0",
              appSecret: options.webhooks === false ? Option.none() : Option.some(Redacted.make(appSecret)),
              verifyToken: options.webhooks === false ? Option.none() : Option.some(Redacted.make(verifyToken)),
              gateway: {
                requestTimeout: "2 seconds",
                retry: { maxAttempts: 2, budget: "300 millis", baseDelay: "5 millis", maxDelay: "20 millis" },
                pairRate: false
              }
            },
            rateLimitPerMinute: options.rateLimitPerMinute ?? 0,
            authFailuresPerMinute: options.authFailuresPerMinute ?? 0,
            maxBodyBytes: options.maxBodyBytes,
            webhookRetryEvery: "1 second",
            webhookProcessing: { retryDelay: "50 millis", ...options.webhookProcessing },
            beforeStart: options.beforeStart,
            unconfirmedSendTimeout: options.unconfirmedSendTimeout,
            mediaDir: options.mediaDir,
            maintenance: { sweepUnconfirmedEvery: options.sweepUnconfirmedEvery },
            metrics: options.metrics,
            tracing: options.tracing,
            outboundWebhooks: options.outboundWebhooks ?? { worker: false },
            // Twilio's webhooks are on (like Meta's) unless `webhooks: false`: a public URL to check signatures over.
            publicUrl: options.webhooks === false ? undefined : (options.publicUrl ?? "https://parley.test"),
            twilio: options.twilio,
            events: options.events
          },
          options.overrideStorage ? options.overrideStorage(storageLayer) : storageLayer
        ),
        scope
      )
    )
  )
  const address = Context.get(serverContext, HttpServer.HttpServer).address
  const url = address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}` : ""
  const sql = Context.get(storageContext, SqlClient.SqlClient)

  const call = async <T>(method: string, path: string, o: CallOptions = {}): Promise<Reply<T>> => {
    const headers: Record<string, string> = { ...o.headers }
    if (o.key !== undefined) headers.authorization = `Bearer ${o.key}`
    let body: string | Uint8Array | undefined
    if (o.raw !== undefined) body = o.raw
    else if (o.body !== undefined) body = JSON.stringify(o.body)
    if (body !== undefined && headers["content-type"] === undefined) headers["content-type"] = "application/json"
    const response = await fetch(`${url}${path}`, { method, headers, ...(body === undefined ? {} : { body }) })
    const text = await response.text()
    let parsed: unknown = text
    try {
      parsed = text === "" ? null : JSON.parse(text)
    } catch {
      parsed = text
    }
    return { status: response.status, headers: response.headers, text, body: parsed as T }
  }

  const query = <A extends object>(statement: string) =>
    Effect.runPromise(sql.unsafe<A>(statement).pipe(Effect.map((rows) => rows as ReadonlyArray<A>)))
  /** Polls until `statement` returns a row (at most a minute: the worker is woken at once, so it is quick). */
  const until = async (statement: string) => {
    const deadline = Date.now() + 60_000
    while ((await query(statement)).length === 0) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for: ${statement}`)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }

  return {
    url,
    fake,
    sql,
    call,
    admin: (method, path, body) =>
      call(method, `/v1/admin${path}`, { body, headers: { authorization: `Bearer ${adminToken}` } }),
    webhook: async (payload, signature, options = {}) => {
      const raw = FakeCloudApi.metaJson(payload)
      const headers: Record<string, string> =
        signature === null ? {} : { "x-hub-signature-256": signature ?? Webhook.sign(raw, appSecret) }
      const reply = await call<ErrorReply>("POST", "/webhooks/whatsapp", { raw, headers })
      if (reply.status === 200 && options.wait !== false) {
        const id = createHash("sha256").update(raw, "utf8").digest("hex")
        await until(`SELECT 1 FROM webhook_deliveries
          WHERE body_sha256 = decode('${id}', 'hex') AND (processed_at IS NOT NULL OR last_error IS NOT NULL)`)
      }
      return reply
    },
    settled: () =>
      until(
        "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM webhook_deliveries WHERE processed_at IS NULL AND last_error IS NULL)"
      ),
    query,
    close: async () => {
      await Effect.runPromise(quiet(Scope.close(scope, Exit.void)))
      await fake.close()
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Tenants

export interface Tenant {
  readonly businessId: string
  readonly numberId: string
  readonly phoneNumberId: string
  readonly userId: string
  /** Every scope, no user. */
  readonly key: string
  /** Every scope, acting for `userId`. */
  readonly userKey: string
  readonly keyFor: (scopes: ReadonlyArray<ParleyScope>) => Promise<string>
}

export const createTenant = async (h: Harness, name: string, phoneNumberId: string, token: string): Promise<Tenant> => {
  const business = await h.admin<Envelope<{ id: string }>>("POST", "/businesses", { name })
  const businessId = business.body.data.id
  const number = await h.admin<Envelope<{ id: string }>>("POST", `/businesses/${businessId}/whatsapp-numbers`, {
    phoneNumberId,
    displayPhoneNumber: "15550002222",
    wabaId: "100000000000001",
    accessToken: token
  })
  const user = await h.admin<Envelope<{ id: string }>>("POST", `/businesses/${businessId}/users`, { name: "Grace" })
  const keyFor = async (scopes: ReadonlyArray<ParleyScope>, userId?: string) => {
    const created = await h.admin<Envelope<{ key: string }>>("POST", `/businesses/${businessId}/api-keys`, {
      name: "test",
      scopes,
      ...(userId === undefined ? {} : { userId })
    })
    return created.body.data.key
  }
  await h.admin("POST", `/businesses/${businessId}/templates`, {
    key: "order_shipped",
    name: "order_shipped",
    language: "en",
    category: "UTILITY",
    status: "APPROVED",
    parameterFormat: "NAMED",
    components: [{ type: "BODY", text: "Order {{order_id}} arrives {{eta}}" }]
  })
  await h.admin("POST", `/businesses/${businessId}/templates`, {
    key: "spring_sale",
    name: "spring_sale",
    language: "en",
    category: "MARKETING",
    status: "PAUSED",
    parameterFormat: "POSITIONAL",
    components: [{ type: "BODY", text: "Spring sale!" }]
  })
  return {
    businessId,
    numberId: number.body.data.id,
    phoneNumberId,
    userId: user.body.data.id,
    key: await keyFor(allScopes),
    userKey: await keyFor(allScopes, user.body.data.id),
    keyFor: (scopes) => keyFor(scopes)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Webhook payloads

export interface InboundText {
  readonly from: string
  readonly text: string
  readonly name?: string
  readonly wamid?: string
  /** Unix seconds. */
  readonly timestamp?: number
}

let counter = 0
export const wamid = () => `wamid.TEST${Date.now().toString(36)}${(counter++).toString(36).padStart(6, "0")}`

export const nowSeconds = () => Math.floor(Date.now() / 1000)

/** One change with several messages (Meta batches), for one number. */
export const inboundChange = (phoneNumberId: string, messages: ReadonlyArray<InboundText>) => ({
  field: "messages",
  value: {
    messaging_product: "whatsapp",
    metadata: { display_phone_number: "15550002222", phone_number_id: phoneNumberId },
    contacts: messages.map((m) => ({ profile: { name: m.name ?? "Customer" }, wa_id: m.from })),
    messages: messages.map((m) => ({
      from: m.from,
      id: m.wamid ?? wamid(),
      timestamp: String(m.timestamp ?? nowSeconds()),
      type: "text",
      text: { body: m.text }
    }))
  }
})

let phoneSeq = 0
/** A customer phone (wa_id digits) that no earlier call returned. */
export const nextPhone = () => `23480${String(1_000_000 + phoneSeq++).padStart(8, "0")}`

/**
 * A new customer (a phone no other call used) writes to tenant `t` through a signed webhook; returns the
 * conversation as the API lists it.
 */
export const customerWrites = async (
  h: Harness,
  t: Tenant,
  options: { readonly minutesAgo?: number; readonly name?: string } = {}
): Promise<{ readonly conversation: ConversationJson; readonly phone: string }> => {
  const from = nextPhone()
  const reply = await h.webhook(
    envelope(
      inboundChange(t.phoneNumberId, [
        {
          from,
          text: "Is my order shipped?",
          name: options.name ?? "Ada Lovelace",
          timestamp: nowSeconds() - (options.minutesAgo ?? 0) * 60
        }
      ])
    )
  )
  if (reply.status !== 200) throw new Error(`the webhook was answered ${reply.status}`)
  const found = await h.call<Envelope<ReadonlyArray<ConversationJson>>>(
    "GET",
    `/v1/messaging/conversations?search=${from}`,
    { key: t.key }
  )
  const conversation = found.body.data[0]
  if (conversation === undefined) throw new Error("the conversation did not appear")
  return { conversation, phone: `+${from}` }
}

export const statusChange = (
  phoneNumberId: string,
  statuses: ReadonlyArray<{
    readonly wamid: string
    readonly status: string
    readonly to: string
    readonly timestamp?: number
  }>
) => ({
  field: "messages",
  value: {
    messaging_product: "whatsapp",
    metadata: { display_phone_number: "15550002222", phone_number_id: phoneNumberId },
    statuses: statuses.map((s) => ({
      id: s.wamid,
      status: s.status,
      timestamp: String(s.timestamp ?? nowSeconds()),
      recipient_id: s.to,
      ...(s.status === "failed" ? { errors: [{ code: 131026, title: "Message undeliverable" }] } : {})
    }))
  }
})

export const envelope = (...changes: ReadonlyArray<unknown>) => ({
  object: "whatsapp_business_account",
  entry: [{ id: "100000000000001", changes }]
})
