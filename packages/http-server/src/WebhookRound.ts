/**
 * The worker's fast path for a round of claimed deliveries: the changes of all of them, number by number, applied
 * as one batch of messages and one batch of statuses per number (one transaction each), then every delivery marked
 * processed in one statement. A round of sixteen deliveries of fifty messages costs about as many statements and
 * commits as one delivery did one by one.
 *
 * Only what the fast path can apply exactly as the one-by-one path would is taken: a delivery on its first attempt
 * (so none of its items has failed or been set aside yet), that decodes, whose numbers all belong to a business.
 * Everything else, and every delivery of a number whose batch the database refused, is returned for the one-by-one
 * path, which isolates bad items, keeps unknown numbers aside and schedules retries. Applying again what the fast
 * path already applied is harmless: messages are deduplicated by provider id and statuses only ever raise a rank.
 *
 * Within a round, as within one delivery, a number's messages are applied before its statuses; each in the order
 * of the deliveries' receipt, then of the payload.
 */
import {
  type InboundMessage,
  Inbox,
  type ProviderName,
  type StatusUpdate,
  type WhatsAppNumber,
  WhatsAppNumberDirectory
} from "@parley/core"
import { WebhookInbox } from "@parley/postgres"
import { DateTime, Effect, Either, Option } from "effect"
import * as Metrics from "./Metrics.js"
import { decodeDelivery } from "./WebhookDecoding.js"

interface NumberRound {
  readonly provider: ProviderName
  readonly providerPhoneNumberId: string
  readonly inbound: Array<InboundMessage>
  readonly statuses: Array<StatusUpdate>
  readonly deliveries: Set<WebhookInbox.DeliveryId>
  readonly skipped: Array<string>
  readonly errors: Array<string>
}

export const makeRound = Effect.gen(function* () {
  const inbox = yield* Inbox.Inbox
  const numbers = yield* WhatsAppNumberDirectory
  const store = yield* WebhookInbox.WebhookInbox

  /** Applies one number's changes of the round; whether the database took them all. */
  const applyNumber = (number: WhatsAppNumber, round: NumberRound) =>
    Effect.gen(function* () {
      if (round.inbound.length > 0) yield* inbox.receiveInbound(number, round.inbound)
      if (round.statuses.length > 0) yield* inbox.applyDeliveryStatus(number, round.statuses)
      yield* Effect.annotateLogs(Effect.logInfo("webhook applied"), {
        deliveries: Array.from(round.deliveries),
        businessId: number.businessId,
        messages: round.inbound.length,
        statuses: round.statuses.length,
        failed: 0,
        skipped: round.skipped,
        errors: round.errors
      })
    }).pipe(Effect.either)

  /**
   * Applies what it can of `claimed` and marks those deliveries processed; returns the rest, in order, for the
   * one-by-one path. `applyTemplateChanges` is the processor's (the reason of a failure, if any). Never fails: a
   * storage error only sends deliveries to the one-by-one path.
   */
  const apply = (
    claimed: ReadonlyArray<WebhookInbox.WebhookDelivery>,
    applyTemplateChanges: (payload: unknown) => Effect.Effect<Option.Option<string>>
  ): Effect.Effect<ReadonlyArray<WebhookInbox.WebhookDelivery>> =>
    Effect.gen(function* () {
      const rest = new Set<WebhookInbox.DeliveryId>()
      const payloads = new Map<WebhookInbox.DeliveryId, unknown>()
      const rounds = new Map<string, NumberRound>()
      for (const delivery of claimed) {
        const decoded =
          delivery.attempts === 1 ? decodeDelivery(delivery.provider, delivery.body, delivery.receivedAt) : undefined
        if (decoded === undefined || Either.isLeft(decoded)) {
          rest.add(delivery.id)
          continue
        }
        payloads.set(delivery.id, decoded.right.payload)
        for (const updates of decoded.right.batch) {
          const key = `${delivery.provider}\u0000${updates.providerPhoneNumberId}`
          const round = rounds.get(key) ?? {
            provider: delivery.provider,
            providerPhoneNumberId: updates.providerPhoneNumberId,
            inbound: [],
            statuses: [],
            deliveries: new Set(),
            skipped: [],
            errors: []
          }
          round.inbound.push(...updates.inbound)
          round.statuses.push(...updates.statuses)
          round.deliveries.add(delivery.id)
          round.skipped.push(...updates.skipped.map((s) => `${s.kind}: ${s.reason}`))
          round.errors.push(...updates.errors.map((e) => `${e.code} ${e.title}`))
          rounds.set(key, round)
        }
      }
      for (const round of rounds.values()) {
        const number = yield* Effect.either(numbers.findByProviderId(round.providerPhoneNumberId, round.provider))
        // An unknown number is kept aside, and a failed batch isolated, by the one-by-one path.
        const applied =
          Either.isRight(number) && Option.isSome(number.right)
            ? Either.isRight(yield* applyNumber(number.right.value, round))
            : false
        if (!applied) for (const id of round.deliveries) rest.add(id)
      }
      const done: Array<WebhookInbox.WebhookDelivery> = []
      for (const delivery of claimed) {
        if (rest.has(delivery.id)) continue
        // Template reviews come from Meta's webhooks only (Twilio's Content API is read by template sync).
        const templateFailure = yield* applyTemplateChanges(
          delivery.provider === "whatsapp_cloud" ? payloads.get(delivery.id) : null
        )
        if (Option.isSome(templateFailure)) rest.add(delivery.id)
        else done.push(delivery)
      }
      const now = yield* DateTime.now
      const marked = yield* Effect.either(
        store.markProcessedAll(
          done.map((d) => d.id),
          now
        )
      )
      // Not marked: the leases run out and the deliveries are claimed again, and applied again harmlessly.
      if (Either.isRight(marked)) {
        for (const delivery of done) {
          yield* Metrics.countWebhook("processed")
          yield* Metrics.recordLag(DateTime.distanceDuration(delivery.receivedAt, now))
        }
      }
      return claimed.filter((d) => rest.has(d.id))
    }).pipe(Effect.withSpan("WebhookProcessor.round", { attributes: { deliveries: claimed.length } }))

  return { apply }
})
