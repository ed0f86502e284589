/**
 * What every answer must be, whatever was asked: no 5xx, an answer within a bounded time, and for a 4xx the
 * documented error body `{ message, error: { code, details? } }`, small, with `Allow` on a 405. Tallies what was
 * seen, for the figures the suite prints.
 */
import { expect } from "vitest"

export interface Sent {
  readonly method: string
  readonly path: string
  readonly headers: Readonly<Record<string, string>>
  readonly body?: string | Uint8Array | undefined
}

export interface Tally {
  requests: number
  /** Requests fetch would not send (never reached the server). */
  refusedByClient: number
  byStatus: Record<string, number>
  slowestMs: number
}

export const emptyTally = (): Tally => ({ requests: 0, refusedByClient: 0, byStatus: {}, slowestMs: 0 })

/** A request that has not been answered after this long is a hang. */
export const answerTimeoutMs = 15_000

/** Largest error body: 20 issues of at most 200 characters each fit well within it. */
export const maxErrorBodyBytes = 16 * 1024

export const describeRequest = (r: Sent) => {
  const size = r.body === undefined ? 0 : typeof r.body === "string" ? r.body.length : r.body.byteLength
  const headers = Object.fromEntries(
    Object.entries(r.headers).map(([k, v]) => [k, k === "authorization" ? `${v.slice(0, 12)}…` : v.slice(0, 80)])
  )
  const preview = typeof r.body === "string" ? r.body.slice(0, 200) : r.body === undefined ? "" : "<bytes>"
  return `${r.method} ${r.path.slice(0, 300)} headers=${JSON.stringify(headers)} body(${size})=${JSON.stringify(preview)}`
}

/** Sends `request` to `baseUrl` and checks the answer; throws (with the request described) when it breaks a rule. */
export const sendAndCheck = async (baseUrl: string, request: Sent, tally: Tally): Promise<number> => {
  const started = performance.now()
  let response: Response
  let text: string
  try {
    response = await fetch(`${baseUrl}${request.path}`, {
      method: request.method,
      headers: request.headers,
      ...(request.body === undefined ? {} : { body: request.body }),
      signal: AbortSignal.timeout(answerTimeoutMs)
    })
    // A granted live stream (Server-Sent Events) never ends by design: its answer is its status and headers.
    const live = response.ok && (response.headers.get("content-type") ?? "").startsWith("text/event-stream")
    if (live) await response.body?.cancel()
    text = live ? "" : await response.text()
  } catch (error) {
    // fetch refuses to build some requests itself (a header value it cannot send): a TypeError other than "fetch
    // failed", raised before anything reaches the server. A network failure (reset, closed, timeout) is a failure.
    if (error instanceof TypeError && error.message !== "fetch failed") {
      tally.refusedByClient++
      return -1
    }
    const cause = error instanceof Error ? ` (${String(error.cause)})` : ""
    throw new Error(`no answer: ${String(error)}${cause} ← ${describeRequest(request)}`)
  }
  const elapsed = performance.now() - started
  tally.requests++
  tally.byStatus[response.status] = (tally.byStatus[response.status] ?? 0) + 1
  tally.slowestMs = Math.max(tally.slowestMs, Math.round(elapsed))
  const context = `${response.status} ${text.slice(0, 300)} ← ${describeRequest(request)}`
  expect(response.status, context).toBeLessThan(500)
  if (response.status >= 400) {
    expect(response.headers.get("content-type") ?? "", context).toMatch(/^application\/json/)
    expect(Buffer.byteLength(text), context).toBeLessThan(maxErrorBodyBytes)
    const body: unknown = JSON.parse(text)
    expect(body, context).toEqual({
      message: expect.any(String),
      error: expect.objectContaining({ code: expect.stringMatching(/^[a-z][a-z0-9_]*$/) })
    })
    const error = (body as { error: Record<string, unknown> }).error
    expect(
      Object.keys(error).filter((k) => k !== "code" && k !== "details"),
      context
    ).toEqual([])
    if (response.status === 405) expect(response.headers.get("allow") ?? "", context).not.toBe("")
  }
  return response.status
}

export const summary = (name: string, seed: number, tally: Tally) =>
  `fuzz ${name}: seed=${seed} requests=${tally.requests} statuses=${JSON.stringify(tally.byStatus)} ` +
  `5xx=${Object.entries(tally.byStatus)
    .filter(([s]) => Number(s) >= 500)
    .reduce((n, [, c]) => n + c, 0)} slowestMs=${tally.slowestMs} refusedByClient=${tally.refusedByClient}`

/** Seed, runs and time budget: short in CI, long on demand (PARLEY_FUZZ_RUNS, PARLEY_FUZZ_SECONDS, PARLEY_FUZZ_SEED). */
export const settings = (defaultRuns: number, defaultSeconds: number) => {
  const seed = Number(process.env.PARLEY_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31))
  const runs = Number(process.env.PARLEY_FUZZ_RUNS ?? defaultRuns)
  const seconds = Number(process.env.PARLEY_FUZZ_SECONDS ?? defaultSeconds)
  return { seed, runs, seconds }
}
