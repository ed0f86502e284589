/**
 * The whole service as one layer: the HTTP server (listening first, answering 503 while the rest starts), the API
 * with its middlewares and handlers, `/openapi.json` and `/docs`, the inbox on the given storage, the WhatsApp Cloud
 * API gateway and template sync, and the webhook retry worker. `main.ts` builds it from the environment; tests build
 * it on a test database and the fake Cloud API.
 */
import { HttpApiBuilder, type HttpServer, type HttpServerError, OpenApi } from "@effect/platform"
import { NodeHttpClient, NodeHttpServer } from "@effect/platform-node"
import type * as SqlClient from "@effect/sql/SqlClient"
import { GatewayRouter, Inbox, layerUuidV7, MediaLibrary } from "@parley/core"
import {
  ApiKeys,
  Listing,
  SecretRotation,
  type Secrets,
  SqlRateLimitStore,
  type Storage,
  Tenancy,
  WebhookAttempts,
  WebhookDeliveries,
  WebhookEndpoints,
  WebhookInbox
} from "@parley/postgres"
import { TwilioGateway, TwilioTemplateSync } from "@parley/twilio"
import { CloudApiGateway, NumberThroughput, TemplateSync } from "@parley/whatsapp-cloud"
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
import * as MediaDirectory from "./MediaDirectory.js"
import { MediaLive } from "./MediaHandlers.js"
import { MessagingLive } from "./MessagingHandlers.js"
import * as Metrics from "./Metrics.js"
import { makeHandle, type ServerHandle, shutdownGrace } from "./NodeServer.js"
import * as RateLimit from "./RateLimit.js"
import * as Tracing from "./Tracing.js"
import * as TwilioWebhookHandlers from "./TwilioWebhookHandlers.js"
import { AdminWebhookEndpointsLive, WebhookEndpointsLive, WebhookSettings } from "./WebhookEndpointHandlers.js"
import { WebhooksLive } from "./WebhookHandlers.js"
import * as WebhookProcessor from "./WebhookProcessor.js"
import * as WebhookWorker from "./WebhookWorker.js"

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
  /** Twilio numbers: where its APIs are (default Twilio's own; tests give the fake Twilio API's). */
  readonly twilio?:
    | {
        readonly apiUrl?: string | undefined
        readonly contentUrl?: string | undefined
        /** Typing indicators, Twilio's only read receipts. */
        readonly messagingUrl?: string | undefined
        /** Gateway tuning (timeouts, retries), e.g. for tests. */
        readonly gateway?:
          | Omit<TwilioGateway.Options, "apiBaseUrl" | "contentBaseUrl" | "statusCallbackUrl">
          | undefined
      }
    | undefined
  /**
   * `PARLEY_PUBLIC_URL`: the URL the world reaches the service at (scheme, host, optional path prefix, no trailing
   * slash). Twilio's webhook signatures are checked over it and status callbacks are addressed to it; without it
   * Twilio webhooks are refused (503) and sends ask for no status callbacks.
   */
  readonly publicUrl?: string | undefined
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
  /**
   * A directory where the first download of a message's file keeps a copy, so it outlives WhatsApp's retention
   * (`PARLEY_MEDIA_DIR`). Unset: files are always streamed from WhatsApp.
   */
  readonly mediaDir?: string | undefined
  /** How long shutdown waits for in-flight requests (default 10 seconds). */
  readonly shutdownGrace?: Duration.DurationInput | undefined
  /**
   * Outbound webhooks: whether endpoints may be private addresses or plain http (default neither), and the
   * delivery worker's tuning; `worker: false` runs no worker in this process (another process delivers).
   */
  readonly outboundWebhooks?:
    | {
        readonly allowPrivateTargets?: boolean | undefined
        readonly allowHttp?: boolean | undefined
        readonly worker?: Omit<WebhookWorker.WorkerOptions, "allowPrivateTargets" | "allowHttp"> | false | undefined
      }
    | undefined
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

  const publicUrl = Option.fromNullable(options.publicUrl)
  const twilioOptions: TwilioGateway.Options = {
    ...options.twilio?.gateway,
    ...(options.twilio?.apiUrl === undefined ? {} : { apiBaseUrl: options.twilio.apiUrl }),
    ...(options.twilio?.contentUrl === undefined ? {} : { contentBaseUrl: options.twilio.contentUrl }),
    ...(options.twilio?.messagingUrl === undefined ? {} : { messagingBaseUrl: options.twilio.messagingUrl }),
    statusCallbackUrl: TwilioWebhookHandlers.statusCallbackUrl(publicUrl)
  }

  const base = Layer.mergeAll(storage, layerUuidV7, NodeHttpClient.layerUndici)
  const outbound = {
    allowPrivateTargets: options.outboundWebhooks?.allowPrivateTargets ?? false,
    allowHttp: options.outboundWebhooks?.allowHttp ?? false
  }
  const outboundWorker = options.outboundWebhooks?.worker
  // The gateway finds the store in its context; without one it limits in memory.
  // Each number's sends go to its provider's gateway. The window and every other rule are the inbox's, checked
  // before any gateway is called.
  const gateway = GatewayRouter.layer(
    Effect.all({
      whatsapp_cloud: CloudApiGateway.make(gatewayOptions),
      twilio: TwilioGateway.make(twilioOptions)
    })
  )
  // The Cloud API gateway finds the store in its context; without one it limits in memory.
  const limited =
    options.sharedRateLimits === true
      ? Layer.merge(gateway, RateLimit.layerStore({ perMinute: options.rateLimitPerMinute })).pipe(
          Layer.provide(SqlRateLimitStore.layer())
        )
      : Layer.merge(gateway, RateLimit.layer({ perMinute: options.rateLimitPerMinute }))
  const adapters = Layer.mergeAll(
    ApiKeys.layer,
    Tenancy.layer,
    WebhookInbox.layer,
    limited,
    NumberThroughput.layer({
      baseUrl: gatewayOptions.baseUrl,
      apiVersion: gatewayOptions.apiVersion,
      ...(options.whatsapp.gateway?.requestTimeout === undefined
        ? {}
        : { requestTimeout: options.whatsapp.gateway.requestTimeout }),
      ...(options.whatsapp.gateway?.retry === undefined ? {} : { retry: options.whatsapp.gateway.retry })
    }),
    TemplateSync.layer({
      baseUrl: gatewayOptions.baseUrl,
      apiVersion: gatewayOptions.apiVersion,
      ...(options.whatsapp.gateway?.requestTimeout === undefined
        ? {}
        : { requestTimeout: options.whatsapp.gateway.requestTimeout }),
      ...(options.whatsapp.gateway?.retry === undefined ? {} : { retry: options.whatsapp.gateway.retry })
    }),
    // A Twilio number's templates come from Twilio's Content API.
    TwilioTemplateSync.layer({
      ...(options.twilio?.contentUrl === undefined ? {} : { contentBaseUrl: options.twilio.contentUrl }),
      ...(options.twilio?.gateway?.requestTimeout === undefined
        ? {}
        : { requestTimeout: options.twilio.gateway.requestTimeout }),
      ...(options.twilio?.gateway?.retry === undefined ? {} : { retry: options.twilio.gateway.retry })
    }),
    // Secrets and operations: failed authentications per address, key rotation.
    AuthFailureLimit.layer({ perMinute: options.authFailuresPerMinute ?? 0 }),
    SecretRotation.layer,
    Listing.layer,
    WebhookEndpoints.layer,
    WebhookDeliveries.layer,
    WebhookAttempts.layer,
    Layer.succeed(WebhookSettings, outbound)
  )
  const services = WebhookProcessor.layerWith(options.webhookProcessing ?? {}).pipe(
    Layer.provideMerge(
      options.mediaDir === undefined
        ? MediaLibrary.layer
        : MediaLibrary.layer.pipe(Layer.provide(MediaDirectory.layer(options.mediaDir)))
    ),
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
      MediaLive,
      EventsLive({ stopping, heartbeat: options.events?.heartbeat }),
      AdminHandlersLive,
      AdminListHandlersLive,
      AdminWebhooksLive,
      AdminSecretsLive,
      AdminWebhookEndpointsLive,
      WebhookEndpointsLive,
      WebhooksLive({ appSecret: options.whatsapp.appSecret, verifyToken: options.whatsapp.verifyToken }),
      TwilioWebhookHandlers.TwilioWebhooksLive({ publicUrl }),
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
    Maintenance.unconfirmedSweeper(options.maintenance),
    outboundWorker === false ? Layer.empty : WebhookWorker.layer({ ...outboundWorker, ...outbound })
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
