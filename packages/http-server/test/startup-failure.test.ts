/**
 * The one-line description of a failed start, for every cause it names (the process tests spawn the service for a
 * port in use, a refused connection and a missing database): never a password, never more than one line. And the
 * variables of secrets and operations, whose problems are named like every other configuration problem.
 */
import { HttpServerError } from "@effect/platform"
import { SqlError } from "@effect/sql/SqlError"
import { Cause, Either, Redacted } from "effect"
import { describe, expect, it } from "vitest"
import * as Config from "../src/Config.js"
import { DataDirInUse } from "../src/DataDir.js"
import * as StartupFailure from "../src/StartupFailure.js"

const password = "s3cret-pass-word"
const postgres = Either.getOrThrow(
  Config.fromEnv({
    DATABASE_URL: `postgres://parley:${password}@db.internal:6432/inbox`,
    PARLEY_SECRET_KEY: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    PORT: "8080",
    HOST: "0.0.0.0"
  })
)

const nodeError = (code: string, message = code) => Object.assign(new Error(message), { code })
const sql = (cause: unknown) => Cause.fail(new SqlError({ cause, message: "PgClient: Failed to connect" }))

describe("StartupFailure.describe", () => {
  const cases: ReadonlyArray<readonly [string, Cause.Cause<unknown>, StartupFailure.Description]> = [
    [
      "port in use",
      Cause.fail(new HttpServerError.ServeError({ cause: nodeError("EADDRINUSE") })),
      { kind: "start", line: "port 8080 on 0.0.0.0 is already in use (PORT, HOST)" }
    ],
    [
      "no permission for the port",
      Cause.fail(new HttpServerError.ServeError({ cause: nodeError("EACCES") })),
      { kind: "start", line: "no permission to listen on port 8080 on 0.0.0.0 (PORT)" }
    ],
    [
      "HOST not on this machine",
      Cause.fail(new HttpServerError.ServeError({ cause: nodeError("EADDRNOTAVAIL") })),
      { kind: "start", line: "HOST (0.0.0.0) is not an address of this machine" }
    ],
    [
      "connection refused",
      sql(nodeError("ECONNREFUSED")),
      { kind: "start", line: "db.internal:6432 refused the connection: is the server running?" }
    ],
    [
      "connection refused on IPv4 and IPv6 (an AggregateError carries the code)",
      sql(Object.assign(new AggregateError([nodeError("ECONNREFUSED")], ""), { code: "ECONNREFUSED" })),
      { kind: "start", line: "db.internal:6432 refused the connection: is the server running?" }
    ],
    ["unknown host", sql(nodeError("ENOTFOUND")), { kind: "start", line: "the host db.internal is not found" }],
    [
      "missing database",
      sql(nodeError("3D000", 'database "inbox" does not exist')),
      { kind: "start", line: 'database "inbox" does not exist on db.internal:6432: create it first' }
    ],
    [
      "wrong password",
      sql(nodeError("28P01", 'password authentication failed for user "parley"')),
      { kind: "start", line: 'db.internal:6432 refused the credentials of user "parley"' }
    ],
    [
      "no answer",
      Cause.fail(new SqlError({ cause: new Error("Connection timed out"), message: "PgClient: Connection timed out" })),
      { kind: "start", line: "db.internal:6432 did not answer within 5 seconds" }
    ],
    [
      "secret key that does not open the stored tokens",
      Cause.fail(new StartupFailure.SecretKeyMismatch("PARLEY_SECRET_KEY", 2, 5)),
      {
        kind: "configuration",
        line:
          "PARLEY_SECRET_KEY cannot open 2 of 5 stored WhatsApp access tokens: set it to the key they were sealed " +
          "with, or list that key in PARLEY_PREVIOUS_SECRET_KEYS"
      }
    ],
    [
      "data directory held by another process",
      Cause.fail(new DataDirInUse("./.parley", 4242)),
      {
        kind: "start",
        line:
          "PARLEY_DATA_DIR (./.parley) is in use by another Parley process (pid 4242); stop it, or give this one " +
          "another PARLEY_DATA_DIR"
      }
    ],
    [
      "anything else: the message and its cause, first lines only",
      sql(new Error("first line\nsecond line")),
      { kind: "start", line: "PgClient: Failed to connect: first line" }
    ]
  ]

  for (const [name, cause, expected] of cases) {
    it(name, () => {
      const described = StartupFailure.describe(cause, postgres)
      expect(described).toEqual(expected)
      expect(described.line).not.toContain(password)
      expect(described.line).not.toContain("\n")
    })
  }
})

describe("configuration of secrets and operations", () => {
  const key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
  const other = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA="

  it("PARLEY_PREVIOUS_SECRET_KEYS: comma-separated keys, blanks ignored; a bad entry is named by position, never shown", () => {
    const parsed = Either.getOrThrow(Config.fromEnv({ PARLEY_PREVIOUS_SECRET_KEYS: ` ${key}, ,${other} ` }))
    expect(parsed.previousSecretKeys.map(Redacted.value)).toEqual([key, other])
    expect(Either.getOrThrow(Config.fromEnv({})).previousSecretKeys).toEqual([])
    const bad = Config.fromEnv({ PARLEY_PREVIOUS_SECRET_KEYS: `${key},not-a-key-but-a-secret` })
    expect(Either.isLeft(bad)).toBe(true)
    if (Either.isLeft(bad)) {
      expect(bad.left.variable).toBe("PARLEY_PREVIOUS_SECRET_KEYS")
      expect(bad.left.message).toContain("entry 2")
      expect(bad.left.message).not.toContain("not-a-key-but-a-secret")
      expect(bad.left.message).not.toContain(key)
    }
  })

  it("PARLEY_AUTH_FAILURE_LIMIT: 20 by default, 0 turns it off, anything else is named", () => {
    expect(Either.getOrThrow(Config.fromEnv({})).authFailuresPerMinute).toBe(20)
    expect(Either.getOrThrow(Config.fromEnv({ PARLEY_AUTH_FAILURE_LIMIT: "0" })).authFailuresPerMinute).toBe(0)
    const bad = Config.fromEnv({ PARLEY_AUTH_FAILURE_LIMIT: "-5" })
    expect(Either.isLeft(bad) && bad.left.variable).toBe("PARLEY_AUTH_FAILURE_LIMIT")
  })
})
