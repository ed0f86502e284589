/**
 * The standalone service: configuration → storage (embedded PGlite in the data directory, or PostgreSQL) → the
 * server, plus what it prints at start. `main.ts` runs it; tests run it too (restart, startup).
 */

import * as Path from "node:path"
import { HttpServer } from "@effect/platform"
import { Storage } from "@parley/postgres"
import { Context, Duration, Effect, Layer, Option, type Redacted, type Scope } from "effect"
import type { ServiceConfig } from "./Config.js"
import * as DataDir from "./DataDir.js"
import * as Server from "./Server.js"

export interface Started {
  readonly url: string
  readonly docsUrl: string
  readonly adminToken: Redacted.Redacted<string>
  /** Where the admin token comes from: the environment, or a file in the data directory. */
  readonly adminTokenSource: string
  readonly database: string
}

export type Overrides = Partial<Omit<Server.ServerOptions, "port" | "host" | "adminToken" | "rateLimitPerMinute">>

/** Builds and starts the service in the scope; stops it (gracefully) when the scope closes. */
export const start = (config: ServiceConfig, overrides: Overrides = {}): Effect.Effect<Started, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const generated = Option.isNone(config.adminToken) ? yield* DataDir.adminToken(config.dataDir) : undefined
    const adminToken = Option.getOrElse(config.adminToken, () => generated!.value)
    const secretKey =
      config.database._tag === "Postgres"
        ? Option.getOrThrow(config.secretKey)
        : Option.isSome(config.secretKey)
          ? config.secretKey.value
          : (yield* DataDir.secretKey(config.dataDir)).value
    const storage =
      config.database._tag === "Postgres"
        ? Storage.layerPostgres({
            url: config.database.url,
            maxConnections: config.database.poolSize,
            secretKey
          })
        : Storage.layerPglite({ dataDir: DataDir.pgliteDir(config.dataDir), secretKey })
    const context = yield* Layer.build(
      Server.layer(
        {
          port: config.port,
          host: config.host,
          adminToken,
          rateLimitPerMinute: config.rateLimitPerMinute,
          unconfirmedSendTimeout: Duration.seconds(config.unconfirmedSendTimeoutSeconds),
          cursorSecret: secretKey,
          // Several processes may share a PostgreSQL database; the embedded one belongs to this process alone.
          sharedRateLimits: config.database._tag === "Postgres",
          ...overrides,
          whatsapp: { ...config.whatsapp, ...overrides.whatsapp }
        },
        storage
      )
    )
    const address = Context.get(context, HttpServer.HttpServer).address
    const host =
      address._tag === "TcpAddress"
        ? `${["0.0.0.0", "::"].includes(address.hostname) ? "localhost" : address.hostname}:${address.port}`
        : address.path
    const url = `http://${host}`
    return {
      url,
      docsUrl: `${url}/docs`,
      adminToken,
      adminTokenSource:
        generated === undefined ? "PARLEY_ADMIN_TOKEN" : Path.join(config.dataDir, DataDir.files.adminToken),
      database:
        config.database._tag === "Postgres"
          ? "PostgreSQL (DATABASE_URL)"
          : `embedded PGlite in ${DataDir.pgliteDir(config.dataDir)}`
    }
  })
