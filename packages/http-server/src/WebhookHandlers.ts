/**
 * Meta's webhook endpoints. GET answers the verification handshake. POST checks `X-Hub-Signature-256` over the raw
 * bytes (bad or missing → 401, nothing stored), stores the delivery durably (dedupe by body), wakes the worker and
 * answers 200. It never processes the delivery itself: Meta times out long before a large batch would be applied,
 * and only the worker claims deliveries, so none is processed twice.
 */
import { HttpApiBuilder, HttpServerResponse } from "@effect/platform"
import { WebhookInbox } from "@parley/postgres"
import { Webhook } from "@parley/whatsapp-cloud"
import { DateTime, Effect, Either, Option, type Redacted } from "effect"
import { Api } from "./Api.js"
import { ApiError } from "./ApiError.js"
import { toApiError } from "./ErrorMapping.js"
import * as Metrics from "./Metrics.js"
import { WebhookProcessor } from "./WebhookProcessor.js"

export interface WebhookSettings {
  /** `WHATSAPP_APP_SECRET`: unset → every POST is refused (503). */
  readonly appSecret: Option.Option<Redacted.Redacted<string>>
  /** `WHATSAPP_VERIFY_TOKEN`: unset → every handshake is refused (503). */
  readonly verifyToken: Option.Option<Redacted.Redacted<string>>
}

const notConfigured = (variable: string) =>
  ApiError.make(503, "webhook_not_configured", `webhooks are off: set ${variable}`)

export const WebhooksLive = (settings: WebhookSettings) =>
  HttpApiBuilder.group(Api, "webhooks", (handlers) =>
    Effect.gen(function* () {
      const store = yield* WebhookInbox.WebhookInbox
      const processor = yield* WebhookProcessor
      return handlers
        .handle("verifyWebhook", ({ urlParams }) =>
          Option.match(settings.verifyToken, {
            onNone: () => Effect.fail(notConfigured("WHATSAPP_VERIFY_TOKEN")),
            onSome: (token) =>
              Either.match(Webhook.verifyHandshake(urlParams, token), {
                onLeft: (refused) => Effect.fail(ApiError.make(403, "webhook_verification_failed", refused.message)),
                onRight: Effect.succeed
              })
          })
        )
        .handleRaw("receiveWebhook", ({ request }) =>
          Effect.gen(function* () {
            const secret = yield* Option.match(settings.appSecret, {
              onNone: () => Effect.fail(notConfigured("WHATSAPP_APP_SECRET")),
              onSome: Effect.succeed
            })
            const body = new Uint8Array(yield* Effect.orDie(request.arrayBuffer))
            const verified = Webhook.verifySignature(body, request.headers[Webhook.signatureHeader], secret)
            if (Either.isLeft(verified)) {
              yield* Effect.annotateLogs(Effect.logWarning("webhook signature rejected"), {
                reason: verified.left.reason
              })
              yield* Metrics.countWebhook("rejected")
              return yield* Effect.fail(ApiError.make(401, "invalid_signature", verified.left.message))
            }
            const receivedAt = yield* DateTime.now
            const appended = yield* store.append({ body, receivedAt }).pipe(Effect.mapError(toApiError))
            yield* Metrics.countWebhook(appended._tag === "Stored" ? "received" : "duplicate")
            // Already durable: the worker applies it at once (or, if this process dies now, after its restart).
            if (appended._tag === "Stored") yield* processor.wake
            return HttpServerResponse.unsafeJson({
              message: "Webhook received",
              data: { delivery: appended._tag === "Stored" ? "stored" : "duplicate" }
            })
          })
        )
    })
  )
