/**
 * How the suite's clients talk to Parley: one HTTP request to one process, with a timeout, turned into an
 * `Attempt` (what the client was told, or that it was told nothing).
 */
import type { Answer, Attempt } from "./History.js"

export interface Sent {
  readonly attempt: Attempt
  /** The parsed JSON body, when there was one. */
  readonly body: unknown
  readonly retryAfterSeconds: number | null
}

const field = (value: unknown, ...path: ReadonlyArray<string>): unknown => {
  let current = value
  for (const name of path) {
    if (typeof current !== "object" || current === null) return undefined
    current = (current as Record<string, unknown>)[name]
  }
  return current
}

const stringField = (value: unknown, ...path: ReadonlyArray<string>) => {
  const found = field(value, ...path)
  return typeof found === "string" ? found : null
}

export const request = async (
  clock: () => number,
  slot: number,
  url: string,
  init: { readonly method: string; readonly headers?: Record<string, string>; readonly body?: string },
  timeoutMillis: number
): Promise<Sent> => {
  const start = clock()
  try {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMillis) })
    const text = await response.text()
    let body: unknown = null
    try {
      body = text === "" ? null : JSON.parse(text)
    } catch {
      body = null
    }
    const answer: Answer = {
      kind: "http",
      status: response.status,
      code: stringField(body, "error", "code"),
      messageId: stringField(body, "data", "id") ?? stringField(body, "error", "details", "messageId"),
      deliveryStatus: stringField(body, "data", "deliveryStatus"),
      replayed: response.headers.get("idempotent-replayed") === "true"
    }
    const retryAfter = Number(response.headers.get("retry-after"))
    return {
      attempt: { slot, start, end: clock(), answer },
      body,
      retryAfterSeconds: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : null
    }
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : ""
    const reason = error instanceof Error ? `${error.name}${cause ? `: ${cause}` : ""}` : String(error)
    return {
      attempt: { slot, start, end: clock(), answer: { kind: "transport", reason } },
      body: null,
      retryAfterSeconds: null
    }
  }
}

export { field, stringField }
