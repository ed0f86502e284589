/**
 * Every storage port of the core on one `SqlClient`, and ready-made stacks for the two engines: PGlite (embedded,
 * the zero-setup default) and a PostgreSQL server. The stacks run the migrations before anything uses the tables.
 */
import type { MigrationError } from "@effect/sql/Migrator"
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type {
  ConversationRepository,
  EventLog,
  IdempotencyStore,
  MessageRepository,
  TemplateCatalog,
  UserDirectory,
  WhatsAppNumberDirectory
} from "@parley/core"
import { Layer, type Redacted } from "effect"
import * as EventNotifications from "./EventNotifications.js"
import * as Migrations from "./Migrations.js"
import * as PgliteClient from "./PgliteClient.js"
import * as PostgresClient from "./PostgresClient.js"
import * as Secrets from "./Secrets.js"
import * as SqlConversationRepository from "./SqlConversationRepository.js"
import * as SqlEventLog from "./SqlEventLog.js"
import * as SqlIdempotencyStore from "./SqlIdempotencyStore.js"
import * as SqlMessageRepository from "./SqlMessageRepository.js"
import * as SqlTemplateCatalog from "./SqlTemplateCatalog.js"
import * as SqlUserDirectory from "./SqlUserDirectory.js"
import * as SqlWhatsAppNumberDirectory from "./SqlWhatsAppNumberDirectory.js"

/** The core's storage ports. */
export type Ports =
  | ConversationRepository
  | MessageRepository
  | IdempotencyStore
  | TemplateCatalog
  | WhatsAppNumberDirectory
  | UserDirectory
  | EventLog

/** The ports on the host's `SqlClient` (migrated) and `Secrets`. */
export const layer: Layer.Layer<Ports, never, SqlClient.SqlClient | Secrets.Secrets> = Layer.mergeAll(
  SqlConversationRepository.layer,
  // Inbound messages start a new customer's conversation in their own transaction.
  SqlMessageRepository.layer.pipe(Layer.provide(SqlConversationRepository.layer)),
  SqlIdempotencyStore.layer,
  SqlTemplateCatalog.layer,
  SqlWhatsAppNumberDirectory.layer,
  SqlUserDirectory.layer,
  // Wakes its followers by `EventNotifications` when the client provides it (both stacks below do).
  SqlEventLog.layer()
)

export type StackError = SqlError | MigrationError | Secrets.SecretKeyInvalid

/** A `SqlClient` with the migrations applied before it is handed out. */
export const migrated = <E, R>(
  client: Layer.Layer<SqlClient.SqlClient, E, R>
): Layer.Layer<SqlClient.SqlClient, E | SqlError | MigrationError, R> =>
  Migrations.layer.pipe(Layer.provideMerge(client))

/** Ports, `SqlClient` and `Secrets` on PGlite: in memory, or persisted in `dataDir`. */
export const layerPglite = (options: {
  readonly dataDir?: string | undefined
  readonly secretKey: Redacted.Redacted<string>
  /** Retired keys: they still open stored tokens (until re-sealed), they never seal. */
  readonly previousSecretKeys?: ReadonlyArray<Redacted.Redacted<string>> | undefined
}): Layer.Layer<Ports | SqlClient.SqlClient | Secrets.Secrets, StackError> =>
  layer.pipe(
    Layer.provideMerge(
      Layer.merge(
        migrated(PgliteClient.layer({ dataDir: options.dataDir })),
        Secrets.layer(options.secretKey, { previousKeys: options.previousSecretKeys })
      )
    )
  )

/** Ports, `SqlClient` and `Secrets` on a PostgreSQL server. */
export const layerPostgres = (options: {
  readonly url: Redacted.Redacted
  readonly maxConnections?: number | undefined
  /** Named prepared statements for the hot statements (default true): see PostgresClient's `prepare`. */
  readonly prepare?: boolean | undefined
  readonly secretKey: Redacted.Redacted<string>
  /** Retired keys: they still open stored tokens (until re-sealed), they never seal. */
  readonly previousSecretKeys?: ReadonlyArray<Redacted.Redacted<string>> | undefined
}): Layer.Layer<Ports | SqlClient.SqlClient | Secrets.Secrets, StackError> => {
  // One pool: the same layer value is built once however many times it is provided.
  const client = PostgresClient.layer({
    url: options.url,
    maxConnections: options.maxConnections,
    prepare: options.prepare
  })
  return layer.pipe(
    Layer.provideMerge(
      Layer.mergeAll(
        migrated(client),
        EventNotifications.layerPg.pipe(Layer.provide(client)),
        Secrets.layer(options.secretKey, { previousKeys: options.previousSecretKeys })
      )
    )
  )
}
