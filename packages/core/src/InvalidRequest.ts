/**
 * Input that does not meet a use case's schema: every problem, each with the field it concerns.
 */
import { Effect, ParseResult, Schema } from "effect"

export class RequestIssue extends Schema.Class<RequestIssue>("RequestIssue")({
  /** Dotted path of the field, e.g. `variables.order_id`; empty for the input as a whole. */
  path: Schema.String,
  message: Schema.String
}) {}

export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()("InvalidRequest", {
  issues: Schema.Array(RequestIssue)
}) {
  override get message() {
    return `invalid request: ${this.issues.map((i) => (i.path === "" ? i.message : `${i.path}: ${i.message}`)).join("; ")}`
  }

  static fromParseError(error: ParseResult.ParseError): InvalidRequest {
    const all = ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) => ({
      path: issue.path.join("."),
      message: issue.message
    }))
    // A present optional field that is invalid also fails the union's `undefined` half, which says nothing to a
    // caller: keep that issue only when it is the field's only one.
    const useful = all.filter(
      (issue) =>
        !issue.message.startsWith("Expected undefined, actual") ||
        !all.some((other) => other !== issue && (other.path === issue.path || other.path.startsWith(`${issue.path}.`)))
    )
    return new InvalidRequest({ issues: useful.map((issue) => new RequestIssue(issue, true)) })
  }

  static single(path: string, message: string): InvalidRequest {
    return new InvalidRequest({ issues: [new RequestIssue({ path, message }, true)] })
  }
}

/** A hoisted decoder that fails with `InvalidRequest`; excess properties are errors, not silently dropped. */
export const decoder = <A, I>(schema: Schema.Schema<A, I, never>) => {
  const decode = Schema.decodeUnknown(schema, { errors: "all", onExcessProperty: "error" })
  return (input: unknown): Effect.Effect<A, InvalidRequest> =>
    Effect.mapError(decode(input), InvalidRequest.fromParseError)
}
