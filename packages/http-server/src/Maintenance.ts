/**
 * The reaper: while the service runs, it deletes idempotency keys past their retention and webhook deliveries that
 * were processed long enough ago that Meta will not redeliver them (its retries stop after 7 days).
 *
 * The sweeper of unconfirmed sends: it fails the sends whose outcome nothing settled in time (the core's
 * `Inbox.expireUnconfirmedSends`). Every process runs its own; the storage makes concurrent sweeps safe.
 */
import { IdempotencyStore, Inbox } from "@parley/core"
import { WebhookInbox } from "@parley/postgres"
import { DateTime, Duration, Effect, Layer, Schedule } from "effect"

export interface MaintenanceOptions {
  /** How often it runs (default hourly). */
  readonly every?: Duration.DurationInput | undefined
  /** How long processed webhook deliveries are kept (default 8 days: Meta's 7 days of retries, plus a margin). */
  readonly keepProcessedWebhooks?: Duration.DurationInput | undefined
  /** How often the sweeper of unconfirmed sends runs (default every minute). */
  readonly sweepUnconfirmedEvery?: Duration.DurationInput | undefined
}

/** One pass: what it deleted. */
export const reap = (keepProcessedWebhooks: Duration.DurationInput) =>
  Effect.gen(function* () {
    const keys = yield* IdempotencyStore
    const inbox = yield* WebhookInbox.WebhookInbox
    const now = yield* DateTime.now
    const idempotencyKeys = yield* keys.purgeExpired(now)
    const webhookDeliveries = yield* inbox.purgeProcessed(DateTime.subtractDuration(now, keepProcessedWebhooks))
    return { idempotencyKeys, webhookDeliveries }
  }).pipe(Effect.withSpan("Maintenance.reap"))

export const worker = (
  options: MaintenanceOptions = {}
): Layer.Layer<never, never, IdempotencyStore | WebhookInbox.WebhookInbox> => {
  const every = options.every ?? Duration.hours(1)
  const keep = options.keepProcessedWebhooks ?? Duration.days(8)
  return Layer.scopedDiscard(
    reap(keep).pipe(
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
