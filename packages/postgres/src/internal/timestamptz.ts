/**
 * node-postgres's reading of `timestamptz`, made cheap. Its default (`postgres-date`) runs three regular
 * expressions and builds the Date through `Date.UTC` and `setTime` for every timestamp of every row: on a page of
 * 50 conversations or messages that was about a tenth of the request's CPU. This reads PostgreSQL's ISO output
 * (`2026-11-28 02:23:19.123456+00`, the offset in the session's time zone, `+05:30` or `-03:30:52` where it has
 * minutes or seconds) with character arithmetic, to the same instant (microseconds dropped, as `postgres-date` drops
 * them). Anything else (`infinity`, BC years, years past 9999, another DateStyle) goes to `postgres-date` as before.
 */
import Pg from "pg"

const timestamptzOid = 1184

const fallback = Pg.types.getTypeParser(timestamptzOid, "text") as (text: string) => unknown

/** The number written by the `count` ASCII digits at `at`, or -1 when one is not a digit. */
const digits = (text: string, at: number, count: number): number => {
  let value = 0
  for (let i = at; i < at + count; i++) {
    const digit = text.charCodeAt(i) - 48
    if (digit < 0 || digit > 9) return -1
    value = value * 10 + digit
  }
  return value
}

/** The instant `text` writes, in epoch milliseconds, or `undefined` when it is not in the form this reads. */
export const epochMillis = (text: string): number | undefined => {
  // YYYY-MM-DD HH:MM:SS, then an optional fraction, then the offset.
  if (text.length < 22 || text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45 || text.charCodeAt(10) !== 32) {
    return undefined
  }
  if (text.charCodeAt(13) !== 58 || text.charCodeAt(16) !== 58) return undefined
  const year = digits(text, 0, 4)
  const month = digits(text, 5, 2)
  const day = digits(text, 8, 2)
  const hour = digits(text, 11, 2)
  const minute = digits(text, 14, 2)
  const second = digits(text, 17, 2)
  if (year < 0 || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || minute < 0 || second < 0) {
    return undefined
  }
  let at = 19
  let millis = 0
  if (text.charCodeAt(at) === 46) {
    at++
    let written = 0
    while (at < text.length) {
      const digit = text.charCodeAt(at) - 48
      if (digit < 0 || digit > 9) break
      if (written < 3) millis = millis * 10 + digit
      written++
      at++
    }
    if (written === 0 || written > 6) return undefined
    for (let i = written; i < 3; i++) millis *= 10
  }
  const sign = text.charCodeAt(at)
  if (sign !== 43 && sign !== 45) return undefined
  const offsetHours = digits(text, at + 1, 2)
  let offsetSeconds = offsetHours * 3_600
  let end = at + 3
  if (offsetHours < 0) return undefined
  if (end < text.length) {
    // :MM, then possibly :SS (a local mean time before standard zones).
    if (text.charCodeAt(end) !== 58) return undefined
    const offsetMinutes = digits(text, end + 1, 2)
    if (offsetMinutes < 0) return undefined
    offsetSeconds += offsetMinutes * 60
    end += 3
    if (end < text.length) {
      if (text.charCodeAt(end) !== 58) return undefined
      const extra = digits(text, end + 1, 2)
      if (extra < 0) return undefined
      offsetSeconds += extra
      end += 3
    }
  }
  if (end !== text.length) return undefined
  // Date.UTC reads years 0–99 as 1900–1999; PostgreSQL writes four digits, so those years are taken as written.
  const local = Date.UTC(year < 100 ? year + 400 : year, month - 1, day, hour, minute, second, millis)
  const utc = (year < 100 ? local - 12_622_780_800_000 : local) - (sign === 45 ? -offsetSeconds : offsetSeconds) * 1_000
  return Number.isFinite(utc) ? utc : undefined
}

/** A `timestamptz` as a Date, as node-postgres returns it, read the fast way when it can be. */
export const parse = (text: string): unknown => {
  const millis = epochMillis(text)
  return millis === undefined ? fallback(text) : new Date(millis)
}

/** The pool's type parsers: node-postgres's own, but `timestamptz` (text format) read by {@link parse}. */
export const types: Pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === timestamptzOid && format !== "binary"
      ? parse
      : Pg.types.getTypeParser(oid, format ?? "text")) as Pg.CustomTypesConfig["getTypeParser"]
}
