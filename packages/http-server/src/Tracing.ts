/**
 * Traces over OpenTelemetry. Spans come from the code itself: the HTTP server (one per request), the core's use
 * cases (`Inbox.sendText`, ...), the storage operations and their SQL statements, the gateway and its HTTP calls to
 * the Graph API, with the W3C `traceparent` passed along.
 *
 * Exported over OTLP/HTTP (JSON) by `@effect/opentelemetry`'s own exporter, which needs no OpenTelemetry SDK at run
 * time, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set. Otherwise tracing is switched off altogether: spans are no-ops,
 * nothing is recorded or kept.
 */
import { OtlpSerialization, OtlpTracer } from "@effect/opentelemetry"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, Option, Tracer } from "effect"

export interface OtlpOptions {
  /** The collector's base URL, e.g. `http://localhost:4318`; traces go to `<endpoint>/v1/traces`. */
  readonly endpoint: string
  readonly serviceName?: string | undefined
  readonly serviceVersion?: string | undefined
}

/** Exports every span to an OTLP/HTTP collector, in batches (every 5 s or 1000 spans), flushing on shutdown. */
export const layerOtlp = (options: OtlpOptions): Layer.Layer<never> =>
  OtlpTracer.layer({
    url: `${options.endpoint.replace(/\/+$/, "")}/v1/traces`,
    resource: { serviceName: options.serviceName ?? "parley", serviceVersion: options.serviceVersion ?? "0.1.0" }
  }).pipe(Layer.provide(OtlpSerialization.layerJson), Layer.provide(NodeHttpClient.layerUndici))

/** No tracer: `withSpan` and the HTTP spans become no-ops (the zero-cost default of the standalone service). */
export const layerOff: Layer.Layer<never> = Layer.setTracerEnabled(false)

/** `a=1&b=2` → `a=REDACTED&b=REDACTED`: names tell what was asked, values may be a phone number or a token. */
const redactQuery = (query: string) =>
  query
    .split("&")
    .map((pair) => {
      const eq = pair.indexOf("=")
      return eq === -1 ? pair : `${pair.slice(0, eq)}=REDACTED`
    })
    .join("&")

const redactAttribute = (key: string, value: unknown): unknown => {
  if (typeof value !== "string") return value
  if (key === "url.query") return redactQuery(value)
  if (key === "url.full") {
    const q = value.indexOf("?")
    return q === -1 ? value : `${value.slice(0, q)}?${redactQuery(value.slice(q + 1))}`
  }
  return value
}

/**
 * The HTTP server and client spans record the URL with its query string: a conversation search by phone number,
 * Meta's `hub.verify_token`. This tracer keeps the parameter names and replaces their values before any exporter
 * sees them.
 */
export const redactingQueries = (tracer: Tracer.Tracer): Tracer.Tracer =>
  Tracer.make({
    span: (name, parent, context, links, startTime, kind, options) => {
      const span = tracer.span(name, parent, context, links, startTime, kind, options)
      return new Proxy(span, {
        get: (target, property, receiver) => {
          if (property === "attribute") {
            return (key: string, value: unknown) => target.attribute(key, redactAttribute(key, value))
          }
          const value: unknown = Reflect.get(target, property, receiver)
          return typeof value === "function" ? value.bind(target) : value
        }
      })
    },
    context: (f, fiber) => tracer.context(f, fiber)
  })

/** Wraps whatever tracer is installed (by a layer built before this one) with {@link redactingQueries}. */
export const layerRedacting: Layer.Layer<never> = Layer.unwrapEffect(
  Effect.map(Effect.tracer, (tracer) => Layer.setTracer(redactingQueries(tracer)))
)

/** From `OTEL_EXPORTER_OTLP_ENDPOINT` (see `Config`): OTLP when set, off otherwise. */
export const fromEndpoint = (endpoint: Option.Option<string>): Layer.Layer<never> =>
  Option.match(endpoint, { onNone: () => layerOff, onSome: (url) => layerOtlp({ endpoint: url }) })
