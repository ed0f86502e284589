/**
 * A `SqlClient` on a PostgreSQL server through `@effect/sql-pg` (node-postgres pool).
 */

import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { PgClient } from "@effect/sql-pg"
import { Config, type ConfigError, Duration, Layer, type Redacted } from "effect"

export interface PostgresClientOptions {
  /** `postgres://user:password@host:port/database` */
  readonly url: Redacted.Redacted
  /** Pool size; each Parley process holds at most this many server connections. */
  readonly maxConnections?: number | undefined
  readonly applicationName?: string | undefined
}

const config = (options: PostgresClientOptions) => ({
  url: options.url,
  maxConnections: options.maxConnections ?? 10,
  applicationName: options.applicationName ?? "parley",
  connectTimeout: Duration.seconds(5),
  idleTimeout: Duration.seconds(30)
})

/** Connects (checking the server with `SELECT 1`), and closes the pool when the layer is released. */
export const layer = (options: PostgresClientOptions): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, SqlError> =>
  PgClient.layer(config(options))

/** Reads `DATABASE_URL` (and optionally `DATABASE_POOL_SIZE`) from configuration. */
export const layerConfig = (
  url: Config.Config<Redacted.Redacted> = Config.redacted("DATABASE_URL"),
  maxConnections: Config.Config<number> = Config.integer("DATABASE_POOL_SIZE").pipe(Config.withDefault(10))
): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, SqlError | ConfigError.ConfigError> =>
  Layer.unwrapEffect(Config.all({ url, maxConnections }).pipe(Config.map((options) => layer(options))))
