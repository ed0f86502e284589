/**
 * The one error a storage port may fail with. Adapters convert their driver's errors (SqlError, decode failures)
 * into it, so nothing foreign crosses a port.
 */
import { Schema } from "effect"

export class StorageError extends Schema.TaggedError<StorageError>()("StorageError", {
  operation: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `storage failed during ${this.operation}: ${this.reason}`
  }
}
