/**
 * Turns stored webhook deliveries into inbox changes, in the worker: every entry, change, message and status of the
 * payload, read with the delivery's provider's decoder (Meta's JSON, Twilio's form) and routed by the provider's id
 * of the number (Meta's `phone_number_id`, Twilio's sender E.164) to its business. The request only stores the delivery and wakes the
 * worker (`wake`), so Meta gets its 200 in milliseconds whatever the batch holds, and only the worker claims a
 * delivery: no delivery is processed by two hands at once. Redeliveries and reordering are harmless (the core
 * dedupes messages by wamid and only ever raises a status).
 *
 * The worker claims up to `defaultRoundSize` deliveries at a time; those on their first attempt are applied together
 * (WebhookRound.ts), and everything else one delivery at a time, below.
 *
 * Items are isolated: a number's messages (then its statuses) are applied as one batch; when the database refuses
 * the batch, its halves are applied, down to single items, so only the bad items fail. A failed item is retried with its delivery, up
 * to `maxItemAttempts`, then set aside as a dead letter (listed and replayed through the admin API) and skipped;
 * the delivery then counts as processed. Changes for a number no business owns are kept aside and replayed by the
 * worker once a business registers that number.
 */

import * as SqlClient from "@effect/sql/SqlClient"
import {
  type InboundMessage,
  Inbox,
  Phone,
  type ProviderName,
  type StatusUpdate,
  type StorageError,
  type WhatsAppNumber,
  WhatsAppNumberDirectory
} from "@parley/core"
import { SqlTemplateCatalog, WebhookInbox } from "@parley/postgres"
import { Webhook } from "@parley/whatsapp-cloud"
import { Context, DateTime, Duration, Effect, Either, Layer, Option, Queue, Schedule } from "effect"
import * as Metrics from "./Metrics.js"
import { decodeDelivery, decodeKept } from "./WebhookDecoding.js"
import * as WebhookRound from "./WebhookRound.js"

/**
 * How many times an item the database refuses is tried (with its delivery's retries) before it is set aside as a
 * dead letter. Retries are spaced 5 s, 10 s, 20 s, 40 s apart, so a transient fault has over a minute to pass.
 */
export const maxItemAttempts = 5

/**
 * A claimed delivery is leased this long, and the worker renews the lease every `leaseRenewEvery` while it applies
 * the delivery: a long batch keeps its claim, and a worker killed mid-delivery (kill -9, a lost connection) leaves
 * it to be claimed again within seconds rather than minutes.
 */
export const deliveryLease: Duration.Duration = Duration.seconds(30)
export const leaseRenewEvery: Duration.Duration = Duration.seconds(10)

/** How long the worker waits between looks at the inbox when nothing wakes it (other processes' deliveries). */
export const defaultPollEvery: Duration.Duration = Duration.seconds(1)

/** The first retry's delay; each later one doubles it, up to five minutes. */
export const defaultRetryDelay: Duration.Duration = Duration.seconds(5)

/**
 * Deliveries claimed per round: their changes are applied together, a few statements per number for the whole round
 * (see WebhookRound.ts), so a round stays a bounded batch.
 */
export const defaultRoundSize = 16

/**
 * Rounds applied at once by one process's worker (`worker`) when deliveries back up. Two overlap one round's
 * decoding in this process with another's statements in the database, where one loop leaves each idle half the
 * time; they share the queue as the workers of several processes do (leases, `SKIP LOCKED`). The first loop polls
 * and is woken by each stored delivery; the others join only when a round was full.
 */
export const defaultWorkerLoops = 2

export interface ProcessorOptions {
  /** Default `defaultRoundSize`; 1 applies deliveries one at a time. */
  readonly roundSize?: number | undefined
  /** Default `maxItemAttempts`. */
  readonly maxItemAttempts?: number | undefined
  /** Default `defaultRetryDelay` (tests shorten it). */
  readonly retryDelay?: Duration.DurationInput | undefined
}

/** What an operator's replay of a failed item did. */
export interface Replayed {
  readonly failure: WebhookInbox.ItemFailure
  readonly applied: boolean
}

export class WebhookProcessor extends Context.Tag("@parley/http-server/WebhookProcessor")<
  WebhookProcessor,
  {
    /** Tells the worker that something is waiting (a delivery stored, a number registered). Never blocks. */
    readonly wake: Effect.Effect<void>
    /**
     * Claims and processes deliveries until none is pending, then replays kept-aside changes whose number is now
     * registered (the worker's step). Returns how many deliveries it processed.
     */
    readonly drain: Effect.Effect<number, StorageError>
    /** Applies a failed item again now; `None` when there is no such item. */
    readonly replay: (failureId: string) => Effect.Effect<Option.Option<Replayed>, StorageError>
    /** Waits until woken, or at most `every`. */
    readonly awaitWork: (every: Duration.DurationInput) => Effect.Effect<void>
    /** Waits until a `drain` claims a full round (more deliveries may be waiting behind it). */
    readonly awaitBacklog: Effect.Effect<void>
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

/** PostgreSQL text cannot hold NUL: keys and errors are stored with it spelled out, so recording never fails. */
const storable = (s: string) => s.replaceAll("\u0000", "\\u0000")

/** A provider's number id for a log line: Twilio's is an E.164 number, masked like every number Parley logs. */
const loggable = (providerPhoneNumberId: string) =>
  providerPhoneNumberId.startsWith("+") ? Phone.mask(providerPhoneNumberId) : providerPhoneNumberId

const messageKey = (message: InboundMessage) => storable(`message:${message.providerMessageId}`)
const statusKey = (update: StatusUpdate) => storable(`status:${update.providerMessageId}:${update.status}`)
const numberKey = "number"

/** One log line with structured fields (never message text or full phone numbers). */
const logWith = (level: "Info" | "Warning", message: string, fields: Record<string, unknown>) =>
  Effect.annotateLogs(level === "Info" ? Effect.logInfo(message) : Effect.logWarning(message), fields)

/** Where a number's changes come from: a stored delivery, or changes kept aside from one. */
interface Source {
  /** Whose webhook it is: the number is routed within that provider. */
  readonly provider: ProviderName
  readonly deliveryId: string
  readonly receivedAt: DateTime.Utc
  /** The whole parsed payload, for keeping a part aside. */
  readonly payload: unknown
}

export const makeWith = (options: ProcessorOptions = {}) =>
  Effect.gen(function* () {
    const maxAttempts = options.maxItemAttempts ?? maxItemAttempts
    const firstDelay = Duration.toMillis(options.retryDelay ?? defaultRetryDelay)
    const retryDelay = (attempts: number) =>
      Duration.millis(Math.min(300_000, firstDelay * 2 ** Math.max(0, attempts - 1)))
    const inbox = yield* Inbox.Inbox
    const numbers = yield* WhatsAppNumberDirectory
    const store = yield* WebhookInbox.WebhookInbox
    const sql = yield* SqlClient.SqlClient
    const signal = yield* Queue.sliding<void>(1)
    const wake = Effect.asVoid(Queue.offer(signal, undefined))
    const backlog = yield* Queue.sliding<void>(1)
    const roundSize = Math.max(1, Math.floor(options.roundSize ?? defaultRoundSize))
    const round = yield* WebhookRound.makeRound

    /**
     * Meta's template status changes (`message_template_status_update`): each sets the status of the WABA's
     * templates and records `template.status_updated`. Idempotent (an unchanged status changes nothing), so a
     * redelivered or retried payload is harmless. The reason of a failure, if any.
     */
    const applyTemplateChanges = (payload: unknown) =>
      Effect.forEach(
        Webhook.templateStatusChanges(payload),
        (change) =>
          SqlTemplateCatalog.applyProviderStatus(change).pipe(Effect.provideService(SqlClient.SqlClient, sql)),
        { discard: true }
      ).pipe(
        Effect.as(Option.none<string>()),
        Effect.catchAll((error) => Effect.succeed(Option.some(`template status: ${error.reason}`)))
      )

    /**
     * Applies a batch; when the database refuses it, each half again, down to single items, so only the bad items
     * fail, and a few bad items among thousands cost a few dozen batches rather than one per item.
     */
    const isolate = <A>(
      items: ReadonlyArray<A>,
      apply: (batch: ReadonlyArray<A>) => Effect.Effect<unknown, StorageError>,
      failed: (item: A, error: StorageError) => WebhookInbox.ItemFailed
    ): Effect.Effect<ReadonlyArray<WebhookInbox.ItemFailed>> =>
      items.length === 0
        ? Effect.succeed([])
        : apply(items).pipe(
            Effect.as([]),
            Effect.catchAll((error) => {
              const [only] = items
              if (items.length === 1 && only !== undefined) return Effect.succeed([failed(only, error)])
              const half = Math.ceil(items.length / 2)
              return Effect.zipWith(
                isolate(items.slice(0, half), apply, failed),
                isolate(items.slice(half), apply, failed),
                (a, b) => [...a, ...b]
              )
            })
          )

    /** Applies one number's messages and statuses; the items that failed. Items in `skip` are left alone. */
    const applyRouted = (
      number: WhatsAppNumber,
      updates: Webhook.NumberUpdates,
      skip: (itemKey: string) => boolean,
      source: Source
    ) =>
      Effect.gen(function* () {
        const pnid = storable(updates.providerPhoneNumberId)
        const inbound = updates.inbound.filter((m) => !skip(messageKey(m)))
        const statuses = updates.statuses.filter((s) => !skip(statusKey(s)))
        const failedMessages = yield* isolate(
          inbound,
          (batch) => inbox.receiveInbound(number, batch),
          (m, error) => ({ providerPhoneNumberId: pnid, kind: "message", itemKey: messageKey(m), error: error.message })
        )
        const failedStatuses = yield* isolate(
          statuses,
          (batch) => inbox.applyDeliveryStatus(number, batch),
          (s, error) => ({ providerPhoneNumberId: pnid, kind: "status", itemKey: statusKey(s), error: error.message })
        )
        yield* logWith("Info", "webhook applied", {
          delivery: source.deliveryId,
          businessId: number.businessId,
          messages: inbound.length - failedMessages.length,
          statuses: statuses.length - failedStatuses.length,
          failed: failedMessages.length + failedStatuses.length,
          setAside: updates.inbound.length - inbound.length + updates.statuses.length - statuses.length,
          from: inbound
            .slice(0, 20)
            .map((m) => (m.customer.phone._tag === "Some" ? Phone.mask(m.customer.phone.value) : "…")),
          skipped: updates.skipped.map((s) => `${s.kind}: ${s.reason}`),
          errors: updates.errors.map((e) => `${e.code} ${e.title}`)
        })
        return [...failedMessages, ...failedStatuses]
      })

    /** Routes one number's changes: applied for its business, or kept aside when no business owns the number. */
    const applyNumber = (
      updates: Webhook.NumberUpdates,
      skip: (itemKey: string) => boolean,
      source: Source
    ): Effect.Effect<ReadonlyArray<WebhookInbox.ItemFailed>> => {
      const pnid = updates.providerPhoneNumberId
      const numberFailed = (error: StorageError): ReadonlyArray<WebhookInbox.ItemFailed> => [
        { providerPhoneNumberId: storable(pnid), kind: "number", itemKey: numberKey, error: error.message }
      ]
      if (skip(numberKey)) return Effect.succeed([])
      return numbers.findByProviderId(pnid, source.provider).pipe(
        Effect.flatMap(
          Option.match({
            onSome: (number) => applyRouted(number, updates, skip, source),
            onNone: () =>
              store
                .keepUnrouted({
                  provider: source.provider,
                  providerPhoneNumberId: pnid,
                  deliveryId: source.deliveryId,
                  payload: changesFor(source.payload, pnid),
                  receivedAt: source.receivedAt
                })
                .pipe(
                  Effect.zipRight(
                    logWith("Warning", "webhook for an unknown phone_number_id kept aside", {
                      delivery: source.deliveryId,
                      provider: source.provider,
                      // Twilio's id is the sender's E.164: masked like every phone number in the logs.
                      phoneNumberId: loggable(pnid)
                    })
                  ),
                  Effect.as([])
                )
          })
        ),
        Effect.catchAll((error) => Effect.succeed(numberFailed(error)))
      )
    }

    /** Applies every number's changes of a payload, skipping items set aside; records what failed. */
    const applyPayload = (batch: Webhook.WebhookBatch, source: Source, only?: string) =>
      Effect.gen(function* () {
        const dead = yield* store.deadItems(source.deliveryId)
        const failed: Array<WebhookInbox.ItemFailed> = []
        for (const updates of batch) {
          if (only !== undefined && updates.providerPhoneNumberId !== only) continue
          const pnid = storable(updates.providerPhoneNumberId)
          const skip = (itemKey: string) => dead.some((d) => d.providerPhoneNumberId === pnid && d.itemKey === itemKey)
          failed.push(...(yield* applyNumber(updates, skip, source)))
        }
        const now = yield* DateTime.now
        const recorded =
          failed.length === 0
            ? []
            : yield* store.recordFailures({
                deliveryId: source.deliveryId,
                failures: failed,
                at: now,
                maxAttempts
              })
        for (const failure of recorded) {
          if (failure.state === "dead") yield* Metrics.countWebhook("dead_lettered")
          yield* logWith("Warning", failure.state === "dead" ? "webhook item set aside" : "webhook item failed", {
            delivery: source.deliveryId,
            failure: failure.id,
            phoneNumberId: loggable(failure.providerPhoneNumberId),
            kind: failure.kind,
            attempts: failure.attempts,
            reason: failure.lastError
          })
        }
        if (only === undefined) yield* store.resolveRetrying(source.deliveryId, failed, now)
        return recorded
      })

    const processDelivery = (delivery: WebhookInbox.WebhookDelivery) =>
      Effect.gen(function* () {
        const decoded = decodeDelivery(delivery.provider, delivery.body, delivery.receivedAt)
        if (Either.isLeft(decoded)) {
          // Signed by the provider but unreadable: retrying cannot help. It stays stored for inspection.
          yield* logWith("Warning", "webhook payload not understood", {
            delivery: delivery.id,
            reason: decoded.left.reason
          })
          return yield* store.markProcessed(delivery.id, yield* DateTime.now)
        }
        const recorded = yield* applyPayload(decoded.right.batch, {
          provider: delivery.provider,
          deliveryId: delivery.id,
          receivedAt: delivery.receivedAt,
          payload: decoded.right.payload
        })
        const retrying = recorded.filter((f) => f.state === "retrying")
        // Template reviews come from Meta's webhooks only (Twilio's Content API is read by template sync).
        const templateFailure = yield* applyTemplateChanges(
          delivery.provider === "whatsapp_cloud" ? decoded.right.payload : null
        )
        const now = yield* DateTime.now
        if (retrying.length === 0 && Option.isNone(templateFailure)) {
          yield* Metrics.countWebhook("processed")
          yield* Metrics.recordLag(DateTime.distanceDuration(delivery.receivedAt, now))
          return yield* store.markProcessed(delivery.id, now)
        }
        yield* Metrics.countWebhook("failed")
        yield* store.markFailed(
          delivery.id,
          Option.getOrElse(templateFailure, () => `${retrying.length} item(s) failed: ${retrying[0]?.lastError ?? ""}`),
          DateTime.addDuration(now, retryDelay(delivery.attempts))
        )
      }).pipe(Effect.withSpan("WebhookProcessor.processDelivery"))

    /** Kept-aside changes whose number a business registered since: applied, then forgotten once nothing retries. */
    const replayUnrouted = (kept: WebhookInbox.UnroutedWebhook) =>
      Effect.gen(function* () {
        const decoded = decodeKept(kept.provider, kept.payload, kept.receivedAt)
        if (Either.isRight(decoded)) {
          const recorded = yield* applyPayload(
            decoded.right,
            {
              provider: kept.provider,
              deliveryId: kept.deliveryId,
              receivedAt: kept.receivedAt,
              payload: kept.payload
            },
            kept.providerPhoneNumberId
          )
          if (recorded.some((f) => f.state === "retrying")) return
        }
        yield* store.dropUnrouted(kept.providerPhoneNumberId, kept.deliveryId, kept.provider)
        yield* logWith("Info", "kept-aside webhook replayed for a newly registered number", {
          delivery: kept.deliveryId,
          provider: kept.provider,
          phoneNumberId: loggable(kept.providerPhoneNumberId)
        })
      })

    /** One delivery by the one-by-one path; its failure is recorded on it, for a retry. */
    const processOne = (delivery: WebhookInbox.WebhookDelivery) =>
      processDelivery(delivery).pipe(
        Effect.catchAll((error) =>
          Effect.flatMap(DateTime.now, (at) =>
            Effect.zipRight(
              logWith("Warning", "webhook processing failed; it will be retried", {
                delivery: delivery.id,
                reason: error.message
              }),
              // A failure that came with a lost connection may fail this write too: retry it briefly; if it
              // still fails, the lease runs out and the delivery is claimed again anyway.
              store
                .markFailed(delivery.id, error.message, DateTime.addDuration(at, retryDelay(delivery.attempts)))
                .pipe(Effect.retry({ times: 3, schedule: Schedule.exponential("200 millis") }))
            )
          )
        )
      )

    const drain = Effect.gen(function* () {
      let handled = 0
      while (true) {
        const now = yield* DateTime.now
        const claimed = yield* store.claim({
          limit: roundSize,
          now,
          leaseUntil: DateTime.addDuration(now, deliveryLease)
        })
        if (claimed.length === 0) break
        // A full round may leave more behind: a helper loop (`worker`) takes the next round meanwhile.
        if (claimed.length === roundSize) yield* Queue.offer(backlog, undefined)
        const finished = new Set<WebhookInbox.DeliveryId>()
        // Every claimed delivery keeps its lease until its own outcome is written (a no-op once processed).
        const renewLeases = Effect.flatMap(DateTime.now, (at) =>
          Effect.forEach(
            claimed.filter((d) => !finished.has(d.id)),
            (d) => Effect.ignore(store.extendLease(d.id, DateTime.addDuration(at, deliveryLease))),
            { discard: true }
          )
        ).pipe(Effect.delay(leaseRenewEvery), Effect.forever)
        yield* Effect.gen(function* () {
          const rest = yield* round.apply(claimed, applyTemplateChanges)
          for (const d of claimed) if (!rest.includes(d)) finished.add(d.id)
          for (const delivery of rest) {
            yield* processOne(delivery)
            finished.add(delivery.id)
          }
        }).pipe(
          // The renewal never ends by itself: the round's own outcome decides, and stops the renewal.
          Effect.raceFirst(renewLeases),
          // Stopping (shutdown) mid-round hands its unfinished deliveries back at once instead of leaving them leased.
          Effect.onInterrupt(() =>
            Effect.flatMap(DateTime.now, (at) =>
              Effect.forEach(
                claimed.filter((d) => !finished.has(d.id)),
                (d) => Effect.ignore(store.markFailed(d.id, "the worker stopped while applying it", at)),
                { discard: true }
              )
            )
          )
        )
        handled += claimed.length
      }
      for (const kept of yield* store.listRoutableUnrouted(100)) yield* replayUnrouted(kept)
      return handled
    })

    const replay = (failureId: string) =>
      Effect.gen(function* () {
        const found = yield* store.findFailure(failureId)
        if (Option.isNone(found)) return Option.none<Replayed>()
        const failure = found.value
        const attempt = yield* replayItem(failure)
        const now = yield* DateTime.now
        const updated = yield* store.recordReplay(
          failure.id,
          Option.isNone(attempt) ? { _tag: "Applied", at: now } : { _tag: "Failed", error: attempt.value, at: now }
        )
        yield* logWith("Info", "webhook item replayed", {
          failure: failure.id,
          delivery: failure.deliveryId,
          applied: Option.isNone(attempt)
        })
        return Option.map(updated, (f) => ({ failure: f, applied: Option.isNone(attempt) }))
      }).pipe(Effect.withSpan("WebhookProcessor.replay"))

    /** Applies the one item a failure names, from its delivery's body; the error when it fails again. */
    const replayItem = (failure: WebhookInbox.ItemFailure): Effect.Effect<Option.Option<string>, StorageError> =>
      Effect.gen(function* () {
        const delivery = yield* store.findDelivery(failure.deliveryId)
        if (Option.isNone(delivery)) return Option.some("the delivery is no longer stored")
        const provider = delivery.value.provider
        const decoded = decodeDelivery(provider, delivery.value.body, delivery.value.receivedAt)
        if (Either.isLeft(decoded)) return Option.some(`the delivery does not decode: ${decoded.left.reason}`)
        const updates = decoded.right.batch.find(
          (u) => storable(u.providerPhoneNumberId) === failure.providerPhoneNumberId
        )
        if (updates === undefined) return Option.some("the delivery holds no changes for this phone_number_id")
        const source: Source = {
          provider,
          deliveryId: failure.deliveryId,
          receivedAt: delivery.value.receivedAt,
          payload: decoded.right.payload
        }
        if (failure.kind === "number") {
          const failed = yield* applyNumber(updates, () => false, source)
          const again = failed.find((f) => f.kind === "number")
          const items = failed.filter((f) => f.kind !== "number")
          if (items.length > 0) {
            const now = yield* DateTime.now
            yield* store.recordFailures({ deliveryId: failure.deliveryId, failures: items, at: now, maxAttempts: 1 })
          }
          return Option.fromNullable(again?.error)
        }
        const number = yield* numbers.findByProviderId(updates.providerPhoneNumberId, provider)
        if (Option.isNone(number)) return Option.some("no business owns this phone_number_id")
        const apply: Effect.Effect<unknown, StorageError> | undefined =
          failure.kind === "message"
            ? Option.match(Option.fromNullable(updates.inbound.find((m) => messageKey(m) === failure.itemKey)), {
                onNone: () => undefined,
                onSome: (m) => inbox.receiveInbound(number.value, [m])
              })
            : Option.match(Option.fromNullable(updates.statuses.find((s) => statusKey(s) === failure.itemKey)), {
                onNone: () => undefined,
                onSome: (s) => inbox.applyDeliveryStatus(number.value, [s])
              })
        if (apply === undefined) return Option.some("the delivery no longer holds this item")
        return yield* apply.pipe(
          Effect.as(Option.none<string>()),
          Effect.catchAll((error) => Effect.succeed(Option.some(error.message)))
        )
      })

    const awaitWork = (every: Duration.DurationInput) =>
      Effect.raceFirst(Queue.take(signal), Effect.sleep(every)).pipe(Effect.asVoid)

    return WebhookProcessor.of({ wake, drain, replay, awaitWork, awaitBacklog: Queue.take(backlog) })
  })

export const make = makeWith()

export const layer = Layer.effect(WebhookProcessor, make)

export const layerWith = (options: ProcessorOptions) => Layer.effect(WebhookProcessor, makeWith(options))

/**
 * Processes deliveries as soon as it is woken, and looks every `every` for deliveries stored by other processes,
 * failed ones due for a retry and expired leases. `loops - 1` more loops join whenever a round was full (see
 * `defaultWorkerLoops`).
 */
export const worker = (
  every: Duration.DurationInput = defaultPollEvery,
  loops: number = defaultWorkerLoops
): Layer.Layer<never, never, WebhookProcessor> =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const processor = yield* WebhookProcessor
      const step = processor.drain.pipe(
        Effect.catchAllCause((cause) => Effect.logWarning("webhook worker step failed", cause))
      )
      yield* Effect.forkScoped(Effect.forever(Effect.zipRight(step, processor.awaitWork(every))))
      // Helpers only join a backlog, so deliveries that arrive together below a full round stay one round.
      for (let i = 1; i < Math.floor(loops); i++) {
        yield* Effect.forkScoped(Effect.forever(Effect.zipRight(processor.awaitBacklog, step)))
      }
    })
  )
