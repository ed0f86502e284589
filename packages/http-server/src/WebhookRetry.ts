/**
 * When a failed webhook attempt is tried again. The waits after each failure (5 s, 5 min, 30 min, 2 h, 5 h, 10 h,
 * 14 h, 20 h, 24 h: 3 days 3 h 35 min in all, before jitter) follow what established senders do; each is stretched
 * by up to 20 % of random jitter so endpoints that failed together do not all come back at once. A `Retry-After`
 * longer than the step is honoured, up to the longest step.
 */
import { Duration, Option } from "effect"

export const schedule: ReadonlyArray<Duration.Duration> = [
  Duration.seconds(5),
  Duration.minutes(5),
  Duration.minutes(30),
  Duration.hours(2),
  Duration.hours(5),
  Duration.hours(10),
  Duration.hours(14),
  Duration.hours(20),
  Duration.hours(24)
]

/** The largest share of a step added as jitter. */
export const jitter = 0.2

const longest = Duration.toMillis(Duration.hours(24))

/**
 * The wait before the next attempt after failed attempt number `attemptInRun` (1 for the first), or none when the
 * schedule is exhausted. `random` is in [0, 1).
 */
export const delayAfter = (
  attemptInRun: number,
  random: number,
  retryAfterMs?: number | undefined
): Option.Option<number> => {
  const step = schedule[attemptInRun - 1]
  if (step === undefined) return Option.none()
  const base = Duration.toMillis(step)
  const jittered = Math.round(base * (1 + jitter * Math.min(Math.max(random, 0), 1)))
  const asked = retryAfterMs === undefined ? 0 : Math.min(retryAfterMs, longest)
  return Option.some(Math.max(jittered, asked))
}

/** `Retry-After` as milliseconds: delta-seconds or an HTTP date; anything else is ignored. */
export const parseRetryAfter = (value: string | undefined, nowMs: number): number | undefined => {
  if (value === undefined) return undefined
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000
  const date = Date.parse(trimmed)
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs)
}

/** What a response means for the delivery: 2xx succeeds, 410 stops and disables, anything else (3xx too) retries. */
export const classify = (statusCode: number): "succeeded" | "gone" | "retry" =>
  statusCode >= 200 && statusCode < 300 ? "succeeded" : statusCode === 410 ? "gone" : "retry"
