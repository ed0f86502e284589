/**
 * One "Parley process" for the scale test: the WhatsApp Cloud API gateway on its own PostgreSQL pool, throttled
 * through the shared `SqlRateLimitStore`, sending to the fake Cloud API. The test starts two of these as separate
 * Node processes, releases them together (a line on stdin), and counts what reaches the fake. Each request carries
 * `x-sent-at`: when the limiter let it go, by this process's clock.
 *
 * Input: `SENDER_CONFIG` (JSON, see `SenderConfig`). Output: one JSON line on stdout (`SenderResult`).
 */
import { createInterface } from "node:readline"
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import {
  BusinessId,
  CustomerIdentity,
  E164,
  MessageId,
  MessagingGateway,
  WhatsAppNumber,
  WhatsAppNumberId
} from "@parley/core"
import { PostgresClient, SqlRateLimitStore } from "@parley/postgres"
import { CloudApiGateway } from "@parley/whatsapp-cloud"
import { Clock, Effect, Layer, Redacted } from "effect"

export interface SenderConfig {
  readonly databaseUrl: string
  readonly apiUrl: string
  readonly accessToken: string
  readonly phoneNumberId: string
  /** Distinguishes the message ids of the two processes. */
  readonly process: number
  /** Recipients (E.164), one send each, all at once. */
  readonly recipients: ReadonlyArray<string>
  /** The gateway's ceiling; absent: none below Meta's highest tier. */
  readonly messagesPerSecond?: number
  /** The number's own throughput (default: Meta's standard tier, 80). */
  readonly numberMessagesPerSecond?: number
  readonly pairRate: { readonly burst: number; readonly everyMillis: number } | false
  /** false: limits in this process's memory, as without a shared store (a control; default true). */
  readonly shared?: boolean
}

export interface SenderResult {
  readonly accepted: number
  readonly failed: ReadonlyArray<string>
}

const config = JSON.parse(process.env.SENDER_CONFIG ?? "{}") as SenderConfig

const number = new WhatsAppNumber({
  id: WhatsAppNumberId.make("00000000-0000-4000-8000-0000000000aa"),
  businessId: BusinessId.make("00000000-0000-4000-8000-0000000000bb"),
  providerPhoneNumberId: config.phoneNumberId,
  displayPhoneNumber: "15550002222",
  wabaId: "100000000000001",
  accessToken: Redacted.make(config.accessToken),
  ...(config.numberMessagesPerSecond === undefined ? {} : { messagesPerSecond: config.numberMessagesPerSecond })
})

const released = new Promise<void>((resolve) => {
  createInterface({ input: process.stdin }).once("line", () => resolve())
})

const program = Effect.gen(function* () {
  const gateway = yield* MessagingGateway
  process.stdout.write("ready\n")
  yield* Effect.promise(() => released)
  const results = yield* Effect.forEach(
    config.recipients,
    (to, i) =>
      Effect.either(
        gateway.sendText({
          from: number,
          to: CustomerIdentity.byPhone(E164.make(to)),
          messageId: MessageId.make(`00000000-0000-4000-8${config.process}00-${i.toString(16).padStart(12, "0")}`),
          text: `message ${i}`
        })
      ),
    { concurrency: "unbounded" }
  )
  const failed = results.flatMap((r) => (r._tag === "Left" ? [r.left._tag] : []))
  const result: SenderResult = { accepted: results.length - failed.length, failed }
  process.stdout.write(`${JSON.stringify(result)}\n`)
})

const gateway = CloudApiGateway.layer({
  baseUrl: config.apiUrl,
  apiVersion: "v24.0",
  ...(config.messagesPerSecond === undefined ? {} : { messagesPerSecond: config.messagesPerSecond }),
  pairRate: config.pairRate === false ? false : { burst: config.pairRate.burst, every: config.pairRate.everyMillis },
  maxQueueWait: "60 seconds",
  requestTimeout: "10 seconds",
  // When the limiter let the request go, by this process's clock (the fake also notes when it arrived).
  transformClient: HttpClient.mapRequestEffect((request) =>
    Effect.map(Clock.currentTimeMillis, (now) => HttpClientRequest.setHeader(request, "x-sent-at", String(now)))
  )
}).pipe(
  Layer.provide(config.shared === false ? Layer.empty : SqlRateLimitStore.layer()),
  Layer.provide(PostgresClient.layer({ url: Redacted.make(config.databaseUrl), maxConnections: 10 })),
  Layer.provide(NodeHttpClient.layerUndici)
)

Effect.runPromise(program.pipe(Effect.provide(gateway))).then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`sender failed: ${String(error)}\n`)
    process.exit(1)
  }
)
