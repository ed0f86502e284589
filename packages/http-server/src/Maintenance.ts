/**
 * The reaper: while the service runs, it deletes idempotency keys past their retention, webhook deliveries that
 * were processed long enough ago that Meta will not redeliver them (its retries stop after 7 days), and events
 * older than their retention (`PARLEY_EVENT_RETENTION`, 7 days by default), in bounded batches. Outbound webhook
 * deliveries that are final (succeeded, failed, dead) and their attempts go after the same retention: the delivery
 * log answers "what happened to this event" for as long as the feed still serves the event. Events a pending
 * delivery has yet to send are kept past it (`EventLog.purge`), so a retry never loses its body.
 *
 * The sweeper of unconfirmed sends: it fails the sends whose outcome nothing settled in time (the core's
 * `Inbox.expireUnconfirmedSends`). Every process runs its own; the storage makes concurrent sweeps safe.
 */
import { EventLog, IdempotencyStore, Inbox } from "@parley/core"
import { WebhookDeliveries, WebhookInbox } from "@parley/postgres"
import { DateTime, Duration, Effect, Layer, Schedule } from "effect"

export interface MaintenanceOptions {
  /** How often it runs (default hourly). */
  readonly every?: Duration.DurationInput | undefined
  /** How long processed webhook deliveries are kept (default 8 days: Meta's 7 days of retries, plus a margin). */
  readonly keepProcessedWebhooks?: Duration.DurationInput | undefined
  /** How long events are kept in the feed (default 7 days). */
  readonly keepEvents?: Duration.DurationInput | undefined
  /** How often the sweeper of unconfirmed sends runs (default every minute). */
  readonly sweepUnconfirmedEvery?: Duration.DurationInput | undefined
}

export const defaultEventRetention = Duration.days(7)

/** Events deleted per statement: a large backlog goes in several short transactions, not one long one. */
const eventBatch = 5000

/** Runs a bounded purge batch after batch until one comes back short; answers the total. */
const inBatches = <E, R>(purge: (limit: number) => Effect.Effect<number, E, R>) =>
  Effect.gen(function* () {
    let total = 0
    for (;;) {
      const purged = yield* purge(eventBatch)
      total += purged
      if (purged < eventBatch) return total
    }
  })

/**
 * Deletes the events stored before `cutoff`, batch after batch, except those a pending outbound webhook delivery
 * still has to send (the adapter keeps them).
 */
export const purgeEvents = (cutoff: DateTime.Utc) =>
  Effect.flatMap(EventLog, (log) => inBatches((limit) => log.purge({ cutoff, limit })))

/** Deletes the final outbound webhook deliveries (and their attempts) last updated before `cutoff`. */
export const purgeEndpointDeliveries = (cutoff: DateTime.Utc) =>
  Effect.flatMap(WebhookDeliveries.WebhookDeliveries, (deliveries) =>
    inBatches((limit) => deliveries.purgeFinal({ cutoff, limit }))
  )

/** One pass: what it deleted. */
export const reap = (
  keepProcessedWebhooks: Duration.DurationInput,
  keepEvents: Duration.DurationInput = defaultEventRetention
) =>
  Effect.gen(function* () {
    const keys = yield* IdempotencyStore
    const inbox = yield* WebhookInbox.WebhookInbox
    const now = yield* DateTime.now
    const idempotencyKeys = yield* keys.purgeExpired(now)
    const webhookDeliveries = yield* inbox.purgeProcessed(DateTime.subtractDuration(now, keepProcessedWebhooks))
    const eventCutoff = DateTime.subtractDuration(now, keepEvents)
    const endpointDeliveries = yield* purgeEndpointDeliveries(eventCutoff)
    const events = yield* purgeEvents(eventCutoff)
    return { idempotencyKeys, webhookDeliveries, endpointDeliveries, events }
  }).pipe(Effect.withSpan("Maintenance.reap"))

export const worker = (
  options: MaintenanceOptions = {}
): Layer.Layer<
  never,
  never,
  IdempotencyStore | WebhookInbox.WebhookInbox | WebhookDeliveries.WebhookDeliveries | EventLog
> => {
  const every = options.every ?? Duration.hours(1)
  const keep = options.keepProcessedWebhooks ?? Duration.days(8)
  return Layer.scopedDiscard(
    reap(keep, options.keepEvents ?? defaultEventRetention).pipe(
      Effect.tap((purged) => Effect.logInfo("maintenance: expired records purged").pipe(Effect.annotateLogs(purged))),
      Effect.catchAllCause((cause) => Effect.logWarning("maintenance step failed", cause)),
      Effect.repeat(Schedule.spaced(every)),
      Effect.forkScoped
    )
  )
}

export const unconfirmedSweeper = (options: MaintenanceOptions = {}): Layer.Layer<never, never, Inbox.Inbox> => {
  const every = options.sweepUnconfirmedEvery ?? Duration.minutes(1)
  return Layer.scopedDiscard(
    Effect.flatMap(Inbox.Inbox, (inbox) => inbox.expireUnconfirmedSends()).pipe(
      Effect.tap((expired) =>
        expired > 0
          ? Effect.logWarning("maintenance: unconfirmed sends failed as delivery_unconfirmed").pipe(
              Effect.annotateLogs({ expired })
            )
          : Effect.void
      ),
      Effect.catchAllCause((cause) => Effect.logWarning("unconfirmed-send sweep failed", cause)),
      Effect.repeat(Schedule.spaced(every)),
      Effect.forkScoped
    )
  )
}
