/**
 * A seeded Parley server for HTTP load tests (docs/benchmarks.md, "HTTP"): the real server, without the per-key
 * rate limit and with WhatsApp's per-number throughput raised (the fake Cloud API runs in its own process), on
 * PGlite or PostgreSQL. Prints one JSON line with what autocannon needs, then serves until SIGTERM/SIGINT.
 *
 *   node --conditions=@parley/source --import tsx packages/http-server/bench/server.ts --port 3100 --fake http://127.0.0.1:4010 \
 *     [--database-url postgres://postgres@127.0.0.1:5432/parley_bench]
 */

import { parseArgs } from "node:util"
import { NodeRuntime } from "@effect/platform-node"
import { Secrets, Storage } from "@parley/postgres"
import { Webhook } from "@parley/whatsapp-cloud"
import { FakeCloudApi } from "@parley/whatsapp-cloud/testing"
import { Effect, Layer, Logger, LogLevel, Option, Redacted } from "effect"
import * as Server from "../src/Server.js"

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "3100" },
    fake: { type: "string", default: "http://127.0.0.1:4010" },
    "database-url": { type: "string" },
    conversations: { type: "string", default: "200" }
  }
})

const adminToken = "bench-admin-token-0123456789"
const appSecret = "bench-app-secret"
const url = `http://127.0.0.1:${values.port}`
const secretKey = Redacted.make(Secrets.generateKey())
const databaseUrl = values["database-url"]
const storage = databaseUrl
  ? Storage.layerPostgres({ url: Redacted.make(databaseUrl), maxConnections: 10, secretKey })
  : Storage.layerPglite({ secretKey })

const post = async <T>(path: string, body: unknown, headers: Record<string, string>) => {
  const response = await fetch(`${url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body)
  })
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`)
  return (await response.json()) as T
}

const seed = async () => {
  const admin = { authorization: `Bearer ${adminToken}` }
  type Created = { data: { id: string; key: string } }
  const business = await post<Created>("/v1/admin/businesses", { name: "Bench" }, admin)
  const id = business.data.id
  await post(
    `/v1/admin/businesses/${id}/whatsapp-numbers`,
    {
      phoneNumberId: "200000000000002",
      displayPhoneNumber: "15550002222",
      accessToken: "bench-token"
    },
    admin
  )
  const key = (
    await post<Created>(
      `/v1/admin/businesses/${id}/api-keys`,
      {
        scopes: ["messaging:conversations:read", "messaging:messages:read", "messaging:messages:send"]
      },
      admin
    )
  ).data.key
  const count = Number(values.conversations)
  const now = Math.floor(Date.now() / 1000)
  const change = (messages: ReadonlyArray<{ from: string; text: string; t: number }>) => ({
    field: "messages",
    value: {
      messaging_product: "whatsapp",
      metadata: { display_phone_number: "15550002222", phone_number_id: "200000000000002" },
      contacts: messages.map((m) => ({ profile: { name: `Customer ${m.from.slice(-4)}` }, wa_id: m.from })),
      messages: messages.map((m, i) => ({
        from: m.from,
        id: `wamid.BENCH${m.from}${m.t}${i}`,
        timestamp: String(m.t),
        type: "text",
        text: { body: m.text }
      }))
    }
  })
  const deliver = (messages: ReadonlyArray<{ from: string; text: string; t: number }>) => {
    const raw = FakeCloudApi.metaJson({
      object: "whatsapp_business_account",
      entry: [{ id: "1", changes: [change(messages)] }]
    })
    return post("/webhooks/whatsapp", raw, { "x-hub-signature-256": Webhook.sign(raw, appSecret) })
  }
  for (let start = 0; start < count; start += 100) {
    await deliver(
      Array.from({ length: Math.min(100, count - start) }, (_, j) => ({
        from: `4477009${String(start + j).padStart(5, "0")}`,
        text: "hello",
        t: now - 3600 + start + j
      }))
    )
  }
  // One conversation with 40 messages, for the conversation endpoint (a page of 20).
  const busy = "447700999999"
  await deliver(Array.from({ length: 40 }, (_, i) => ({ from: busy, text: `message ${i}`, t: now - 600 + i })))
  const list = await fetch(`${url}/v1/messaging/conversations?search=${busy}`, {
    headers: { authorization: `Bearer ${key}` }
  }).then((r) => r.json() as Promise<{ data: Array<{ id: string }> }>)
  return { url, key, conversationId: list.data[0]?.id }
}

const program = Effect.gen(function* () {
  yield* Layer.launch(
    Server.layer(
      {
        port: Number(values.port),
        host: "127.0.0.1",
        adminToken: Redacted.make(adminToken),
        whatsapp: {
          apiUrl: values.fake,
          apiVersion: "v24.0",
          appSecret: Option.some(Redacted.make(appSecret)),
          verifyToken: Option.none(),
          gateway: { messagesPerSecond: 1000, pairRate: false }
        },
        rateLimitPerMinute: 0
      },
      storage
    ).pipe(
      Layer.tap(() =>
        Effect.promise(seed).pipe(Effect.flatMap((seeded) => Effect.sync(() => console.log(JSON.stringify(seeded)))))
      )
    )
  )
}).pipe(Logger.withMinimumLogLevel(LogLevel.Warning))

NodeRuntime.runMain(program)
