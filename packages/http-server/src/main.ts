/**
 * `pnpm start`: the standalone Parley service. Reads the environment (see README), applies migrations, serves the
 * API, and prints the URL and the docs URL; the admin token only on the start that generated it, never one given in
 * the environment. SIGTERM/SIGINT stop it gracefully. A start that fails prints one line naming the cause, exit 1.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Cause, Effect, Either, Logger, Redacted } from "effect"
import * as Config from "./Config.js"
import * as Service from "./Service.js"
import * as StartupFailure from "./StartupFailure.js"

const config = Config.fromEnv(process.env)
if (Either.isLeft(config)) {
  console.error(`parley: invalid configuration: ${config.left.message}`)
  process.exit(1)
}

// Files this process creates are owner-only (PGlite's own, which it makes 0666, are fixed by `DataDir.secure`).
process.umask(0o077)

const where = config.right.database._tag === "Postgres" ? " on PostgreSQL (DATABASE_URL)" : ""

const adminTokenLine = (started: Service.Started) =>
  started.adminTokenCreated
    ? `  Admin token: ${Redacted.value(started.adminToken)}  (generated now and saved in ${started.adminTokenSource}; not shown again)`
    : started.adminTokenSource === "PARLEY_ADMIN_TOKEN"
      ? "  Admin token: from PARLEY_ADMIN_TOKEN"
      : `  Admin token: in ${started.adminTokenSource}`

const program = Effect.gen(function* () {
  const started = yield* Service.start(config.right)
  const lines = [
    `Parley is running at ${started.url}`,
    `  API docs:    ${started.docsUrl}`,
    `  OpenAPI:     ${started.url}/openapi.json`,
    `  Database:    ${started.database}`,
    adminTokenLine(started)
  ]
  if (started.tokensUnderPreviousKey > 0) {
    lines.push(
      `  Secret key:  ${started.tokensUnderPreviousKey} access tokens are sealed under a previous key; ` +
        "re-seal them with `pnpm parley secrets reseal`, then drop PARLEY_PREVIOUS_SECRET_KEYS"
    )
  }
  process.stdout.write(`${lines.join("\n")}\n`)
  return yield* Effect.never
}).pipe(
  Effect.scoped,
  Effect.catchAllCause((cause) =>
    Cause.isInterruptedOnly(cause)
      ? Effect.void
      : Effect.sync(() => {
          const failure = StartupFailure.describe(cause, config.right)
          console.error(
            failure.kind === "configuration"
              ? `parley: invalid configuration: ${failure.line}`
              : `parley: could not start${where}: ${failure.line}`
          )
          process.exitCode = 1
        })
  ),
  Effect.provide(Logger.json),
  Logger.withMinimumLogLevel(config.right.logLevel)
)

NodeRuntime.runMain(program, { disableErrorReporting: true, disablePrettyLogger: true })
