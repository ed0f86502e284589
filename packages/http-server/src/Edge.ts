/**
 * The API-wide middleware every request passes through: a request id, the body-size limits, one structured log
 * line per request (no keys, tokens, query strings or bodies), and the translation of every failure, whatever
 * raised it, into the one error shape with the status `ErrorMapping` chose.
 */

import { randomUUID } from "node:crypto"
import { type HttpApp, HttpIncomingMessage, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Media } from "@parley/core"
import { Cause, Context, Effect, FiberRef, LogLevel, Option } from "effect"
import {
  ApiError,
  databaseUnavailable,
  internal,
  invalidRequest,
  malformedJson,
  maxIssues,
  methodNotAllowed,
  notFound,
  payloadTooLarge,
  toResponse,
  unsupportedMediaType
} from "./ApiError.js"
import { isDomainError, toApiError } from "./ErrorMapping.js"

/** What the log line of the current request says about it; filled in as the request is handled. */
export class RequestInfo extends Context.Tag("@parley/http-server/RequestInfo")<
  RequestInfo,
  { readonly requestId: string; apiKey?: string; businessId?: string }
>() {}

export interface EdgeOptions {
  /** Largest request body on API routes (default 1 MiB). */
  readonly maxBodyBytes?: number | undefined
  /** Largest body on `/webhooks/*` (default 4 MiB: Meta sends up to 3 MB). */
  readonly maxWebhookBodyBytes?: number | undefined
  /**
   * Every route the app serves, as OpenAPI writes them (`/v1/messaging/conversations/{id}`), so a known path asked
   * with another method answers 405 with `Allow` instead of 404.
   */
  readonly routes?: ReadonlyArray<{ readonly method: string; readonly path: string }> | undefined
}

export const defaults = { maxBodyBytes: 1024 * 1024, maxWebhookBodyBytes: 4 * 1024 * 1024 } as const

/** The one route that takes a multipart body: media uploads, streamed to disk by its handler. */
export const uploadPath = "/v1/messaging/media"

/** An upload's body: the largest file WhatsApp takes, plus room for the form around it. */
export const maxUploadBodyBytes = Media.maxUploadBytes + 64 * 1024

const formDataType = /^\s*multipart\/form-data\s*;/i

/**
 * Whether this is a media upload: POST to the upload path with a multipart/form-data body of declared length.
 * A multipart body without a length is refused (411) before it is read: an empty one never ends (see below).
 */
const isUpload = (request: HttpServerRequest.HttpServerRequest, path: string): boolean =>
  request.method === "POST" && path === uploadPath && formDataType.test(request.headers["content-type"] ?? "")

/**
 * Deepest nesting of arrays and objects in an API request body. No body the API defines goes past 5 levels; a
 * hand-made `[[[[…]]]]` 150,000 levels deep parses, but then overflows the stack of anything that walks it (the
 * decoder's own error message did, answering 500).
 */
export const maxJsonDepth = 32

/** Whether JSON `text` nests arrays and objects deeper than `max` (one pass, strings skipped). */
export const nestsDeeperThan = (text: string, max: number): boolean => {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c)
        i++ // backslash: skip the escaped character
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true
    } else if (c === 0x5d || c === 0x7d) depth--
  }
  return false
}

const requestIdPattern = /^[A-Za-z0-9._:-]{1,128}$/

const isTagged = (u: unknown, tag: string): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && "_tag" in u && u._tag === tag

const expectedActual = /^Expected (.+), actual (.+)$/s

/**
 * One issue per field. A value outside a union fails every member: an optional field's `undefined` half says
 * nothing to a caller and is dropped, and a literal union's "Expected "a", actual "x"" issues become one
 * "Expected "a" | "b", actual "x"".
 */
const issuesOf = (error: Record<string, unknown>): ReadonlyArray<{ path: string; message: string }> => {
  if (!Array.isArray(error.issues)) return [{ path: "", message: String(error.message ?? "invalid request") }]
  const byPath = new Map<string, Array<string>>()
  // Past a few times what an answer shows, more issues change nothing but the count: stop grouping them.
  const all = error.issues.length
  const grouped = error.issues.slice(0, maxIssues * 4)
  for (const issue of grouped as ReadonlyArray<{
    readonly path?: ReadonlyArray<PropertyKey>
    readonly message?: string
  }>) {
    const path = (issue.path ?? []).map(String).join(".")
    const messages = byPath.get(path) ?? []
    messages.push(issue.message ?? "is invalid")
    byPath.set(path, messages)
  }
  return [...byPath]
    .flatMap(([path, all]) => {
      const useful = all.length > 1 ? all.filter((m) => !m.startsWith("Expected undefined, actual")) : all
      const parsed = useful.map((m) => expectedActual.exec(m))
      const actuals = new Set(parsed.map((p) => p?.[2]))
      if (useful.length > 1 && parsed.every((p) => p !== null) && actuals.size === 1) {
        const expected = parsed.map((p) => p?.[1]).join(" | ")
        return [{ path, message: `Expected ${expected}, actual ${parsed[0]?.[2]}` }]
      }
      return useful.map((message) => ({ path, message }))
    })
    .concat(Array.from({ length: all - grouped.length }, () => ({ path: "", message: "is invalid" })))
}

/** Body-reading failures come as `RequestError`s: too large, or not JSON. */
const requestErrorToApiError = (error: Record<string, unknown>, limit: number): ApiError => {
  const cause = error.cause
  if (cause instanceof Error && cause.message === "maxBytes exceeded") return payloadTooLarge(limit)
  return malformedJson(cause instanceof Error ? cause.message : "the body could not be read")
}

/** Any failure → `ApiError`; `None` for what must not be answered (an interrupted, abandoned request). */
export const classify = (
  cause: Cause.Cause<unknown>,
  limit: number,
  allowed: ReadonlyArray<string> = []
): Option.Option<ApiError> => {
  const failure = Cause.failureOption(cause)
  const error = Option.isSome(failure) ? failure.value : Option.getOrUndefined(Cause.dieOption(cause))
  if (error === undefined) return Cause.isInterruptedOnly(cause) ? Option.none() : Option.some(internal())
  if (error instanceof ApiError) return Option.some(error)
  if (isDomainError(error)) return Option.some(toApiError(error))
  if (isTagged(error, "HttpApiDecodeError")) return Option.some(invalidRequest(issuesOf(error)))
  if (isTagged(error, "RouteNotFound")) return Option.some(allowed.length > 0 ? methodNotAllowed(allowed) : notFound())
  // A failed COMMIT or ROLLBACK dies with the driver's error: the database is unavailable, this is not a bug.
  if (isTagged(error, "SqlError")) return Option.some(databaseUnavailable())
  if (isTagged(error, "RequestError")) return Option.some(requestErrorToApiError(error, limit))
  return Option.some(internal())
}

const pathOf = (url: string) => {
  const q = url.indexOf("?")
  return q === -1 ? url : url.slice(0, q)
}

/** `/a/{id}/b` → a pattern matching one path segment per parameter. */
const routePattern = (path: string) =>
  new RegExp(`^${path.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{[^}]+\}/g, "[^/]+")}$`)

const allowedMethods = (routes: EdgeOptions["routes"]) => {
  const patterns = (routes ?? []).map((r) => ({ method: r.method.toUpperCase(), pattern: routePattern(r.path) }))
  return (path: string): ReadonlyArray<string> => {
    const methods = new Set(patterns.filter((r) => r.pattern.test(path)).map((r) => r.method))
    if (methods.has("GET")) methods.add("HEAD")
    return [...methods].sort()
  }
}

// Exactly what the decoder reads as JSON (it matches the type case-sensitively); any other type would be read as
// bytes and refused field by field, so it is refused here, naming the type.
const jsonType = /^application\/json\s*(?:;|$)/

const hasBody = (request: HttpServerRequest.HttpServerRequest): boolean => {
  if (request.method === "GET" || request.method === "HEAD" || request.method === "DELETE") return false
  const length = request.headers["content-length"]
  return request.headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0")
}

// The platform parses a multipart body as a stream of parts, and an empty one never ends: such a request hangs
// unless it is refused here, whatever its length.
const multipartType = /^\s*multipart\//i

// Twilio posts its webhooks form-encoded (and only that): the one route that takes this type, and no other.
const formType = /^application\/x-www-form-urlencoded\s*(?:;|$)/i
export const formRoutes: ReadonlySet<string> = new Set(["/webhooks/twilio"])

/** A request with a body of a type its route does not take (JSON, or a form on a form route): never read. */
const hasUnacceptedBody = (request: HttpServerRequest.HttpServerRequest, path: string): boolean => {
  const type = request.headers["content-type"] ?? ""
  const mayCarryBody = request.method !== "GET" && request.method !== "HEAD" && request.method !== "DELETE"
  const accepted = formRoutes.has(path) ? formType.test(type) : jsonType.test(type)
  return (hasBody(request) || (mayCarryBody && multipartType.test(type))) && !accepted
}

/** The error code of an error response, for the request's log line (bodies the API wrote are small JSON). */
const errorCodeOf = (response: HttpServerResponse.HttpServerResponse): string | undefined => {
  if (response.body._tag !== "Uint8Array" || response.body.body.length > 64 * 1024) return undefined
  try {
    const parsed: unknown = JSON.parse(new TextDecoder().decode(response.body.body))
    const error = typeof parsed === "object" && parsed !== null && "error" in parsed ? parsed.error : undefined
    const code = typeof error === "object" && error !== null && "code" in error ? error.code : undefined
    return typeof code === "string" ? code : undefined
  } catch {
    return undefined
  }
}

export const make =
  (options: EdgeOptions = {}) =>
  (app: HttpApp.Default): HttpApp.Default => {
    const allowedFor = allowedMethods(options.routes)
    return Effect.gen(function* () {
      const request = yield* HttpServerRequest.HttpServerRequest
      const started = performance.now()
      const incoming = request.headers["x-request-id"]
      const requestId = incoming !== undefined && requestIdPattern.test(incoming) ? incoming : randomUUID()
      const info: RequestInfo["Type"] = { requestId }
      const path = pathOf(request.url)
      const upload = isUpload(request, path)
      const limit = path.startsWith("/webhooks/")
        ? (options.maxWebhookBodyBytes ?? defaults.maxWebhookBodyBytes)
        : upload
          ? maxUploadBodyBytes
          : (options.maxBodyBytes ?? defaults.maxBodyBytes)

      const length = request.headers["content-length"]
      const declared = Number(length ?? "0")
      const refused =
        Number.isFinite(declared) && declared > limit
          ? payloadTooLarge(limit)
          : upload
            ? length === undefined || declared === 0
              ? ApiError.make(411, "length_required", "an upload must declare its Content-Length (and not be empty)")
              : undefined
            : path === uploadPath && request.method === "POST"
              ? unsupportedMediaType("multipart/form-data")
              : (path.startsWith("/v1/") || path.startsWith("/webhooks/")) && hasUnacceptedBody(request, path)
                ? unsupportedMediaType(formRoutes.has(path) ? "application/x-www-form-urlencoded" : "application/json")
                : undefined
      // API bodies are read here first (the platform keeps the text for the decoder); webhooks read their raw bytes.
      // An upload is streamed by its handler instead.
      const checked =
        path.startsWith("/v1/") && hasBody(request) && !upload
          ? Effect.flatMap(request.text, (text) =>
              nestsDeeperThan(text, maxJsonDepth)
                ? Effect.fail(invalidRequest([{ path: "", message: `nests deeper than ${maxJsonDepth} levels` }]))
                : app
            )
          : app
      const handled =
        refused !== undefined
          ? Effect.succeed(toResponse(refused))
          : checked.pipe(
              HttpIncomingMessage.withMaxBodySize(Option.some(limit)),
              Effect.provideService(RequestInfo, info),
              Effect.catchAllCause((cause) =>
                Option.match(classify(cause, limit, allowedFor(path)), {
                  onNone: () => Effect.interrupt,
                  onSome: (error) =>
                    Effect.as(
                      error.status >= 500 && error.error.code === "internal_error"
                        ? Effect.logError("unhandled failure", Cause.pretty(cause))
                        : Effect.void,
                      toResponse(error)
                    )
                })
              )
            )
      const response = yield* Effect.annotateLogs(handled, "requestId", requestId)
      const level = response.status >= 500 ? LogLevel.Warning : LogLevel.Info
      // The line and its fields are only built when they would be written (the service often logs at `warn`).
      if (LogLevel.greaterThanEqual(level, yield* FiberRef.get(FiberRef.currentMinimumLogLevel))) {
        const fields: Record<string, unknown> = {
          method: request.method,
          path,
          status: response.status,
          durationMs: Math.round((performance.now() - started) * 10) / 10
        }
        if (info.apiKey !== undefined) fields.apiKey = info.apiKey
        if (info.businessId !== undefined) fields.businessId = info.businessId
        if (response.status >= 400) {
          const code = errorCodeOf(response)
          if (code !== undefined) fields.errorCode = code
        }
        yield* Effect.annotateLogs(Effect.logWithLevel(level, `${request.method} ${path} ${response.status}`), {
          ...fields,
          requestId
        })
      }
      return HttpServerResponse.setHeader(response, "x-request-id", requestId)
    })
  }
