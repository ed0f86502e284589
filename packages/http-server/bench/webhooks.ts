/**
 * Write paths through the real server on PostgreSQL (docs/benchmarks.md, "Write paths"): signed inbound
 * deliveries of 50 messages each; text sends through the API from a number at Meta's high tier (1,000/s), 16 at a
 * time; then signed status deliveries of 50 updates each (delivered, read) for the messages sent.
 * Each phase posts its deliveries `--concurrency` at a time and reports events per second accepted (every 200
 * received) and processed (every change visible in the database), the CPU time of this process (server and fake)
 * per event, and its RSS after the phase. On a loaded machine the CPU time per event is the steadier figure.
 *
 *   psql -h 127.0.0.1 -U postgres -c 'CREATE DATABASE parley_bench_webhooks'
 *   node --conditions=@parley/source --import tsx packages/http-server/bench/webhooks.ts \
 *     --database-url postgres://postgres@127.0.0.1:5432/parley_bench_webhooks [--inbound 6000] [--statuses 4000]
 *
 * The fake Cloud API runs in this process; it only answers the sends that create the messages the statuses are for.
 */

import { execFile } from "node:child_process"
import { parseArgs, promisify } from "node:util"
import { NodeRuntime } from "@effect/platform-node"
import { Secrets, Storage } from "@parley/postgres"
import { Webhook } from "@parley/whatsapp-cloud"
import { FakeCloudApi } from "@parley/whatsapp-cloud/testing"
import { Effect, Layer, Logger, LogLevel, Option, Redacted } from "effect"
import * as Server from "../src/Server.js"

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "3101" },
    "database-url": { type: "string" },
    inbound: { type: "string", default: "6000" },
    statuses: { type: "string", default: "4000" },
    concurrency: { type: "string", default: "8" }
  }
})

const databaseUrl = values["database-url"]
if (databaseUrl === undefined) throw new Error("--database-url is required")
const adminToken = "bench-admin-token-0123456789"
const appSecret = "bench-app-secret"
const url = `http://127.0.0.1:${values.port}`
const perDelivery = 50
const concurrency = Number(values.concurrency)
const phoneNumberId = "200000000000002"

// Asynchronous: the service runs in this process, and a synchronous child process would stall its event loop for as
// long as psql takes, every time the harness looks.
const execFileAsync = promisify(execFile)
const count = async (statement: string) =>
  Number((await execFileAsync("psql", [databaseUrl, "-tAc", statement], { encoding: "utf8" })).stdout.trim())

const post = async (path: string, body: string, headers: Record<string, string>) => {
  const response = await fetch(`${url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body
  })
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`)
  return response.json() as Promise<{ data: { id: string; key: string } }>
}

const signed = (value: Record<string, unknown>) => {
  const raw = FakeCloudApi.metaJson({
    object: "whatsapp_business_account",
    entry: [
      {
        id: "1",
        changes: [
          {
            field: "messages",
            value: {
              messaging_product: "whatsapp",
              metadata: { display_phone_number: "15550002222", phone_number_id: phoneNumberId },
              ...value
            }
          }
        ]
      }
    ]
  })
  return post("/webhooks/whatsapp", raw, { "x-hub-signature-256": Webhook.sign(raw, appSecret) })
}

/** Posts the deliveries `concurrency` at a time; resolves when every one was answered 200. */
const postAll = async (deliveries: ReadonlyArray<() => Promise<unknown>>) => {
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < deliveries.length) await deliveries[next++]?.()
    })
  )
}

const phase = async (
  name: string,
  events: number,
  deliveries: ReadonlyArray<() => Promise<unknown>>,
  done: () => Promise<boolean>
) => {
  const started = performance.now()
  const cpu = process.cpuUsage()
  await postAll(deliveries)
  const accepted = performance.now() - started
  while (!(await done())) await new Promise((resolve) => setTimeout(resolve, 250))
  const processed = performance.now() - started
  const rss = Math.round(process.memoryUsage().rss / 1048576)
  const used = process.cpuUsage(cpu)
  console.log(
    JSON.stringify({
      phase: name,
      events,
      acceptedPerSecond: Math.round(events / (accepted / 1000)),
      processedPerSecond: Math.round(events / (processed / 1000)),
      acceptedMs: Math.round(accepted),
      processedMs: Math.round(processed),
      cpuMsPerEvent: Number(((used.user + used.system) / 1000 / events).toFixed(2)),
      rssMb: rss
    })
  )
}

const run = (fake: FakeCloudApi.FakeCloudApiServer) => async () => {
  const admin = { authorization: `Bearer ${adminToken}` }
  const business = await post("/v1/admin/businesses", JSON.stringify({ name: "Bench" }), admin)
  const businessId = business.data.id
  await post(
    `/v1/admin/businesses/${businessId}/whatsapp-numbers`,
    JSON.stringify({
      phoneNumberId,
      displayPhoneNumber: "15550002222",
      accessToken: "bench-token",
      messagesPerSecond: 1000
    }),
    admin
  )
  const key = (
    await post(
      `/v1/admin/businesses/${businessId}/api-keys`,
      JSON.stringify({ scopes: ["messaging:conversations:read", "messaging:messages:send"] }),
      admin
    )
  ).data.key
  const now = Math.floor(Date.now() / 1000)

  // Inbound: 50 messages per delivery from 50 customers; every customer writes once per 10 deliveries.
  const inbound = Number(values.inbound)
  const customers = 500
  const before = await count("SELECT count(*) FROM messages")
  const inboundDeliveries = Array.from({ length: Math.ceil(inbound / perDelivery) }, (_, d) => () => {
    const messages = Array.from({ length: perDelivery }, (_, i) => {
      const n = d * perDelivery + i
      return { from: `4477009${String(n % customers).padStart(5, "0")}`, id: `wamid.IN${now}.${n}`, n }
    })
    return signed({
      contacts: messages.map((m) => ({ profile: { name: `Customer ${m.from.slice(-4)}` }, wa_id: m.from })),
      messages: messages.map((m) => ({
        from: m.from,
        id: m.id,
        timestamp: String(now - 600),
        type: "text",
        text: { body: `hello ${m.n}` }
      }))
    })
  })
  await phase(
    "inbound",
    inbound,
    inboundDeliveries,
    async () => (await count("SELECT count(*) FROM messages")) - before >= inbound
  )

  // The messages the statuses are for: sent through the API to the fake, one per customer in turn.
  const statuses = Number(values.statuses)
  const outbound = Math.ceil(statuses / 2)
  const conversations = await fetch(`${url}/v1/messaging/conversations?limit=200`, {
    headers: { authorization: `Bearer ${key}` }
  }).then((r) => r.json() as Promise<{ data: Array<{ id: string }> }>)
  let sent = 0
  const latencies: Array<number> = []
  const transactions = () =>
    count("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()")
  const transactionsBefore = await transactions()
  const sendsStarted = performance.now()
  const sendsCpu = process.cpuUsage()
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (sent < outbound) {
        const conversation = conversations.data[sent++ % conversations.data.length]
        const at = performance.now()
        const response = await fetch(`${url}/v1/messaging/conversations/${conversation?.id}/messages`, {
          method: "POST",
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
          body: JSON.stringify({ text: "Your order shipped" })
        })
        if (!response.ok) throw new Error(`send: ${response.status} ${await response.text()}`)
        latencies.push(performance.now() - at)
      }
    })
  )
  const sendsMs = performance.now() - sendsStarted
  const sendsUsed = process.cpuUsage(sendsCpu)
  // Each statement outside a transaction is one; the statistics are reported with a delay of up to a second.
  await new Promise((resolve) => setTimeout(resolve, 1500))
  const transactionsPerSend = ((await transactions()) - transactionsBefore - 1) / outbound
  latencies.sort((x, y) => x - y)
  const percentile = (q: number) =>
    Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0)
  console.log(
    JSON.stringify({
      phase: "sends (16 at a time, number at 1000/s)",
      events: outbound,
      perSecond: Math.round(outbound / (sendsMs / 1000)),
      p50Ms: percentile(0.5),
      p99Ms: percentile(0.99),
      cpuMsPerEvent: Number(((sendsUsed.user + sendsUsed.system) / 1000 / outbound).toFixed(2)),
      providerRequests: fake.sends.length,
      databaseTransactionsPerSend: Number(transactionsPerSend.toFixed(1))
    })
  )
  const wamids = fake.sends.map((s) => ({ wamid: s.wamid, to: s.to }))
  const updates = wamids.flatMap((w) => [
    { ...w, status: "delivered" as const },
    { ...w, status: "read" as const }
  ])
  const statusDeliveries = Array.from(
    { length: Math.ceil(updates.length / perDelivery) },
    (_, d) => () =>
      signed({
        statuses: updates.slice(d * perDelivery, (d + 1) * perDelivery).map((u) => ({
          id: u.wamid,
          status: u.status,
          timestamp: String(now),
          recipient_id: u.to
        }))
      })
  )
  await phase(
    "statuses",
    updates.length,
    statusDeliveries,
    async () => (await count("SELECT count(*) FROM messages WHERE delivery_status = 'read'")) >= wamids.length
  )
}

const program = Effect.gen(function* () {
  const fake = yield* Effect.acquireRelease(
    Effect.promise(() => FakeCloudApi.start({ accessTokens: ["bench-token"] })),
    (server) => Effect.promise(() => server.close())
  )
  const server = Server.layer(
    {
      port: Number(values.port),
      host: "127.0.0.1",
      adminToken: Redacted.make(adminToken),
      whatsapp: {
        apiUrl: fake.url,
        apiVersion: "v24.0",
        appSecret: Option.some(Redacted.make(appSecret)),
        verifyToken: Option.none(),
        gateway: { pairRate: false }
      },
      rateLimitPerMinute: 0,
      sharedRateLimits: true
    },
    Storage.layerPostgres({
      url: Redacted.make(databaseUrl),
      maxConnections: 10,
      secretKey: Redacted.make(Secrets.generateKey())
    })
  )
  yield* Layer.launch(server.pipe(Layer.tap(() => Effect.promise(run(fake)).pipe(Effect.andThen(Effect.interrupt)))))
}).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Warning))

NodeRuntime.runMain(program)
