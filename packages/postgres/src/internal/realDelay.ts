/**
 * A wait on a real timer, not the Effect clock: for background work whose timing bounds real delivery (wake-ups,
 * revocation acknowledgements), which a test clock standing still must not hold back.
 */
import { Effect } from "effect"

export const realDelay = (ms: number): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    const timer = setTimeout(() => resume(Effect.void), ms)
    return Effect.sync(() => clearTimeout(timer))
  })
