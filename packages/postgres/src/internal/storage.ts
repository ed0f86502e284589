/**
 * How the adapter turns driver failures into the core's `StorageError`, so no `SqlError` or `ParseError` crosses a
 * port. Reasons name the failure, never row values: a decode error would otherwise quote a customer's phone.
 */
import { SqlError } from "@effect/sql/SqlError"
import { StorageError } from "@parley/core"
import { Effect, Option, ParseResult } from "effect"

/** The SQLSTATE of a Postgres error inside a `SqlError`, when there is one (both drivers expose `code`). */
export const sqlState = (error: SqlError): string | undefined => {
  const cause: unknown = error.cause
  if (typeof cause === "object" && cause !== null && "code" in cause && typeof cause.code === "string") {
    return cause.code
  }
  return undefined
}

/** The constraint a Postgres error names, when there is one. */
export const constraintName = (error: SqlError): string | undefined => {
  const cause: unknown = error.cause
  if (typeof cause === "object" && cause !== null && "constraint" in cause && typeof cause.constraint === "string") {
    return cause.constraint
  }
  return undefined
}

const describeSqlError = (error: SqlError): string => {
  const cause: unknown = error.cause
  const detail = cause instanceof Error ? cause.message : undefined
  const state = sqlState(error)
  return [error.message, detail, state === undefined ? undefined : `(SQLSTATE ${state})`]
    .filter((part) => part !== undefined && part !== "")
    .join(": ")
}

const describeParseError = (error: ParseResult.ParseError): string => {
  const paths = ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) => issue.path.join(".") || "(row)")
  return `a stored row did not decode (at ${Array.from(new Set(paths)).join(", ")})`
}

export const toStorageError = (operation: string, error: SqlError | ParseResult.ParseError | StorageError) =>
  error._tag === "StorageError"
    ? error
    : new StorageError({
        operation,
        reason: error._tag === "ParseError" ? describeParseError(error) : describeSqlError(error)
      })

const isForeign = (error: unknown): error is SqlError | ParseResult.ParseError =>
  error instanceof SqlError || ParseResult.isParseError(error)

/**
 * Runs a storage operation under a span, with every foreign failure (`SqlError`, `ParseError`) converted to
 * `StorageError`; the module's own typed errors pass through. `withTransaction` turns a failed COMMIT or ROLLBACK
 * (a connection dropped mid-transaction) into a defect carrying the `SqlError`: that too is the database being
 * unavailable, not a bug, so it becomes a `StorageError` like any other.
 */
export const storage =
  (operation: string) =>
  <A, E, R>(
    effect: Effect.Effect<A, E, R>
  ): Effect.Effect<A, Exclude<E, SqlError | ParseResult.ParseError> | StorageError, R> =>
    Effect.withSpan(
      Effect.catchAll(
        effect,
        (error): Effect.Effect<never, Exclude<E, SqlError | ParseResult.ParseError> | StorageError> =>
          isForeign(error)
            ? Effect.fail(toStorageError(operation, error))
            : // Not foreign, so by the refinement it is one of the module's own errors.
              Effect.fail(error as Exclude<E, SqlError | ParseResult.ParseError>)
      ).pipe(
        Effect.catchSomeDefect((defect) =>
          defect instanceof SqlError ? Option.some(Effect.fail(toStorageError(operation, defect))) : Option.none()
        )
      ),
      operation,
      // The operation's name says where it is; capturing the caller's stack for the span cost an Error per
      // storage call, traced or not.
      { captureStackTrace: false }
    )

export const storageFailure = (operation: string, reason: string) => new StorageError({ operation, reason })
