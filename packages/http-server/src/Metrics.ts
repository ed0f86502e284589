/**
 * The service's metrics and `GET /metrics`.
 *
 * Effect's `Metric` rather than `prom-client`: the adapters (the Cloud API gateway, the database pool) record with
 * the `effect` they already depend on, so an embedding app gets the same metrics in its own Effect runtime, or
 * through `@effect/opentelemetry`, with no second metrics library; a metric is updated inside the effect it
 * measures (a fiber-safe map update, no promise, no callback). The standalone service renders the snapshot as
 * Prometheus text (`Prometheus.render`).
 *
 * `/metrics` is served only when `PARLEY_METRICS_TOKEN` is set (then `Authorization: Bearer <token>` is required)
 * or when `PARLEY_METRICS_PUBLIC=true` says it may be open (a private network scraping without a token).
 */
import { timingSafeEqual } from "node:crypto"
import { HttpApi, type HttpApp, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Duration, Effect, Metric, MetricBoundaries, MetricLabel, Redacted } from "effect"
import { Api } from "./Api.js"
import { notFound, toResponse, unauthorized } from "./ApiError.js"
import * as Prometheus from "./Prometheus.js"

export const path = "/metrics"

export interface MetricsOptions {
  /** Required as a bearer token on `/metrics`. */
  readonly token?: Redacted.Redacted<string> | undefined
  /** Serve `/metrics` without a token (explicit opt-in). */
  readonly public?: boolean | undefined
}

// ---------------------------------------------------------------------------------------------------------------
// What is measured

/** 1 ms to ~33 s, doubling. */
const latencyBuckets = MetricBoundaries.exponential({ start: 0.001, factor: 2, count: 16 })

export const requestDuration = Metric.histogram(
  "parley_http_request_duration_seconds",
  latencyBuckets,
  "HTTP requests by method, route template and status, with their latency (`_count` is the request count)"
)

export const idempotencyReplays = Metric.counter("parley_idempotency_replays_total", {
  description: "Sends answered from a stored response because the Idempotency-Key was seen before",
  incremental: true
})

export const webhookDeliveries = Metric.counter("parley_webhook_deliveries_total", {
  description:
    "Meta webhook deliveries: received (stored), duplicate, rejected (bad signature), processed, failed " +
    "(to be retried)",
  incremental: true
})

export const webhookLag = Metric.histogram(
  "parley_webhook_processing_lag_seconds",
  MetricBoundaries.exponential({ start: 0.005, factor: 2, count: 18 }),
  "From a delivery's arrival to the end of its processing (retries included)"
)

/** `dead_lettered` is for the path that gives up on a delivery (counted there when it exists). */
export type WebhookOutcome = "received" | "duplicate" | "rejected" | "processed" | "failed" | "dead_lettered"

export const countWebhook = (outcome: WebhookOutcome) =>
  Metric.increment(Metric.tagged(webhookDeliveries, "outcome", outcome))

export const countReplay = (operation: string) =>
  Metric.increment(Metric.tagged(idempotencyReplays, "operation", operation))

export const recordLag = (lag: Duration.Duration) => Metric.update(webhookLag, Duration.toMillis(lag) / 1000)

// ---------------------------------------------------------------------------------------------------------------
// Routes: a request is labelled with its route template, never its raw path (ids would explode the series).

interface Route {
  readonly method: string
  readonly template: string
  readonly segments: ReadonlyArray<string>
}

const routes: ReadonlyArray<Route> = (() => {
  const found: Array<Route> = []
  HttpApi.reflect(Api, {
    onGroup: () => {},
    onEndpoint: ({ endpoint }) => {
      found.push({
        method: endpoint.method,
        template: endpoint.path.replace(/:(\w+)/g, "{$1}"),
        segments: endpoint.path.split("/")
      })
    }
  })
  for (const fixed of ["/openapi.json", "/docs", path])
    found.push({ method: "GET", template: fixed, segments: fixed.split("/") })
  return found
})()

/** The routes by method and segment count: a request is compared with the few routes of its own shape. */
const routesByShape: ReadonlyMap<string, ReadonlyArray<Route>> = (() => {
  const byShape = new Map<string, Array<Route>>()
  for (const route of routes) {
    const key = `${route.method} ${route.segments.length}`
    byShape.set(key, [...(byShape.get(key) ?? []), route])
  }
  return byShape
})()

/** The route template a request matched (`/v1/messaging/conversations/{id}`), or `other`. */
export const routeOf = (method: string, requestPath: string): string => {
  const parts = requestPath.split("/")
  const own = routesByShape.get(`${method} ${parts.length}`) ?? []
  // HEAD is answered by the GET route of the path.
  const candidates = method === "HEAD" ? [...own, ...(routesByShape.get(`GET ${parts.length}`) ?? [])] : own
  for (const route of candidates) {
    if (route.segments.every((segment, i) => (segment.startsWith(":") ? parts[i] !== "" : segment === parts[i]))) {
      return route.template
    }
  }
  return "other"
}

/**
 * One tagged histogram per (method, route, status), kept: building the metric key and finding it in the registry
 * costs ~13 µs, a map lookup well under 1. The set is bounded: routes are templates (or `other`), methods and
 * statuses few.
 */
const series = new Map<string, Metric.Metric.Histogram<number>>()
const requestSeries = (method: string, route: string, status: number) => {
  const key = `${method} ${route} ${status}`
  let metric = series.get(key)
  if (metric === undefined) {
    metric = Metric.taggedWithLabels(requestDuration, [
      MetricLabel.make("method", method),
      MetricLabel.make("route", route),
      MetricLabel.make("status", String(status))
    ])
    series.set(key, metric)
  }
  return metric
}

// ---------------------------------------------------------------------------------------------------------------
// The middleware: measures every request, and answers `/metrics`.

const bearer = (header: string | undefined) => {
  const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header)
  return match?.[1]
}

const sameSecret = (given: string, expected: Redacted.Redacted<string>) => {
  const a = Buffer.from(given)
  const b = Buffer.from(Redacted.value(expected))
  return a.length === b.length && timingSafeEqual(a, b)
}

const scrape = (options: MetricsOptions, request: HttpServerRequest.HttpServerRequest) =>
  Effect.gen(function* () {
    if (options.token !== undefined) {
      const given = bearer(request.headers.authorization)
      if (given === undefined || !sameSecret(given, options.token)) {
        return toResponse(unauthorized("/metrics needs `Authorization: Bearer <PARLEY_METRICS_TOKEN>`"))
      }
    }
    const snapshot = yield* Metric.snapshot
    return HttpServerResponse.text(Prometheus.render(snapshot), {
      contentType: Prometheus.contentType,
      headers: { "cache-control": "no-store" }
    })
  })

export const measure =
  (options: MetricsOptions = {}) =>
  (app: HttpApp.Default): HttpApp.Default => {
    const exposed = options.token !== undefined || options.public === true
    return Effect.gen(function* () {
      const request = yield* HttpServerRequest.HttpServerRequest
      const started = performance.now()
      const q = request.url.indexOf("?")
      const requestPath = q === -1 ? request.url : request.url.slice(0, q)
      const response =
        requestPath === path && request.method === "GET"
          ? exposed
            ? yield* scrape(options, request)
            : toResponse(notFound())
          : yield* app
      yield* Metric.update(
        requestSeries(request.method, routeOf(request.method, requestPath), response.status),
        (performance.now() - started) / 1000
      )
      return response
    })
  }
