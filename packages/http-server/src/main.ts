/**
 * `pnpm start`: the standalone Parley service. Reads the environment (see README), applies migrations, serves the
 * API, and prints the URL, the docs URL and the admin token. SIGTERM/SIGINT stop it gracefully.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Cause, Effect, Either, Logger, Redacted } from "effect"
import * as Config from "./Config.js"
import * as Service from "./Service.js"

const config = Config.fromEnv(process.env)
if (Either.isLeft(config)) {
  console.error(`parley: invalid configuration: ${config.left.message}`)
  process.exit(1)
}

const describe = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  const text =
    error instanceof Error
      ? error.message
      : typeof error === "object" && error !== null && "message" in error
        ? String(error.message)
        : String(error)
  return text.split("\n")[0] ?? "unknown error"
}

const where = config.right.database._tag === "Postgres" ? " on PostgreSQL (DATABASE_URL)" : ""

const program = Effect.gen(function* () {
  const started = yield* Service.start(config.right)
  const lines = [
    `Parley is running at ${started.url}`,
    `  API docs:    ${started.docsUrl}`,
    `  OpenAPI:     ${started.url}/openapi.json`,
    `  Database:    ${started.database}`,
    `  Admin token: ${Redacted.value(started.adminToken)}  (${started.adminTokenSource})`
  ]
  process.stdout.write(`${lines.join("\n")}\n`)
  return yield* Effect.never
}).pipe(
  Effect.scoped,
  Effect.catchAllCause((cause) =>
    Cause.isInterruptedOnly(cause)
      ? Effect.void
      : Effect.sync(() => {
          console.error(`parley: could not start${where}: ${describe(cause)}`)
          process.exitCode = 1
        })
  ),
  Effect.provide(Logger.json),
  Logger.withMinimumLogLevel(config.right.logLevel)
)

NodeRuntime.runMain(program, { disableErrorReporting: true, disablePrettyLogger: true })
