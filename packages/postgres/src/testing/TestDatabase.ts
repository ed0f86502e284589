/**
 * Databases for tests: a fresh PostgreSQL database per layer (created on the test server, dropped on release) and
 * an in-memory PGlite, both migrated.
 *
 * The server is `TEST_DATABASE_URL`, by default `postgres://postgres@127.0.0.1:5432/test`; a layer connects there
 * only to create and drop its own `parley_test_<random>` database. When `CI` or `TEST_DATABASE_URL` is set the
 * server is required: an unreachable one fails the suite. Only when neither is set and the default server does not
 * answer may a suite leave its PostgreSQL variant out (`resolvePostgres` says so, with one warning line).
 */

import { randomBytes } from "node:crypto"
import { connect } from "node:net"
import * as Reactivity from "@effect/experimental/Reactivity"
import type { MigrationError } from "@effect/sql/Migrator"
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer, Redacted } from "effect"
import * as PgliteClient from "../PgliteClient.js"
import * as PostgresClient from "../PostgresClient.js"
import * as Secrets from "../Secrets.js"
import { migrated } from "../Storage.js"

export const defaultUrl = "postgres://postgres@127.0.0.1:5432/test"

/** Where the PostgreSQL variant of a suite runs, or why it is left out. */
export type PostgresTarget =
  | { readonly _tag: "Required"; readonly url: string }
  | { readonly _tag: "Available"; readonly url: string }
  | { readonly _tag: "Unavailable"; readonly url: string; readonly reason: string }

/** The URL without its password, for messages. */
export const describeUrl = (url: string): string => {
  try {
    const parsed = new URL(url)
    if (parsed.password !== "") parsed.password = "***"
    return parsed.toString()
  } catch {
    return "(unparseable URL)"
  }
}

const probe = (url: string, timeoutMs: number): Promise<string | undefined> =>
  new Promise((resolve) => {
    let parsed: URL
    try {
      parsed = new URL(url)
    } catch {
      resolve("the URL does not parse")
      return
    }
    const socket = connect({ host: parsed.hostname || "127.0.0.1", port: Number(parsed.port || 5432) })
    const done = (reason: string | undefined) => {
      socket.destroy()
      resolve(reason)
    }
    socket.setTimeout(timeoutMs, () => done(`no answer within ${timeoutMs} ms`))
    socket.once("connect", () => done(undefined))
    socket.once("error", (error) => done(error.message))
  })

/** The default warning is printed once per process, however many suites ask. */
let warned = false
const warnOnce = (line: string) => {
  if (warned) return
  warned = true
  console.warn(line)
}

/**
 * Decides whether a suite runs its PostgreSQL variant. Required (no probe: a dead server must fail the suite) when
 * `CI` or `TEST_DATABASE_URL` is set; otherwise the default server is probed, and an unreachable one is reported
 * with a single warning line.
 */
export const resolvePostgres = async (
  env: NodeJS.ProcessEnv = process.env,
  options: { readonly fallbackUrl?: string; readonly warn?: (line: string) => void } = {}
): Promise<PostgresTarget> => {
  const fallbackUrl = options.fallbackUrl ?? defaultUrl
  const warn = options.warn ?? warnOnce
  const configured = env.TEST_DATABASE_URL
  if ((configured !== undefined && configured !== "") || (env.CI !== undefined && env.CI !== "")) {
    return { _tag: "Required", url: configured || fallbackUrl }
  }
  const reason = await probe(fallbackUrl, 1_000)
  if (reason === undefined) return { _tag: "Available", url: fallbackUrl }
  warn(
    `[@parley/postgres] PostgreSQL at ${describeUrl(fallbackUrl)} is unreachable (${reason}): ` +
      "the PostgreSQL variants of these tests are left out. Set TEST_DATABASE_URL (or CI) to require them."
  )
  return { _tag: "Unavailable", url: fallbackUrl, reason }
}

const databaseUrl = (serverUrl: string, database: string) => {
  const url = new URL(serverUrl)
  url.pathname = `/${database}`
  return url.toString()
}

/** The URL of a database created for one test layer. */
export class FreshDatabase extends Context.Tag("@parley/postgres/testing/FreshDatabase")<
  FreshDatabase,
  { readonly url: Redacted.Redacted<string>; readonly name: string }
>() {}

/**
 * Creates an empty database `parley_test_<random>` on the server at `url` (default: `TEST_DATABASE_URL`, then
 * `defaultUrl`), and drops it, connections and all, when the layer is released.
 */
export const fresh = (url?: string): Layer.Layer<FreshDatabase, SqlError> =>
  Layer.scoped(
    FreshDatabase,
    Effect.gen(function* () {
      const serverUrl = url ?? process.env.TEST_DATABASE_URL ?? defaultUrl
      const admin = yield* PgClient.make({ url: Redacted.make(serverUrl), maxConnections: 1 })
      const name = `parley_test_${randomBytes(6).toString("hex")}`
      yield* admin`CREATE DATABASE ${admin(name)}`
      yield* Effect.addFinalizer(() => Effect.ignore(admin`DROP DATABASE IF EXISTS ${admin(name)} WITH (FORCE)`))
      return { url: Redacted.make(databaseUrl(serverUrl, name)), name }
    })
  ).pipe(Layer.provide(Reactivity.layer))

/** A pool on the fresh database; build it several times to act as several Parley processes. */
export const client = (maxConnections = 10): Layer.Layer<SqlClient.SqlClient, SqlError, FreshDatabase> =>
  Layer.unwrapEffect(
    Effect.map(FreshDatabase, (database) => PostgresClient.layer({ url: database.url, maxConnections }))
  )

/** A fresh, migrated database on the server at `url`, dropped when the layer is released. */
export const postgres = (
  options: { readonly url?: string | undefined; readonly maxConnections?: number | undefined } = {}
): Layer.Layer<SqlClient.SqlClient | FreshDatabase, SqlError | MigrationError> =>
  migrated(client(options.maxConnections)).pipe(Layer.provideMerge(fresh(options.url)))

/** An in-memory PGlite, migrated. */
export const pglite: Layer.Layer<SqlClient.SqlClient, SqlError | MigrationError> = Layer.suspend(() =>
  migrated(PgliteClient.layer())
)

/** `Secrets` with a fresh random key. */
export const secrets: Layer.Layer<Secrets.Secrets> = Layer.suspend(() =>
  Secrets.layer(Redacted.make(Secrets.generateKey())).pipe(Layer.orDie)
)
