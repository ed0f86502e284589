/**
 * Statements sent together as one query string, so a short transaction costs one round trip instead of one per
 * statement plus BEGIN and COMMIT. PostgreSQL runs a query string of several statements (its simple query protocol)
 * as one implicit transaction: all commit or none, locks are held to its end, and each statement under READ
 * COMMITTED still reads a snapshot taken when it starts. The simple protocol takes no parameters, so each one is
 * written into the text as a literal here: strings through node-postgres's `escapeLiteral`, numbers, booleans,
 * NULL, Dates (ISO, as `timestamptz`) and bytes (hex `bytea`). A statement with a parameter of any other kind (an
 * array, an object) is not inlined: `script` answers `undefined` and the caller runs the statements one by one.
 *
 * Only node-postgres takes such a string (`Storage` knows which driver it has); PGlite's client prepares every
 * query, which allows one statement only.
 */
import type { Statement } from "@effect/sql"
import Pg from "pg"
import { unmarked } from "./prepared.js"

/** The SQL literal of a parameter value, or `undefined` for a kind this module does not write. */
export const literal = (value: unknown): string | undefined => {
  if (value === null || value === undefined) return "NULL"
  switch (typeof value) {
    case "string":
      return Pg.escapeLiteral(value)
    case "number":
      // Parenthesised, so a negative number after an operator stays one.
      return Number.isFinite(value) ? `(${value})` : undefined
    case "bigint":
      return `(${value})`
    case "boolean":
      return value ? "TRUE" : "FALSE"
  }
  if (value instanceof Date) {
    return Number.isNaN(value.getTime()) ? undefined : `${Pg.escapeLiteral(value.toISOString())}::timestamptz`
  }
  if (value instanceof Uint8Array) return `'\\x${Buffer.from(value).toString("hex")}'::bytea`
  return undefined
}

/**
 * A quoted string or identifier (a doubled quote stays inside; unterminated: to the end), a comment (likewise), or a
 * placeholder `$n`: the tokens `inline` looks at, everything between them copied as it is.
 */
const tokens = /'(?:[^']|'')*(?:'|$)|"(?:[^"]|"")*(?:"|$)|--[^\n]*|\/\*[\s\S]*?(?:\*\/|$)|\$(\d+)/g

/**
 * `text` with each `$n` outside quotes and comments replaced by the literal of `params[n - 1]`; `undefined` when a
 * parameter has no literal or a placeholder has no parameter.
 */
export const inline = (text: string, params: ReadonlyArray<unknown>): string | undefined => {
  const literals = params.map(literal)
  let missing = false
  const out = text.replace(tokens, (token: string, n: string | undefined) => {
    if (n === undefined) return token
    const value = literals[Number(n) - 1]
    if (value === undefined) missing = true
    return value ?? token
  })
  return missing ? undefined : out
}

/** The statements as one query string, or `undefined` when one of them cannot be inlined. */
export const script = (statements: ReadonlyArray<Statement.Statement<unknown>>): string | undefined => {
  const parts: Array<string> = []
  for (const statement of statements) {
    const [text, params] = statement.compile()
    // A statement marked to be prepared is inlined here instead: a prepared statement holds one command.
    const inlined = inline(unmarked(text), params)
    if (inlined === undefined) return undefined
    parts.push(inlined)
  }
  return parts.join(";\n")
}

/** The rows of the last statement of a script's result (node-postgres answers one array of rows per statement). */
export const lastRows = (result: ReadonlyArray<unknown>): ReadonlyArray<unknown> | undefined => {
  const last = result[result.length - 1]
  return Array.isArray(last) ? last : undefined
}

/** The rows of each statement of a script's result, when it answered one array of rows for each of `count`. */
export const eachRows = (
  result: ReadonlyArray<unknown>,
  count: number
): ReadonlyArray<ReadonlyArray<unknown>> | undefined =>
  result.length === count && result.every(Array.isArray) ? (result as ReadonlyArray<ReadonlyArray<unknown>>) : undefined
