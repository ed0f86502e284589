/**
 * The whole service as one layer: the HTTP server (listening first, answering 503 while the rest starts), the API
 * with its middlewares and handlers, `/openapi.json` and `/docs`, the inbox on the given storage, the WhatsApp Cloud
 * API gateway and template sync, and the webhook retry worker. `main.ts` builds it from the environment; tests build
 * it on a test database and the fake Cloud API.
 */
import { HttpApiBuilder, type HttpServer, type HttpServerError, OpenApi } from "@effect/platform"
import { NodeHttpClient, NodeHttpServer } from "@effect/platform-node"
import type * as SqlClient from "@effect/sql/SqlClient"
import { Inbox, layerUuidV7 } from "@parley/core"
import {
  ApiKeys,
  Listing,
  SecretRotation,
  type Secrets,
  SqlRateLimitStore,
  type Storage,
  Tenancy,
  WebhookInbox
} from "@parley/postgres"
import { CloudApiGateway, TemplateSync } from "@parley/whatsapp-cloud"
import { Deferred, type Duration, Effect, FiberId, Layer, Option, type Redacted } from "effect"
import { AdminHandlersLive } from "./AdminHandlersLive.js"
import { AdminListHandlersLive } from "./AdminListHandlers.js"
import { AdminSecretsLive } from "./AdminSecretsHandlers.js"
import { AdminWebhooksLive } from "./AdminWebhookHandlers.js"
import { Api } from "./Api.js"
import { AdminAuthLive, ApiKeyAuthLive } from "./Authentication.js"
import * as AuthFailureLimit from "./AuthFailureLimit.js"
import * as CursorSigning from "./CursorSigning.js"
import * as Docs from "./Docs.js"
import * as Edge from "./Edge.js"
import { EventsLive } from "./EventHandlers.js"
import { HealthLive } from "./HealthHandlers.js"
import * as Maintenance from "./Maintenance.js"
import { MessagingLive } from "./MessagingHandlers.js"
import * as Metrics from "./Metrics.js"
import { makeHandle, type ServerHandle, shutdownGrace } from "./NodeServer.js"
import * as RateLimit from "./RateLimit.js"
import * as Tracing from "./Tracing.js"
import { WebhooksLive } from "./WebhookHandlers.js"
import * as WebhookProcessor from "./WebhookProcessor.js"

export interface ServerOptions {
  readonly port: number
  readonly host: string
  readonly adminToken: Redacted.Redacted<string>
  readonly whatsapp: {
    /** Base URL of the Graph API (or of the fake Cloud API). */
    readonly apiUrl: string
    readonly apiVersion: string
    readonly appSecret: Option.Option<Redacted.Redacted<string>>
    readonly verifyToken: Option.Option<Redacted.Redacted<string>>
    /** Gateway tuning (timeouts, retries, throughput), e.g. for tests. */
    readonly gateway?: Omit<CloudApiGateway.Options, "baseUrl" | "apiVersion"> | undefined
  }
  /**
   * Installs the tracer every span goes to (`Tracing.layerOtlp`, `Tracing.layerOff`, or a test's in-memory SDK);
   * without it, Effect's default tracer.
   */
  readonly tracing?: Layer.Layer<never> | undefined
  /** `/metrics`: off unless a token or the public opt-in is given. */
  readonly metrics?: Metrics.MetricsOptions | undefined
  /**
   * The secret the API's cursors are signed with (a key is derived from it); the service passes its secret key.
   * Without one, a random key per process.
   */
  readonly cursorSecret?: Redacted.Redacted<string> | undefined
  /** Requests per minute per API key; 0 turns the limit off. */
  readonly rateLimitPerMinute: number
  /** Failed authentications per minute per client address before 429 (default 0: off; the service sets 20). */
  readonly authFailuresPerMinute?: number | undefined
  /**
   * Keep the rate limits (per API key, per number, per recipient) in the database, so they hold across every process
   * on it (several processes on one PostgreSQL). Default false: in this process's memory (embedded PGlite).
   */
  readonly sharedRateLimits?: boolean | undefined
  readonly maxBodyBytes?: number | undefined
  readonly maxWebhookBodyBytes?: number | undefined
  /**
   * How often the webhook worker looks for work nobody woke it for: deliveries stored by other processes, failed ones
   * due for a retry, expired leases (default 1 second). A delivery stored by this process is processed at once.
   */
  readonly webhookRetryEvery?: Duration.DurationInput | undefined
  /** Item retries of the webhook worker (attempts before an item is set aside, first retry delay). */
  readonly webhookProcessing?: WebhookProcessor.ProcessorOptions | undefined
  /** The reaper of expired idempotency keys and old webhook deliveries (default hourly), and the sweeper. */
  readonly maintenance?: Maintenance.MaintenanceOptions | undefined
  /** How long a send whose outcome is unknown stays `pending` before it fails (default 15 minutes). */
  readonly unconfirmedSendTimeout?: Duration.DurationInput | undefined
  /** How long shutdown waits for in-flight requests (default 10 seconds). */
  readonly shutdownGrace?: Duration.DurationInput | undefined
  /** The live event stream: the heartbeat comment's interval (default 15 seconds). */
  readonly events?: { readonly heartbeat?: Duration.DurationInput | undefined } | undefined
  /** Runs after the server listens and before the service is built (tests hold startup open with it). */
  readonly beforeStart?: Effect.Effect<void> | undefined
  /** The server handle (in-flight count, drain), for tests. */
  readonly handle?: ServerHandle | undefined
}

/** What the service stores through: the core's ports, the `SqlClient` and `Secrets`, migrated. */
export type StorageLayer<E> = Layer.Layer<Storage.Ports | SqlClient.SqlClient | Secrets.Secrets, E>

const httpMethods = new Set(["get", "put", "post", "delete", "options", "head", "patch", "trace"])

/** Every route served, for `Allow` on a 405: the API's, and the two documentation routes. */
const routes = [
  ...Object.entries(OpenApi.fromApi(Api).paths).flatMap(([path, item]) =>
    Object.keys(item)
      .filter((key) => httpMethods.has(key))
      .map((method) => ({ method, path }))
  ),
  { method: "GET", path: "/openapi.json" },
  { method: "GET", path: "/docs" }
]

export const layer = <E>(
  options: ServerOptions,
  storage: StorageLayer<E>
): Layer.Layer<HttpServer.HttpServer, E | HttpServerError.ServeError> => {
  const handle = options.handle ?? makeHandle()
  // Completed when shutdown begins: live event streams end then, instead of holding the drain until its timeout.
  const stopping = Deferred.unsafeMake<void>(FiberId.none)
  const gatewayOptions = {
    ...options.whatsapp.gateway,
    baseUrl: options.whatsapp.apiUrl,
    apiVersion: options.whatsapp.apiVersion
  }

  const base = Layer.mergeAll(storage, layerUuidV7, NodeHttpClient.layerUndici)
  // The gateway finds the store in its context; without one it limits in memory.
  const limited =
    options.sharedRateLimits === true
      ? Layer.merge(
          CloudApiGateway.layer(gatewayOptions),
          RateLimit.layerStore({ perMinute: options.rateLimitPerMinute })
        ).pipe(Layer.provide(SqlRateLimitStore.layer()))
      : Layer.merge(CloudApiGateway.layer(gatewayOptions), RateLimit.layer({ perMinute: options.rateLimitPerMinute }))
  const adapters = Layer.mergeAll(
    ApiKeys.layer,
    Tenancy.layer,
    WebhookInbox.layer,
    limited,
    TemplateSync.layer({
      baseUrl: gatewayOptions.baseUrl,
      apiVersion: gatewayOptions.apiVersion,
      ...(options.whatsapp.gateway?.requestTimeout === undefined
        ? {}
        : { requestTimeout: options.whatsapp.gateway.requestTimeout }),
      ...(options.whatsapp.gateway?.retry === undefined ? {} : { retry: options.whatsapp.gateway.retry })
    }),
    // Secrets and operations: failed authentications per address, key rotation.
    AuthFailureLimit.layer({ perMinute: options.authFailuresPerMinute ?? 0 }),
    SecretRotation.layer,
    Listing.layer
  )
  const services = WebhookProcessor.layerWith(options.webhookProcessing ?? {}).pipe(
    Layer.provideMerge(
      Inbox.layer(
        options.unconfirmedSendTimeout === undefined ? {} : { unconfirmedSendTimeout: options.unconfirmedSendTimeout }
      )
    ),
    Layer.provideMerge(adapters),
    Layer.provideMerge(base)
  )

  const api = HttpApiBuilder.api(Api).pipe(
    Layer.provide([
      MessagingLive,
      EventsLive({ stopping, heartbeat: options.events?.heartbeat }),
      AdminHandlersLive,
      AdminListHandlersLive,
      AdminWebhooksLive,
      AdminSecretsLive,
      WebhooksLive({ appSecret: options.whatsapp.appSecret, verifyToken: options.whatsapp.verifyToken }),
      HealthLive
    ]),
    Layer.provide([
      ApiKeyAuthLive,
      AdminAuthLive(options.adminToken),
      CursorSigning.layer(Option.fromNullable(options.cursorSecret))
    ])
  )

  const serve = HttpApiBuilder.serve().pipe(
    // Middlewares built later wrap those built earlier, and `Layer.provide`s lower in this pipe are built first:
    // Metrics wraps Docs, which wraps Edge, so every answer is measured with its final status.
    Layer.provide(HttpApiBuilder.middleware(Metrics.measure(options.metrics))),
    Layer.provide(HttpApiBuilder.middleware(Docs.serve)),
    Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" })),
    Layer.provide(
      HttpApiBuilder.middleware(
        Edge.make({ maxBodyBytes: options.maxBodyBytes, maxWebhookBodyBytes: options.maxWebhookBodyBytes, routes })
      )
    ),
    Layer.provide(api)
  )

  const running = Layer.mergeAll(
    serve,
    WebhookProcessor.worker(options.webhookRetryEvery ?? WebhookProcessor.defaultPollEvery),
    Maintenance.worker(options.maintenance),
    Maintenance.unconfirmedSweeper(options.maintenance)
  )

  // Acquired last, released first: in-flight requests finish before the service underneath is torn down.
  const drain = Layer.scopedDiscard(
    Effect.addFinalizer(() =>
      Effect.zipRight(Deferred.succeed(stopping, undefined), handle.drain(options.shutdownGrace ?? shutdownGrace))
    )
  )

  return drain.pipe(
    Layer.provide(running),
    Layer.provide(services),
    Layer.provide(Layer.effectDiscard(options.beforeStart ?? Effect.void)),
    Layer.provideMerge(NodeHttpServer.layer(handle.create, { port: options.port, host: options.host })),
    // Built first, so the server and every fiber it starts use this tracer, with query strings redacted.
    Layer.provide(Tracing.layerRedacting),
    Layer.provide(options.tracing ?? Layer.empty)
  )
}
