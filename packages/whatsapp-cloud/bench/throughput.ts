/**
 * Throughput benchmark for the Cloud API gateway against the fake Cloud API on loopback, plus webhook verification
 * and decoding. Run: `node --conditions=@parley/source --import tsx packages/whatsapp-cloud/bench/throughput.ts`. Prints a Markdown table.
 */

import { cpus } from "node:os"
import type { HttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { BusinessId, CustomerIdentity, E164, MessageId, WhatsAppNumber, WhatsAppNumberId } from "@parley/core"
import { Effect, Layer, Redacted } from "effect"
import * as CloudApiGateway from "../src/CloudApiGateway.js"
import { FakeCloudApiServer, metaJson } from "../src/testing/FakeCloudApi.js"
import * as Webhook from "../src/Webhook.js"

const number = new WhatsAppNumber({
  id: WhatsAppNumberId.make("00000000-0000-4000-8000-0000000000aa"),
  businessId: BusinessId.make("00000000-0000-4000-8000-0000000000bb"),
  providerPhoneNumberId: "200000000000002",
  displayPhoneNumber: "15550002222",
  wabaId: "100000000000001",
  accessToken: Redacted.make("bench-token")
})

const messageId = (i: number) => MessageId.make(`00000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`)
const recipient = (i: number) => CustomerIdentity.byPhone(E164.make(`+1555${(1_000_000 + i).toString()}`))

/** The most events in any window of `window` ms. */
const maxInWindow = (times: ReadonlyArray<number>, window: number) => {
  const sorted = [...times].sort((a, b) => a - b)
  let max = 0
  let start = 0
  for (let end = 0; end < sorted.length; end++) {
    while ((sorted[end] ?? 0) - (sorted[start] ?? 0) >= window) start++
    max = Math.max(max, end - start + 1)
  }
  return max
}

const percentile = (values: ReadonlyArray<number>, p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0
}

interface Row {
  readonly scenario: string
  readonly sends: number
  readonly seconds: number
  readonly perSecond: number
  readonly maxInOneSecond: number
  readonly p50: number
  readonly p99: number
}

const plain = NodeHttpClient.layer
const keepAlive = NodeHttpClient.layerWithoutAgent.pipe(
  Layer.provide(NodeHttpClient.makeAgentLayer({ keepAlive: true }))
)

const run = (
  scenario: string,
  sends: number,
  concurrency: number,
  options: CloudApiGateway.Options,
  client: Layer.Layer<HttpClient.HttpClient> = plain
) =>
  Effect.gen(function* () {
    const fake = yield* Effect.promise(() => FakeCloudApiServer.start())
    const gateway = yield* CloudApiGateway.make({ ...options, baseUrl: fake.url }).pipe(Effect.provide(client))
    const latencies: Array<number> = []
    const started = performance.now()
    yield* Effect.forEach(
      Array.from({ length: sends }, (_, i) => i),
      (i) =>
        Effect.suspend(() => {
          const t0 = performance.now()
          return gateway
            .sendText({ from: number, to: recipient(i), messageId: messageId(i), text: `bench ${i}` })
            .pipe(Effect.tap(() => Effect.sync(() => latencies.push(performance.now() - t0))))
        }),
      { concurrency, discard: true }
    )
    const seconds = (performance.now() - started) / 1000
    const received = fake.sends
    yield* Effect.promise(() => fake.close())
    if (received.length !== sends)
      throw new Error(`${scenario}: the fake saw ${received.length} sends, expected ${sends}`)
    const row: Row = {
      scenario,
      sends,
      seconds,
      perSecond: sends / seconds,
      maxInOneSecond: maxInWindow(
        received.map((s) => s.receivedAt),
        1000
      ),
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99)
    }
    return row
  })

const webhookBench = Effect.sync(() => {
  const statuses = Array.from({ length: 1000 }, (_, i) => ({
    id: `wamid.${i}`,
    status: i % 2 === 0 ? "delivered" : "read",
    timestamp: "1767261660",
    recipient_id: "15550001111",
    biz_opaque_callback_data: messageId(i)
  }))
  const raw = metaJson({
    object: "whatsapp_business_account",
    entry: [{ id: "1", changes: [{ field: "messages", value: { metadata: { phone_number_id: "2" }, statuses } }] }]
  })
  const secret = Redacted.make("bench-secret")
  const signature = Webhook.sign(raw, secret)
  const rounds = 200
  const t0 = performance.now()
  for (let i = 0; i < rounds; i++) {
    Webhook.verifySignature(raw, signature, secret)
    Webhook.decode(raw)
  }
  const ms = (performance.now() - t0) / rounds
  return { bytes: raw.length, ms, statusesPerSecond: 1000 / (ms / 1000) }
})

const program = Effect.gen(function* () {
  const rows: Array<Row> = []
  rows.push(
    yield* run("unthrottled ceiling (limit 1000/s), 64 in flight", 5000, 64, {
      messagesPerSecond: 1000,
      pairRate: false
    })
  )
  rows.push(
    yield* run(
      "unthrottled ceiling, keep-alive agent, 64 in flight",
      5000,
      64,
      { messagesPerSecond: 1000, pairRate: false },
      keepAlive
    )
  )
  rows.push(yield* run("default 80/s, 400 queued at once", 400, 400, { pairRate: false }))
  rows.push(
    yield* run("configured 1000/s, 3000 queued at once", 3000, 3000, { messagesPerSecond: 1000, pairRate: false })
  )
  rows.push(
    yield* run(
      "configured 1000/s, keep-alive agent, 3000 queued at once",
      3000,
      3000,
      { messagesPerSecond: 1000, pairRate: false },
      keepAlive
    )
  )
  const webhook = yield* webhookBench
  console.log(`Machine: ${cpus().length} cores (${cpus()[0]?.model ?? "unknown"}), Node ${process.version}\n`)
  console.log("| scenario | sends | seconds | sends/s | max in any 1 s (fake's clock) | p50 ms | p99 ms |")
  console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
  for (const r of rows) {
    console.log(
      `| ${r.scenario} | ${r.sends} | ${r.seconds.toFixed(2)} | ${r.perSecond.toFixed(0)} | ${r.maxInOneSecond} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} |`
    )
  }
  console.log(
    `\nWebhook: verify + decode of a ${(webhook.bytes / 1024).toFixed(0)} KiB payload with 1000 statuses: ` +
      `${webhook.ms.toFixed(2)} ms (${webhook.statusesPerSecond.toFixed(0)} statuses/s)`
  )
})

Effect.runPromise(program).catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
