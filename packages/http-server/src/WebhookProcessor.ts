/**
 * Turns a stored webhook delivery into inbox changes: every entry, change, message and status of the payload, routed
 * by Meta's `phone_number_id` to its business. Redeliveries and reordering are harmless (the core dedupes messages by
 * wamid and only ever raises a status). Changes for a number no business owns are kept aside, never attached.
 *
 * Also the worker that retries deliveries whose processing failed (or whose process died) from the durable inbox.
 */
import { Inbox, Phone, type StorageError, WhatsAppNumberDirectory } from "@parley/core"
import { WebhookInbox } from "@parley/postgres"
import { Webhook } from "@parley/whatsapp-cloud"
import { Context, DateTime, Duration, Effect, Either, Layer, Schedule } from "effect"
import * as Metrics from "./Metrics.js"

export interface Delivery {
  readonly id: string
  readonly body: Uint8Array
  readonly receivedAt: DateTime.Utc
}

export class WebhookProcessor extends Context.Tag("@parley/http-server/WebhookProcessor")<
  WebhookProcessor,
  {
    /** Applies a delivery and marks it processed; on failure it stays in the inbox for the worker. */
    readonly process: (delivery: Delivery) => Effect.Effect<void, StorageError>
    /** Claims and processes what is pending in the inbox (the worker's step). Returns how many it handled. */
    readonly drain: Effect.Effect<number, StorageError>
  }
>() {}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/** The part of a payload that concerns one phone_number_id, for keeping aside. */
const changesFor = (payload: unknown, phoneNumberId: string): unknown => {
  if (!isRecord(payload) || !Array.isArray(payload.entry)) return payload
  const entry = payload.entry
    .filter(isRecord)
    .map((e) => ({
      ...e,
      changes: Array.isArray(e.changes)
        ? e.changes.filter(
            (c: unknown) =>
              isRecord(c) &&
              isRecord(c.value) &&
              isRecord(c.value.metadata) &&
              c.value.metadata.phone_number_id === phoneNumberId
          )
        : []
    }))
    .filter((e) => e.changes.length > 0)
  return { ...payload, entry }
}

/** One log line with structured fields (never message text or full phone numbers). */
const logWith = (level: "Info" | "Warning", message: string, fields: Record<string, unknown>) =>
  Effect.annotateLogs(level === "Info" ? Effect.logInfo(message) : Effect.logWarning(message), fields)

const retryDelay = (attempts: number) => Duration.seconds(Math.min(300, 5 * 2 ** Math.max(0, attempts - 1)))

export const make = Effect.gen(function* () {
  const inbox = yield* Inbox.Inbox
  const numbers = yield* WhatsAppNumberDirectory
  const store = yield* WebhookInbox.WebhookInbox

  const apply = (delivery: Delivery) =>
    Effect.gen(function* () {
      const decoded = Webhook.decode(delivery.body)
      if (Either.isLeft(decoded)) {
        // Signed by Meta but unreadable: retrying cannot help. It stays stored for inspection.
        yield* logWith("Warning", "webhook payload not understood", {
          delivery: delivery.id,
          reason: decoded.left.reason
        })
        return
      }
      for (const updates of decoded.right) {
        const number = yield* numbers.findByProviderId(updates.providerPhoneNumberId)
        if (number._tag === "None") {
          yield* store.keepUnrouted({
            providerPhoneNumberId: updates.providerPhoneNumberId,
            deliveryId: delivery.id,
            payload: changesFor(Either.getOrNull(Webhook.parse(delivery.body)), updates.providerPhoneNumberId),
            receivedAt: delivery.receivedAt
          })
          yield* logWith("Warning", "webhook for an unknown phone_number_id kept aside", {
            delivery: delivery.id,
            phoneNumberId: updates.providerPhoneNumberId
          })
          continue
        }
        const recorded = yield* inbox.receiveInbound(number.value, updates.inbound)
        const applied = yield* inbox.applyDeliveryStatus(number.value, updates.statuses)
        yield* logWith("Info", "webhook applied", {
          delivery: delivery.id,
          businessId: number.value.businessId,
          messages: recorded.filter((r) => r._tag === "Recorded").length,
          duplicates: recorded.filter((r) => r._tag === "Duplicate").length,
          statuses: applied.filter((a) => a._tag === "Applied").length,
          parked: applied.filter((a) => a._tag === "Parked").length,
          from: updates.inbound.map((m) =>
            m.customer.phone._tag === "Some" ? Phone.mask(m.customer.phone.value) : "…"
          ),
          skipped: updates.skipped.map((s) => `${s.kind}: ${s.reason}`),
          errors: updates.errors.map((e) => `${e.code} ${e.title}`)
        })
      }
    })

  /** Marks a delivery processed, counting it and its lag since arrival. */
  const processed = (delivery: { readonly id: string; readonly receivedAt: DateTime.Utc }) =>
    Effect.flatMap(DateTime.now, (now) =>
      Effect.zipRight(
        store.markProcessed(delivery.id, now),
        Effect.zipRight(
          Metrics.countWebhook("processed"),
          Metrics.recordLag(DateTime.distanceDuration(delivery.receivedAt, now))
        )
      )
    )

  const process = (delivery: Delivery) =>
    apply(delivery).pipe(
      Effect.zipRight(processed(delivery)),
      Effect.tapError((error) =>
        Effect.flatMap(DateTime.now, (now) =>
          Effect.zipRight(
            Metrics.countWebhook("failed"),
            Effect.zipRight(
              logWith("Warning", "webhook processing failed; it will be retried", {
                delivery: delivery.id,
                reason: error.message
              }),
              Effect.ignore(store.markFailed(delivery.id, error.message, DateTime.addDuration(now, retryDelay(1))))
            )
          )
        )
      ),
      Effect.withSpan("WebhookProcessor.process")
    )

  const drain = Effect.gen(function* () {
    const now = yield* DateTime.now
    const claimed = yield* store.claim({ limit: 25, now, leaseUntil: DateTime.addDuration(now, Duration.minutes(2)) })
    for (const delivery of claimed) {
      yield* apply(delivery).pipe(
        Effect.zipRight(processed(delivery)),
        Effect.catchAll((error) =>
          Effect.flatMap(DateTime.now, (at) =>
            Effect.zipRight(
              Metrics.countWebhook("failed"),
              store.markFailed(delivery.id, error.message, DateTime.addDuration(at, retryDelay(delivery.attempts)))
            )
          )
        )
      )
    }
    return claimed.length
  })

  return WebhookProcessor.of({ process, drain })
})

export const layer = Layer.effect(WebhookProcessor, make)

/** Retries pending deliveries every `every` while the server runs. */
export const worker = (every: Duration.DurationInput): Layer.Layer<never, never, WebhookProcessor> =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const processor = yield* WebhookProcessor
      yield* processor.drain.pipe(
        Effect.catchAllCause((cause) => Effect.logWarning("webhook worker step failed", cause)),
        Effect.repeat(Schedule.spaced(every)),
        Effect.delay(every),
        Effect.forkScoped
      )
    })
  )
