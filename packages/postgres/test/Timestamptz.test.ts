/**
 * The pool's `timestamptz` reader gives the instant node-postgres's default reader (`postgres-date`) gives, for
 * every text PostgreSQL writes in its ISO DateStyle: generated (offsets with minutes and seconds, 0 to 6 fraction
 * digits, years 0001 to 9999) and read back from the real server in several time zones.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { PgClient } from "@effect/sql-pg"
import { Effect, FastCheck as fc, Redacted } from "effect"
import Pg from "pg"
import { describe, expect, it } from "vitest"
import * as Timestamptz from "../src/internal/timestamptz.js"
import * as PostgresClient from "../src/PostgresClient.js"
import { resolvePostgres } from "../src/testing/TestDatabase.js"

const target = await resolvePostgres()

const defaultReader = Pg.types.getTypeParser(1184, "text") as (text: string) => Date | number | null

const two = (n: number) => String(n).padStart(2, "0")

/** PostgreSQL's ISO text of `millis` (plus `micros` more) at an offset of `offsetSeconds` east of UTC. */
const write = (millis: number, micros: number, fractionDigits: number, offsetSeconds: number) => {
  const local = new Date(millis + offsetSeconds * 1_000).toISOString() // YYYY-MM-DDTHH:MM:SS.mmmZ
  const fraction = `${local.slice(20, 23)}${String(micros).padStart(3, "0")}`
    .slice(0, fractionDigits)
    .replace(/0+$/, "")
  const sign = offsetSeconds < 0 ? "-" : "+"
  const abs = Math.abs(offsetSeconds)
  const [h, m, s] = [Math.floor(abs / 3_600), Math.floor((abs % 3_600) / 60), abs % 60]
  const offset = `${sign}${two(h)}${m === 0 && s === 0 ? "" : `:${two(m)}`}${s === 0 ? "" : `:${two(s)}`}`
  return `${local.slice(0, 10)} ${local.slice(11, 19)}${fraction === "" ? "" : `.${fraction}`}${offset}`
}

const instant = fc.oneof(
  fc.integer({ min: Date.UTC(1, 0, 1) - Date.UTC(1900, 0, 1) + Date.UTC(1900, 0, 1), max: Date.UTC(9999, 11, 30) }),
  fc.constantFrom(0, -1, Date.UTC(2000, 1, 29, 23, 59, 59, 999), Date.UTC(2024, 11, 31, 23, 59, 59, 999))
)
const offset = fc.oneof(
  fc.constant(0),
  fc.integer({ min: -15, max: 15 }).map((h) => h * 3_600),
  fc
    .tuple(fc.integer({ min: -12, max: 14 }), fc.constantFrom(15, 30, 45))
    .map(([h, m]) => h * 3_600 + Math.sign(h || 1) * m * 60),
  // Local mean time, before standard zones: Amsterdam was +00:19:32.
  fc.integer({ min: -43_199, max: 43_199 })
)

describe("timestamptz reader", () => {
  it("reads every ISO text PostgreSQL writes as the default reader does", () => {
    fc.assert(
      fc.property(
        instant,
        fc.integer({ min: 0, max: 999 }),
        fc.integer({ min: 0, max: 6 }),
        offset,
        (millis, micros, digits, seconds) => {
          const text = write(millis, micros, digits, seconds)
          const expected = defaultReader(text)
          expect(expected).toBeInstanceOf(Date)
          expect(Timestamptz.epochMillis(text), text).toBe((expected as Date).getTime())
        }
      ),
      { numRuns: 20_000 }
    )
  })

  it("leaves what it does not read to the default reader", () => {
    for (const text of [
      "infinity",
      "-infinity",
      "0044-03-15 12:00:00+00 BC",
      "10000-01-01 00:00:00+00",
      "2026-11-28T02:23:19Z"
    ]) {
      expect(Timestamptz.epochMillis(text), text).toBeUndefined()
      expect(Timestamptz.parse(text)).toEqual(defaultReader(text))
    }
    for (const text of [
      "2026-13-01 00:00:00+00",
      "2026-11-28 02:23:19.+00",
      "2026-11-28 02:23:19.1234567+00",
      "2026-11-28 02:23:19+0",
      "2026-11-28 02:23:19+00:3"
    ]) {
      expect(Timestamptz.epochMillis(text), text).toBeUndefined()
    }
  })
})

describe.runIf(target._tag !== "Unavailable")("timestamptz reader on PostgreSQL", () => {
  const zones = [
    "UTC",
    "Asia/Kolkata",
    "America/St_Johns",
    "Pacific/Chatham",
    "Europe/Amsterdam",
    "America/Los_Angeles"
  ]
  const values = [
    "2026-11-28 02:23:19.123456+00",
    "2026-03-29 01:30:00+00",
    "2026-11-01 08:59:59.999999+00",
    "2000-02-29 23:59:59.5+00",
    "1850-01-01 00:00:00+00",
    "0001-01-01 00:00:00+00",
    "9999-12-31 23:59:59.999+00",
    "1970-01-01 00:00:00+00",
    "1969-12-31 23:59:59.999+00"
  ]

  it("reads the server's text in any time zone as the instant it stores", async () => {
    const client = new Pg.Client({ connectionString: target.url, types: Timestamptz.types })
    await client.connect()
    try {
      for (const zone of zones) {
        await client.query(`SET TimeZone = '${zone}'`)
        const result = await client.query<{ t: Date; text: string; ms: string }>(
          "SELECT t, t::text AS text, floor(extract(epoch FROM t) * 1000)::bigint::text AS ms FROM unnest($1::timestamptz[]) AS t",
          [values]
        )
        for (const row of result.rows) {
          // Read by this reader, or (a year past 9999 in this zone) left to the default one: the same instant.
          expect(Timestamptz.epochMillis(row.text) ?? "left", `${zone}: ${row.text}`).toBeOneOf([
            Number(row.ms),
            "left"
          ])
          expect(row.t.getTime(), `${zone}: ${row.text}`).toBe(Number(row.ms))
        }
      }
    } finally {
      await client.end()
    }
  })

  it("is the reader of Parley's pool", async () => {
    const [rows, types] = await Effect.runPromise(
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const client = yield* PgClient.PgClient
        const rows = yield* sql<{ t: unknown }>`SELECT '2026-11-28 02:23:19.029+00'::timestamptz AS t`
        return [rows, client.config.types] as const
      }).pipe(Effect.provide(PostgresClient.layer({ url: Redacted.make(target.url), maxConnections: 1 })))
    )
    expect(rows[0]?.t).toEqual(new Date("2026-11-28T02:23:19.029Z"))
    // Its own connections and the ones it opens to LISTEN read with this reader (the default gives the same Date).
    expect(types).toBe(Timestamptz.types)
  })
})
