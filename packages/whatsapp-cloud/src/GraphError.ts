/**
 * Meta's Graph error envelope and how each code maps onto the core's typed gateway errors and a retry class.
 *
 * Branch on `error.code` (Meta deprecates the titles); fall back to the HTTP status only when the code is unknown:
 * 401/403 → configuration, 429 → throttling, 5xx → transient, any other 4xx → a definitive rejection.
 */
import {
  ProviderMisconfigured,
  ProviderRateLimited,
  ProviderRejected,
  ProviderUnavailable,
  ProviderWindowClosed,
  RecipientInvalid,
  TemplateRejected
} from "@parley/core"
import { Either, Option, Schema } from "effect"

/** The `error` object of a Graph error response (`{ "error": { … } }`); unknown fields are ignored. */
export const GraphErrorObject = Schema.Struct({
  message: Schema.optional(Schema.String),
  type: Schema.optional(Schema.String),
  code: Schema.optional(Schema.Number),
  error_subcode: Schema.optional(Schema.Number),
  error_data: Schema.optional(
    Schema.Struct({
      messaging_product: Schema.optional(Schema.String),
      details: Schema.optional(Schema.String)
    })
  ),
  error_user_title: Schema.optional(Schema.String),
  error_user_msg: Schema.optional(Schema.String),
  is_transient: Schema.optional(Schema.Boolean),
  fbtrace_id: Schema.optional(Schema.String)
})
export type GraphErrorObject = typeof GraphErrorObject.Type

export const GraphErrorBody = Schema.Struct({ error: GraphErrorObject })
export type GraphErrorBody = typeof GraphErrorBody.Type

const decodeBody = Schema.decodeUnknownEither(Schema.parseJson(GraphErrorBody))

/** A Graph error as the gateway sees it: Meta's fields plus the HTTP status it came with. */
export interface GraphError {
  readonly httpStatus: number
  /** Meta's `error.code`; `null` when the body was not a Graph error envelope. */
  readonly code: number | null
  readonly title: string
  readonly details: string | null
  readonly fbtraceId: string | null
  readonly isTransient: boolean
}

/** Reads a non-2xx body; a body that is not Meta's envelope still gives a `GraphError` classified by status. */
export const fromResponse = (httpStatus: number, body: string): GraphError =>
  Either.match(decodeBody(body), {
    onLeft: () => ({
      httpStatus,
      code: null,
      title: `HTTP ${httpStatus}${body.length > 0 ? `: ${body.slice(0, 200)}` : ""}`,
      details: null,
      fbtraceId: null,
      isTransient: false
    }),
    onRight: ({ error }) => ({
      httpStatus,
      code: error.code !== undefined && Number.isInteger(error.code) ? error.code : null,
      title: error.message ?? error.error_user_title ?? `HTTP ${httpStatus}`,
      details: error.error_data?.details ?? error.error_user_msg ?? null,
      fbtraceId: error.fbtrace_id ?? null,
      isTransient: error.is_transient === true
    })
  })

/**
 * What the gateway does with an error:
 * - `transient`: Meta received the request and failed; nothing was accepted → retry with backoff;
 * - `rate-limited`: nothing was accepted → retry after the limit resets, if that fits the budget;
 * - `final`: never retried.
 */
export type RetryClass = "transient" | "rate-limited" | "final"

/** The core error a Graph error becomes. */
export type Outcome =
  | "window-closed"
  | "recipient-invalid"
  | "template-rejected"
  | "rate-limited"
  | "misconfigured"
  | "unavailable"
  | "rejected"

const windowClosed = new Set([131047])
/** 131021 recipient is the sender, 131026 undeliverable, 131030 not in the test allow-list. */
const recipientInvalid = new Set([131021, 131026, 131030])
/** 4 app, 80007 WABA, 130429 throughput, 131056 pair rate, 131048 spam limit, 133008/9/15/16 registration limits. */
const rateLimited = new Set([4, 80007, 130429, 131056, 131048, 133008, 133009, 133015, 133016])
/** Tokens, permissions, account state, number registration, billing, policy blocks: an operator must act. */
const misconfigured = new Set([
  0, 3, 10, 33, 190, 368, 131005, 131031, 131037, 131042, 131045, 133000, 133005, 133006, 133010, 134011
])
/** Definitive refusals of this message whatever their HTTP status (130497 comes with 403). */
const rejected = new Set([100, 130472, 130497, 131008, 131009, 131049, 131050, 131051, 131053, 135000])
/** Meta's own failures: 1 unknown, 2 service down, 131000 something went wrong, 131016 unavailable, … */
const transient = new Set([1, 2, 131000, 131016, 131057, 133004])

/** The outcome of a Graph error, by code first, then by HTTP status. */
export const outcomeOf = (error: Pick<GraphError, "code" | "httpStatus" | "isTransient">): Outcome => {
  const code = error.code
  if (code !== null) {
    if (windowClosed.has(code)) return "window-closed"
    if (recipientInvalid.has(code)) return "recipient-invalid"
    if (code >= 132000 && code < 133000) return "template-rejected"
    if (rateLimited.has(code)) return "rate-limited"
    if (misconfigured.has(code) || (code >= 200 && code < 300)) return "misconfigured"
    if (transient.has(code) || error.isTransient) return "unavailable"
    if (rejected.has(code)) return "rejected"
  }
  const status = error.httpStatus
  if (status === 429) return "rate-limited"
  if (status >= 500) return "unavailable"
  if (status === 401 || status === 403) return "misconfigured"
  return "rejected"
}

export const retryClassOf = (outcome: Outcome): RetryClass =>
  outcome === "unavailable" ? "transient" : outcome === "rate-limited" ? "rate-limited" : "final"

/** Seconds to wait when Meta gave no hint, per code (Meta suggests 4^X s for the pair limit, 1/6 s steady). */
export const defaultRetryAfterSeconds = (code: number | null): number => {
  switch (code) {
    case 130429:
      return 1
    case 131056:
      return 6
    case 4:
    case 80007:
      return 60
    case 131048:
      return 3600
    case 133015:
      return 300
    default:
      return 1
  }
}

/**
 * A reset hint from the response headers, in seconds: `Retry-After` (seconds or an HTTP date), or the
 * `estimated_time_to_regain_access` (minutes) of Meta's `X-Business-Use-Case-Usage` header.
 */
export const retryAfterFromHeaders = (
  headers: Readonly<Record<string, string | undefined>>,
  nowMillis: number
): Option.Option<number> => {
  const retryAfter = headers["retry-after"]?.trim()
  if (retryAfter !== undefined && retryAfter.length > 0) {
    if (/^\d+$/.test(retryAfter)) return Option.some(Number(retryAfter))
    const at = Date.parse(retryAfter)
    if (!Number.isNaN(at)) return Option.some(Math.max(0, Math.ceil((at - nowMillis) / 1000)))
  }
  const usage = headers["x-business-use-case-usage"]
  if (usage !== undefined) {
    const minutes = Either.match(
      Either.try(() => JSON.parse(usage) as unknown),
      {
        onLeft: () => 0,
        onRight: maxRegainMinutes
      }
    )
    if (minutes > 0) return Option.some(minutes * 60)
  }
  return Option.none()
}

const maxRegainMinutes = (usage: unknown): number => {
  let max = 0
  if (typeof usage !== "object" || usage === null) return max
  for (const entries of Object.values(usage)) {
    if (!Array.isArray(entries)) continue
    for (const entry of entries) {
      if (typeof entry !== "object" || entry === null) continue
      const minutes = (entry as Record<string, unknown>).estimated_time_to_regain_access
      if (typeof minutes === "number" && Number.isFinite(minutes) && minutes > max) max = Math.ceil(minutes)
    }
  }
  return max
}

const describe = (error: GraphError) => {
  const prefix = error.title
  return error.details !== null && !prefix.includes(error.details) ? `${prefix}: ${error.details}` : prefix
}

/** The core error for a Graph error; `retryAfterSeconds` is used for rate limits only. */
export const toGatewayError = (
  error: GraphError,
  retryAfterSeconds: number
):
  | ProviderWindowClosed
  | RecipientInvalid
  | TemplateRejected
  | ProviderRejected
  | ProviderRateLimited
  | ProviderMisconfigured
  | ProviderUnavailable => {
  const fields = { code: error.code, title: describe(error) }
  switch (outcomeOf(error)) {
    case "window-closed":
      return new ProviderWindowClosed(fields)
    case "recipient-invalid":
      return new RecipientInvalid(fields)
    case "template-rejected":
      return new TemplateRejected(fields)
    case "rate-limited":
      return new ProviderRateLimited({ ...fields, retryAfterSeconds: Math.max(0, Math.ceil(retryAfterSeconds)) })
    case "misconfigured":
      return new ProviderMisconfigured(fields)
    case "unavailable":
      return new ProviderUnavailable(fields)
    case "rejected":
      return new ProviderRejected(fields)
  }
}
