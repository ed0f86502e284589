/**
 * The run's only source of randomness: a seeded generator (mulberry32), so `FAULT_SEED=<seed>` replays the same
 * choices. Timing still varies from run to run (the machine decides how fast processes start and answer), so a
 * replay reproduces the schedule of load and faults, not every interleaving.
 */
export interface Random {
  /** In [0, 1). */
  readonly next: () => number
  /** An integer in [min, max]. */
  readonly int: (min: number, max: number) => number
  readonly chance: (p: number) => boolean
  readonly pick: <A>(items: ReadonlyArray<A>) => A
  /** A new generator derived from this one, so one actor's draws do not shift another's. */
  readonly fork: () => Random
}

export const make = (seed: number): Random => {
  let state = seed >>> 0
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1))
  return {
    next,
    int,
    chance: (p) => next() < p,
    pick: <A>(items: ReadonlyArray<A>): A => {
      if (items.length === 0) throw new Error("pick from an empty list")
      return items[int(0, items.length - 1)] as A
    },
    fork: () => make(int(0, 2 ** 32 - 1))
  }
}

/** `FAULT_SEED` if set (decimal), else a fresh one. */
export const seedFromEnv = (env: NodeJS.ProcessEnv = process.env): number => {
  const raw = env.FAULT_SEED?.trim()
  if (raw !== undefined && raw !== "") {
    if (!/^\d+$/.test(raw) || Number(raw) > 2 ** 32 - 1) {
      throw new Error(`FAULT_SEED must be an integer from 0 to ${2 ** 32 - 1}, got ${JSON.stringify(raw)}`)
    }
    return Number(raw)
  }
  return Math.floor(Math.random() * 2 ** 32)
}
