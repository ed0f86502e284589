/**
 * Column decoders shared by every table, tolerant of the two drivers' differences: node-postgres returns int8 as a
 * string, PGlite as a number (or a bigint above 2^53); both return timestamptz as a Date and jsonb parsed.
 */
import type { Statement } from "@effect/sql"
import type * as SqlClient from "@effect/sql/SqlClient"
import { type DeliveryStatus, deliveryStatusRank } from "@parley/core"
import { DateTime, Schema } from "effect"

const BigIntAsNumber = Schema.transform(Schema.BigIntFromSelf, Schema.Number, {
  strict: true,
  decode: (n) => Number(n),
  encode: (n) => BigInt(n)
})

/** An integer column of any width, whichever way the driver returns it. */
export const Integer = Schema.Union(Schema.Number, Schema.NumberFromString, BigIntAsNumber).pipe(Schema.int())

export const Timestamp = Schema.DateTimeUtcFromDate

/** `bytea`: node-postgres gives a Buffer, PGlite a Uint8Array; both are Uint8Arrays. */
export const Bytes = Schema.Uint8ArrayFromSelf

export const toDate = (time: DateTime.Utc): Date => DateTime.toDateUtc(time)

export const toDateOrNull = (time: DateTime.Utc | null): Date | null =>
  time === null ? null : DateTime.toDateUtc(time)

export const fromDate = (date: Date): DateTime.Utc => DateTime.unsafeFromDate(date)

const statuses: ReadonlyArray<DeliveryStatus> = ["pending", "sent", "delivered", "read", "failed"]

/**
 * The core's `deliveryStatusRank` as a SQL expression over `column`, generated from the core so the two cannot
 * drift apart.
 */
export const rankOf = (sql: SqlClient.SqlClient, column: string): Statement.Fragment =>
  sql.literal(
    `(CASE ${column} ${statuses.map((s) => `WHEN '${s}' THEN ${deliveryStatusRank(s)}`).join(" ")} ELSE -1 END)`
  )

/** JSON for a `$n::jsonb` parameter; passing the text keeps both drivers from guessing (arrays, Dates). */
export const json = (value: unknown): string => JSON.stringify(value)

/** `%` `_` and `\` are LIKE wildcards; escape them so a search for "50%" means the characters. */
export const likeSubstring = (term: string): string => `%${term.replace(/[\\%_]/g, "\\$&")}%`

/** `a, b` as `t.a, t.b`: a column list in a statement that joins tables sharing column names. */
export const qualified = (table: string, list: string) =>
  list
    .split(",")
    .map((column) => `${table}.${column.trim()}`)
    .join(", ")
