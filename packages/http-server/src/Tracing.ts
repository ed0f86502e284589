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
import { Layer, Option } from "effect"

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

/** From `OTEL_EXPORTER_OTLP_ENDPOINT` (see `Config`): OTLP when set, off otherwise. */
export const fromEndpoint = (endpoint: Option.Option<string>): Layer.Layer<never> =>
  Option.match(endpoint, { onNone: () => layerOff, onSome: (url) => layerOtlp({ endpoint: url }) })
