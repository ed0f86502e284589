/**
 * The fake Cloud API's answer to `GET /{version}/{phone-number-id}?fields=throughput`: each number's throughput
 * level as Meta reports it, `STANDARD` (80 messages per second) unless a test or sandbox user set another.
 * Kept apart from the fake's sends, templates and webhooks; the fake routes the request and its control here.
 */

/** The levels Meta reports; `NOT_APPLICABLE` when no Cloud API tier applies to the number. */
export type ThroughputLevel = "STANDARD" | "HIGH" | "NOT_APPLICABLE"

const levels: ReadonlySet<string> = new Set<ThroughputLevel>(["STANDARD", "HIGH", "NOT_APPLICABLE"])

export const isThroughputLevel = (value: unknown): value is ThroughputLevel =>
  typeof value === "string" && levels.has(value)

/** The path of a phone number node, `/{version}/{phone-number-id}`: its id, or null for any other path. */
export const phoneNumberIdOf = (path: string): string | null => {
  const match = /^\/v[^/]+\/(\d+)\/?$/.exec(path)
  return match ? decodeURIComponent(match[1] ?? "") : null
}

export class ThroughputLevels {
  readonly #levels = new Map<string, ThroughputLevel>()
  readonly #initial: Readonly<Record<string, ThroughputLevel>>

  constructor(initial: Readonly<Record<string, ThroughputLevel>> = {}) {
    this.#initial = initial
    this.reset()
  }

  /** Sets the level the fake reports for `phoneNumberId`. */
  set(phoneNumberId: string, level: ThroughputLevel): void {
    this.#levels.set(phoneNumberId, level)
  }

  get(phoneNumberId: string): ThroughputLevel {
    return this.#levels.get(phoneNumberId) ?? "STANDARD"
  }

  /** Back to the levels the fake was started with. */
  reset(): void {
    this.#levels.clear()
    for (const [id, level] of Object.entries(this.#initial)) this.#levels.set(id, level)
  }

  /** Meta's answer: the requested fields of the number (only `throughput` is known here) and its id. */
  answer(phoneNumberId: string, fields: string | null): Record<string, unknown> {
    const requested = new Set((fields ?? "").split(",").map((f) => f.trim()))
    return {
      ...(requested.has("throughput") ? { throughput: { level: this.get(phoneNumberId) } } : {}),
      id: phoneNumberId
    }
  }
}
