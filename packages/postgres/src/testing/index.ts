/**
 * Test kit of `@parley/postgres`: fresh databases on both engines, the core's `StorageSeeder` on SQL, and the whole
 * storage stack ready for the core's contract suites.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { StorageSeeder } from "@parley/core/testing"
import { Layer } from "effect"
import type * as Secrets from "../Secrets.js"
import * as Storage from "../Storage.js"
import * as SqlStorageSeeder from "./StorageSeeder.js"
import * as TestDatabase from "./TestDatabase.js"

export * as SqlStorageSeeder from "./StorageSeeder.js"
export * as TestDatabase from "./TestDatabase.js"

/** Every storage port, the seeder, the `SqlClient` and `Secrets` (random key) on the given database. */
export const storage = <A, E>(
  database: Layer.Layer<SqlClient.SqlClient | A, E>
): Layer.Layer<Storage.Ports | StorageSeeder | SqlClient.SqlClient | Secrets.Secrets | A, E> =>
  Layer.merge(Storage.layer, SqlStorageSeeder.layer).pipe(
    Layer.provideMerge(Layer.merge(database, TestDatabase.secrets))
  )
