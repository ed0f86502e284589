/**
 * The outbound webhook worker: never on the request path. Each round it fans new events out into deliveries, leases
 * a batch of due ones (the lease commits before any request goes out, so several processes never make the same
 * attempt), sends them concurrently, and records each outcome with the retry policy's next time. An endpoint that
 * answers 410, or that has failed without a success for `circuitAfter`, is disabled and says so: an
 * `endpoint.disabled` warning in the log, `disabledReason` in the API and a metric.
 *
 * `round(now)` is the whole step with the time passed in, so tests drive the schedule with their own clock.
 */
import { randomUUID } from "node:crypto"
import { WebhookDeliveries } from "@parley/postgres"
import { DateTime, Duration, Effect, Layer, Metric, Option, Schedule } from "effect"
import * as SsrfGuard from "./SsrfGuard.js"
import * as WebhookRetry from "./WebhookRetry.js"
import * as WebhookSender from "./WebhookSender.js"
import * as WebhookSigner from "./WebhookSigner.js"

export interface WorkerOptions {
  /** Names this process's leases. */
  readonly owner?: string | undefined
  readonly allowPrivateTargets: boolean
  readonly allowHttp: boolean
  /** Per attempt (Standard Webhooks suggests 15–30 s). */
  readonly timeout?: Duration.DurationInput | undefined
  /** Failing without a success this long disables the endpoint. */
  readonly circuitAfter?: Duration.DurationInput | undefined
  /** Deliveries leased per round. */
  readonly batchSize?: number | undefined
  /** Requests in flight at once. */
  readonly concurrency?: number | undefined
  /** How long an idle worker waits before looking again. */
  readonly pollInterval?: Duration.DurationInput | undefined
  /** Jitter source in [0, 1); tests fix it. */
  readonly random?: (() => number) | undefined
}

export const defaults = {
  timeout: Duration.seconds(20),
  circuitAfter: Duration.days(5),
  // Large batches: each round's database work is a few statements whatever its size (measured in docs/events.md).
  batchSize: 1000,
  concurrency: 200,
  pollInterval: Duration.millis(500)
} as const

export interface RoundResult {
  /** Events turned into deliveries (read by the fan-out). */
  readonly fannedOut: number
  /** Whether the fan-out read as many events as it may: more may be waiting. */
  readonly backlog: boolean
  /** Attempts made. */
  readonly attempted: number
  readonly succeeded: number
}

const attemptsTotal = Metric.counter("parley_webhook_attempts_total", {
  description: "Outbound webhook attempts, by outcome"
})
const endpointsDisabled = Metric.counter("parley_webhook_endpoints_disabled_total", {
  description: "Webhook endpoints disabled by the worker (410 or the circuit)"
})

export const make = (options: WorkerOptions) =>
  Effect.gen(function* () {
    const deliveries = yield* WebhookDeliveries.WebhookDeliveries
    const owner = options.owner ?? randomUUID()
    const timeoutMs = Duration.toMillis(options.timeout ?? defaults.timeout)
    const circuitAfterMs = Duration.toMillis(options.circuitAfter ?? defaults.circuitAfter)
    const batchSize = options.batchSize ?? defaults.batchSize
    const concurrency = options.concurrency ?? defaults.concurrency
    const random = options.random ?? Math.random
    const guard = { allowPrivateTargets: options.allowPrivateTargets, allowHttp: options.allowHttp }
    const agents = WebhookSender.makeAgents(concurrency)
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        agents.http.destroy()
        agents.https.destroy()
      })
    )

    const attempt = (delivery: WebhookDeliveries.ClaimedDelivery, now: DateTime.Utc) =>
      Effect.gen(function* () {
        const body = JSON.stringify(WebhookDeliveries.eventBody(delivery.event))
        const started = Date.now()
        const checked = yield* Effect.either(SsrfGuard.check(delivery.url, guard))
        const response: WebhookSender.AttemptResponse =
          checked._tag === "Left"
            ? { _tag: "Failure", error: checked.left.message }
            : yield* WebhookSender.post(
                checked.right,
                WebhookSigner.headers(
                  delivery.secrets,
                  delivery.event.id,
                  Math.floor(DateTime.toEpochMillis(now) / 1000),
                  body
                ),
                body,
                { timeoutMs, agents }
              )
        const latencyMs = Date.now() - started
        const verdict = response._tag === "Response" ? WebhookRetry.classify(response.statusCode) : "retry"
        const retryAfterMs =
          response._tag === "Response" && (response.statusCode === 429 || response.statusCode === 503)
            ? WebhookRetry.parseRetryAfter(response.retryAfter, DateTime.toEpochMillis(now))
            : undefined
        const outcome: WebhookDeliveries.Outcome =
          verdict === "succeeded"
            ? { _tag: "Succeeded" }
            : verdict === "gone"
              ? { _tag: "Gone" }
              : Option.match(WebhookRetry.delayAfter(delivery.attemptInRun, random(), retryAfterMs), {
                  onNone: () => ({ _tag: "Dead" }) as const,
                  onSome: (ms) => ({ _tag: "Retry", at: DateTime.add(now, { millis: ms }) }) as const
                })
        yield* Metric.increment(Metric.tagged(attemptsTotal, "outcome", outcome._tag.toLowerCase()))
        const result: WebhookDeliveries.AttemptResult = {
          businessId: delivery.businessId,
          deliveryId: delivery.id,
          owner,
          attempt: delivery.attempt,
          startedAt: now,
          statusCode: response._tag === "Response" ? response.statusCode : null,
          latencyMs,
          error: response._tag === "Failure" ? response.error : null,
          responseExcerpt: response._tag === "Response" ? response.excerpt : null,
          outcome
        }
        // Successes are written together after the round; a failure now, with its effect on the endpoint.
        if (outcome._tag === "Succeeded") return Option.some(result)
        const recorded = yield* deliveries.record(result, { now, circuitAfterMs })
        if (recorded.endpointDisabled !== null) {
          yield* Metric.increment(Metric.tagged(endpointsDisabled, "reason", recorded.endpointDisabled))
          yield* Effect.logWarning("endpoint.disabled").pipe(
            Effect.annotateLogs({
              businessId: delivery.businessId,
              endpointId: delivery.endpointId,
              reason: recorded.endpointDisabled
            })
          )
        }
        return Option.none()
      })

    /** One step at `now`: fan out, lease a batch, send it, record it. */
    const round = (now: DateTime.Utc) =>
      Effect.gen(function* () {
        const fanOutLimit = batchSize * 5
        const fannedOut = yield* deliveries.fanOut(now, fanOutLimit)
        const leaseMs = timeoutMs * 2 + 10_000
        const claimed = yield* deliveries.claim({ owner, now, leaseMs, limit: batchSize })
        const results = yield* Effect.forEach(claimed, (delivery) => attempt(delivery, now), { concurrency })
        const succeeded = results.flatMap((r) => (Option.isSome(r) ? [r.value] : []))
        yield* deliveries.recordSucceeded(succeeded, { now })
        return {
          fannedOut,
          backlog: fannedOut >= fanOutLimit,
          attempted: claimed.length,
          succeeded: succeeded.length
        } satisfies RoundResult
      })

    return { owner, round }
  })

/**
 * Runs rounds until the scope closes: back to back while there is work (deliveries attempted, or more events than
 * one fan-out reads), `pollInterval` apart otherwise. Events that matched no endpoint are not work: a busy service
 * without endpoints would otherwise spin a round per handful of new events, taking CPU from the request path.
 */
export const layer = (options: WorkerOptions): Layer.Layer<never, never, WebhookDeliveries.WebhookDeliveries> =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const worker = yield* make(options)
      const idle = options.pollInterval ?? defaults.pollInterval
      const loop = Effect.gen(function* () {
        const result = yield* worker.round(yield* DateTime.now)
        if (result.attempted === 0 && !result.backlog) yield* Effect.sleep(idle)
      }).pipe(
        Effect.catchAllCause((cause) =>
          Effect.logWarning("webhook worker round failed").pipe(
            Effect.annotateLogs({ cause }),
            Effect.zipRight(Effect.sleep(idle))
          )
        ),
        Effect.repeat(Schedule.forever)
      )
      yield* Effect.forkScoped(loop)
    })
  )
