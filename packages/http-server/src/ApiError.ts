/**
 * The one error shape of the API: `{ "message": "...", "error": { "code": "snake_case", "details": ... } }`, with
 * the HTTP status (and headers such as `Retry-After`) that goes with it. Every failure, from a handler, a middleware,
 * the router or the request decoder, leaves the server in this shape (see `Edge`).
 */
import { HttpServerResponse } from "@effect/platform"
import { Data, Schema } from "effect"

/** The body of every error response, as OpenAPI documents it. */
export const ErrorBody = Schema.Struct({
  message: Schema.String.annotations({ description: "What went wrong, for people." }),
  error: Schema.Struct({
    code: Schema.String.annotations({
      description: "A stable snake_case code for programs, e.g. `service_window_closed` (see docs/api.md)."
    }),
    details: Schema.optional(Schema.Unknown).annotations({ description: "Machine-readable specifics, per code." })
  })
}).annotations({ identifier: "Error", description: "Every error response has this shape." })
export type ErrorBody = typeof ErrorBody.Type

/** A failure on its way out: status, body and extra headers. Structurally an `ErrorBody`. */
export class ApiError extends Data.TaggedError("ApiError")<{
  readonly status: number
  readonly message: string
  readonly error: { readonly code: string; readonly details?: unknown }
  readonly headers?: Readonly<Record<string, string>> | undefined
}> {
  static make(
    status: number,
    code: string,
    message: string,
    details?: unknown,
    headers?: Readonly<Record<string, string>>
  ): ApiError {
    return new ApiError({
      status,
      message,
      error: details === undefined ? { code } : { code, details },
      headers
    })
  }

  get body(): ErrorBody {
    return { message: this.message, error: this.error }
  }
}

export const toResponse = (error: ApiError): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.unsafeJson(error.body, {
    status: error.status,
    ...(error.headers === undefined ? {} : { headers: error.headers })
  })

// Shorthands for the errors the edge itself produces.

/** At most this many issues in an error body; the rest are counted in `details.moreIssues`. */
export const maxIssues = 20
/** Longest text of a path or message in an error body: a value is never echoed at length. */
export const maxIssueText = 200

/** `text` cut to `max` characters (whole code points), marked with an ellipsis when cut. */
export const truncate = (text: string, max = maxIssueText): string => {
  if (text.length <= max) return text
  const cut = text.slice(0, max - 1)
  // Never split a surrogate pair: half of one is not text a JSON encoder can keep.
  const safe = /[\uD800-\uDBFF]$/.test(cut) ? cut.slice(0, -1) : cut
  return `${safe}…`
}

/**
 * A 400 listing what is wrong, bounded whatever the input: at most `maxIssues` issues, each path and message at most
 * `maxIssueText` characters (a 1 MiB body of unknown fields once produced a 12 MB answer).
 */
export const invalidRequest = (issues: ReadonlyArray<{ readonly path: string; readonly message: string }>) => {
  const shown = issues.slice(0, maxIssues).map((i) => ({ path: truncate(i.path), message: truncate(i.message) }))
  const more = issues.length - shown.length
  const summary = shown.map((i) => (i.path === "" ? i.message : `${i.path}: ${i.message}`)).join("; ")
  return ApiError.make(
    400,
    "invalid_request",
    `invalid request: ${summary}${more > 0 ? `; and ${more} more` : ""}`,
    more > 0 ? { issues: shown, moreIssues: more } : { issues: shown }
  )
}

export const malformedJson = (reason: string) =>
  ApiError.make(400, "malformed_json", "the request body is not valid JSON", { reason: truncate(reason) })

export const invalidCursor = (parameter: string) =>
  ApiError.make(400, "invalid_cursor", `${parameter}: the cursor is not one this API returned`, { parameter })

export const unsupportedMediaType = (expected: string) =>
  ApiError.make(415, "unsupported_media_type", `the request body must be ${expected}`, { expected })

export const methodNotAllowed = (allowed: ReadonlyArray<string>) =>
  ApiError.make(
    405,
    "method_not_allowed",
    `this path answers ${allowed.join(", ")} only`,
    { allowed },
    { allow: allowed.join(", ") }
  )

export const databaseUnavailable = () =>
  ApiError.make(503, "database_unavailable", "the database is unavailable; retry shortly", undefined, {
    "retry-after": "5"
  })

export const unauthorized = (message: string) => ApiError.make(401, "unauthorized", message)

export const notFound = (message = "no such route") => ApiError.make(404, "not_found", message)

export const payloadTooLarge = (limitBytes: number) =>
  ApiError.make(413, "payload_too_large", `the request body is larger than ${limitBytes} bytes`, { limitBytes })

export const rateLimited = (retryAfterSeconds: number) =>
  ApiError.make(
    429,
    "rate_limited",
    "too many requests for this API key; retry after the number of seconds in Retry-After",
    { retryAfterSeconds },
    { "retry-after": String(retryAfterSeconds) }
  )

export const starting = (retryAfterSeconds = 1) =>
  ApiError.make(
    503,
    "starting",
    "the service is starting; retry shortly",
    { retryAfterSeconds },
    { "retry-after": String(retryAfterSeconds) }
  )

export const internal = () =>
  ApiError.make(500, "internal_error", "an unexpected error occurred; it has been logged with the request id")
