/**
 * Twilio's REST error body and the one table that turns its error codes into the core's typed gateway errors.
 *
 * Every non-2xx answer from Twilio carries `{ "code", "message", "more_info", "status" }`. The code decides the
 * error; the HTTP status only decides when the code is missing or unknown.
 */
import {
  type GatewayError,
  Phone,
  ProviderMisconfigured,
  type ProviderOutcomeUnknown,
  ProviderRateLimited,
  ProviderRejected,
  ProviderUnavailable,
  ProviderWindowClosed,
  RecipientInvalid,
  TemplateRejected
} from "@parley/core"
import { Either, Option, Schema } from "effect"

export const ErrorBody = Schema.Struct({
  code: Schema.optional(Schema.NullOr(Schema.Number)),
  message: Schema.optional(Schema.NullOr(Schema.String)),
  more_info: Schema.optional(Schema.NullOr(Schema.String)),
  status: Schema.optional(Schema.NullOr(Schema.Number))
})
export type ErrorBody = typeof ErrorBody.Type

/** A Twilio error as read from a response: the code when there was one, and a title safe to log. */
export interface TwilioError {
  readonly httpStatus: number
  readonly code: number | null
  readonly message: string
}

const decodeBody = Schema.decodeUnknownEither(Schema.parseJson(ErrorBody))

/**
 * Twilio's messages quote the numbers involved ("The 'To' number +15550001111 is not a valid phone number."): every
 * phone-like run of digits is masked, so an error title can be logged and returned without a full phone number.
 */
export const maskPhones = (text: string): string => text.replace(/\+?\d[\d\s().-]{6,}\d/g, (match) => Phone.mask(match))

/** Reads an error response; a body that is not Twilio's JSON keeps the HTTP status and no code. */
export const fromResponse = (httpStatus: number, body: string): TwilioError =>
  Either.match(decodeBody(body), {
    onLeft: () => ({ httpStatus, code: null, message: `HTTP ${httpStatus}` }),
    onRight: (error) => ({
      httpStatus,
      code: typeof error.code === "number" && Number.isSafeInteger(error.code) ? error.code : null,
      message: maskPhones(error.message ?? `HTTP ${httpStatus}`)
    })
  })

/** What a Twilio error code means for a send. */
export type Kind =
  | "window_closed"
  | "recipient_invalid"
  | "rate_limited"
  | "misconfigured"
  | "template_rejected"
  | "rejected"
  | "unavailable"

/**
 * The codes Parley knows, one source of truth for the gateway and the docs' table. Codes not listed fall back on
 * the HTTP status (see {@link kindOf}).
 */
export const codes = {
  // The 24-hour customer-service window is closed: free text needs a template (WhatsApp 470).
  63016: "window_closed",
  // Invalid `To`: not a phone number, not a mobile number, not on WhatsApp (63003 "channel could not find To"),
  // or WhatsApp refused the user (63024: no WhatsApp, terms not accepted, old app).
  21211: "recipient_invalid",
  21614: "recipient_invalid",
  63003: "recipient_invalid",
  63024: "recipient_invalid",
  // 20429: too many concurrent requests, not processed. 63018: the sender's rate or Meta's tier limit.
  // 14107: more than 30 replies between two numbers in 30 seconds (Twilio fails further ones for 30 seconds).
  // 63017: the account's combined 2000 messages per second. 21611: the sender's queue is full (10 hours' worth).
  20429: "rate_limited",
  63018: "rate_limited",
  14107: "rate_limited",
  63017: "rate_limited",
  21611: "rate_limited",
  // Credentials or configuration: auth failed, `From` is not a WhatsApp sender of this account (21606), the
  // channel has no sender for `From` (63007, 63002), the channel is misconfigured (63008).
  20003: "misconfigured",
  21606: "misconfigured",
  63002: "misconfigured",
  63007: "misconfigured",
  63008: "misconfigured",
  // The template or its variables: content not found / not approved for WhatsApp (63027), `ContentVariables`
  // invalid (21656), `ContentVariables` without `ContentSid` (21654), `ContentSid` invalid (21655), parameter
  // count mismatch (63028).
  63027: "template_rejected",
  63028: "template_rejected",
  21654: "template_rejected",
  21655: "template_rejected",
  21656: "template_rejected",
  // Twilio's own "service unavailable, try later": the request was not processed.
  20503: "unavailable"
} as const satisfies Record<number, Kind>

const known: Readonly<Record<number, Kind>> = codes

/**
 * The kind of an error. 20404 (resource not found) on the Messages list means the Account SID in the URL is wrong:
 * a configuration problem. A 401 without a code is an auth failure; a 429 without one is a throttle. A 503 is the
 * only 5xx that proves Twilio did not process the request; any other 5xx is ambiguous and decided by the caller.
 */
export const kindOf = (error: TwilioError): Kind | "ambiguous" => {
  if (error.code !== null && Object.hasOwn(known, error.code)) return known[error.code] as Kind
  if (error.code === 20404 || error.httpStatus === 401 || error.httpStatus === 403 || error.httpStatus === 404) {
    return "misconfigured"
  }
  if (error.httpStatus === 429) return "rate_limited"
  if (error.httpStatus === 503) return "unavailable"
  if (error.httpStatus >= 500) return "ambiguous"
  return "rejected"
}

/**
 * Seconds to wait before retrying a rate-limited request when Twilio gave no `Retry-After`: 30 for a reply loop
 * (14107 blocks the pair for 30 seconds), 3 for a sender limit (the sandbox allows one request per 3 seconds), else 1.
 */
export const defaultRetryAfterSeconds = (code: number | null): number => (code === 14107 ? 30 : code === 63018 ? 3 : 1)

/** `Retry-After` in seconds or as an HTTP date, relative to `now` (epoch millis). */
export const retryAfterFromHeaders = (
  headers: Readonly<Record<string, string | undefined>>,
  now: number
): Option.Option<number> => {
  const value = headers["retry-after"]?.trim()
  if (value === undefined || value.length === 0) return Option.none()
  if (/^\d+$/.test(value)) return Option.some(Math.min(Number(value), 3600))
  const date = Date.parse(value)
  return Number.isNaN(date) ? Option.none() : Option.some(Math.max(0, Math.min(3600, Math.ceil((date - now) / 1000))))
}

/** The typed error for a definitive answer (everything but `ambiguous`, which the caller turns into an outcome). */
export const toGatewayError = (
  error: TwilioError,
  kind: Kind,
  retryAfterSeconds: number
): Exclude<GatewayError, ProviderOutcomeUnknown> => {
  const fields = { code: error.code, title: error.message }
  switch (kind) {
    case "window_closed":
      return new ProviderWindowClosed(fields)
    case "recipient_invalid":
      return new RecipientInvalid(fields)
    case "rate_limited":
      return new ProviderRateLimited({ ...fields, retryAfterSeconds: Math.max(0, Math.ceil(retryAfterSeconds)) })
    case "misconfigured":
      return new ProviderMisconfigured(fields)
    case "template_rejected":
      return new TemplateRejected(fields)
    case "rejected":
      return new ProviderRejected(fields)
    case "unavailable":
      return new ProviderUnavailable(fields)
  }
}
