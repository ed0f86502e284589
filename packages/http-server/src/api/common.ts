/** What the API's groups share: strict bodies, integer query parameters, the documented error statuses. */
import type { HttpApiEndpoint } from "@effect/platform"
import type { HttpMethod } from "@effect/platform/HttpMethod"
import { Schema } from "effect"
import { ErrorBody } from "../ApiError.js"

/**
 * Request bodies reject properties they do not define (400 naming the field). Decoding stops at the first problem:
 * with every problem collected, a 1 MiB body of unknown fields took 0.45 s to decode and 0.4 s more to list its
 * 60,000 issues, blocking every other request; stopping at the first takes 20 ms.
 */
export const strict = { parseOptions: { onExcessProperty: "error", errors: "first" } } as const

// A query parameter arrives as a string; OpenAPI shows it as the integer it stands for.
export const Limit = (max: number, fallback: number, description: string) =>
  Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, max)).annotations({
    description,
    jsonSchema: { type: "integer", minimum: 1, maximum: max, default: fallback, description }
  })

/** Documents the error statuses an endpoint answers; every one has the same body, `{ message, error }`. */
export const answers =
  (...statuses: readonly [number, ...Array<number>]) =>
  <Name extends string, Method extends HttpMethod, Path, UrlParams, Payload, Headers, Success, Error, R, RE>(
    endpoint: HttpApiEndpoint.HttpApiEndpoint<Name, Method, Path, UrlParams, Payload, Headers, Success, Error, R, RE>
  ) => {
    const [first, ...rest] = statuses
    return rest.reduce(
      (e, status) => e.addError(ErrorBody, { status }),
      endpoint.addError(ErrorBody, { status: first })
    )
  }

export const Iso = Schema.String.annotations({ format: "date-time", description: "ISO 8601, UTC" })
