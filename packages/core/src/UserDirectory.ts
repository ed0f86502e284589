/**
 * The port that knows a business's users (the people conversations are assigned to).
 */
import { Context, type Effect } from "effect"
import type { BusinessId, UserId } from "./Ids.js"
import type { StorageError } from "./StorageError.js"

export class UserDirectory extends Context.Tag("@parley/core/UserDirectory")<
  UserDirectory,
  {
    readonly exists: (businessId: BusinessId, userId: UserId) => Effect.Effect<boolean, StorageError>
  }
>() {}
