/**
 * What the Cloud API gateway measures, as Effect metrics (recorded in whatever metric registry the host runs; the
 * standalone service renders them at `/metrics`): sends by outcome and Meta error code, the latency of each HTTP
 * call to the Graph API, and how long sends wait for the rate limiters.
 */
import { Cause, Effect, Metric, MetricBoundaries, MetricLabel, Option } from "effect"

/** 1 ms to ~33 s, doubling: provider calls and limiter waits both fall in this range. */
const latencyBuckets = MetricBoundaries.exponential({ start: 0.001, factor: 2, count: 16 })

export const sends = Metric.counter("parley_whatsapp_sends_total", {
  description: "Sends to the WhatsApp Cloud API by kind, outcome (sent or the error) and Meta's error code",
  incremental: true
})

export const requestDuration = Metric.histogram(
  "parley_whatsapp_request_duration_seconds",
  latencyBuckets,
  "Latency of each HTTP call to the Graph API (one per attempt)"
)

export const limiterWait = Metric.histogram(
  "parley_whatsapp_limiter_wait_seconds",
  latencyBuckets,
  "Time a send waited for a throughput limiter before its call"
)

/**
 * Times an effect into a histogram whether it succeeds or fails (`Metric.trackDuration` records successes only),
 * labelled `outcome="ok"` or `"error"`.
 */
const timed =
  (histogram: typeof requestDuration, labels: ReadonlyArray<MetricLabel.MetricLabel>) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.suspend(() => {
      const started = performance.now()
      return Effect.onExit(effect, (exit) =>
        Metric.update(
          Metric.taggedWithLabels(histogram, [
            ...labels,
            MetricLabel.make("outcome", exit._tag === "Success" ? "ok" : "error")
          ]),
          (performance.now() - started) / 1000
        )
      )
    })

/** Times one Graph API call. */
export const timeRequest = (operation: string) => timed(requestDuration, [MetricLabel.make("operation", operation)])

/** Times a limiter wait (`pair`: per recipient; `number`: per sending number); `error` is a full queue. */
export const timeLimiter = (limiter: "pair" | "number") => timed(limiterWait, [MetricLabel.make("limiter", limiter)])

const countOf = (kind: string, outcome: string, code: string) =>
  Metric.increment(
    Metric.taggedWithLabels(sends, [
      MetricLabel.make("kind", kind),
      MetricLabel.make("outcome", outcome),
      MetricLabel.make("code", code)
    ])
  )

/** Counts a send when it settles: `sent`, or the error's tag with Meta's code when there is one. */
export const countSend =
  (kind: "text" | "template" | "media") =>
  <A, E extends { readonly _tag: string }, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.onExit(effect, (exit) => {
      if (exit._tag === "Success") return countOf(kind, "sent", "")
      const failure = Option.getOrUndefined(Cause.failureOption(exit.cause))
      if (failure === undefined)
        return countOf(kind, Cause.isInterruptedOnly(exit.cause) ? "interrupted" : "defect", "")
      const code = "code" in failure && typeof failure.code === "number" ? String(failure.code) : ""
      return countOf(kind, failure._tag, code)
    })
