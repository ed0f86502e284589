/**
 * One "Parley process" delivering outbound webhooks: the delivery worker on its own PostgreSQL pool. The scale test
 * starts two of these on one database; the benchmark starts one. Prints `ready` once running and, on SIGTERM,
 * stops (the worker's scope closes).
 *
 * Input: `WORKER_CONFIG` (JSON, see `WorkerConfig`).
 */
import { PostgresClient, Secrets, WebhookDeliveries } from "@parley/postgres"
import { Effect, Layer, Logger, LogLevel, Redacted } from "effect"
import * as WebhookWorker from "../../../src/WebhookWorker.js"

export interface WorkerConfig {
  readonly databaseUrl: string
  readonly secretKey: string
  readonly batchSize?: number
  readonly concurrency?: number
  readonly maxConnections?: number
}

const config = JSON.parse(process.env.WORKER_CONFIG ?? "{}") as WorkerConfig

const worker = WebhookWorker.layer({
  allowPrivateTargets: true,
  allowHttp: true,
  pollInterval: "20 millis",
  batchSize: config.batchSize,
  concurrency: config.concurrency
}).pipe(
  Layer.provide(WebhookDeliveries.layer),
  Layer.provide(
    Layer.merge(
      PostgresClient.layer({ url: Redacted.make(config.databaseUrl), maxConnections: config.maxConnections ?? 4 }),
      Secrets.layer(Redacted.make(config.secretKey))
    )
  )
)

Effect.runFork(
  Layer.launch(Layer.merge(worker, Layer.effectDiscard(Effect.sync(() => console.log("ready"))))).pipe(
    Logger.withMinimumLogLevel(LogLevel.Warning)
  )
)
process.once("SIGTERM", () => process.exit(0))
