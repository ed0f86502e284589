/**
 * Test-data setup that every storage adapter provides, so the shared contract suites can create businesses,
 * users and numbers without knowing the adapter (the core has no port for those: they belong to the service's
 * administration, not to the inbox).
 */
import { Context, type Effect } from "effect"
import type { BusinessId, UserId } from "../Ids.js"
import type { StorageError } from "../StorageError.js"
import type { WhatsAppNumber } from "../WhatsAppNumber.js"

export class StorageSeeder extends Context.Tag("@parley/core/testing/StorageSeeder")<
  StorageSeeder,
  {
    readonly business: (input: { readonly id: BusinessId; readonly name: string }) => Effect.Effect<void, StorageError>
    readonly user: (input: {
      readonly id: UserId
      readonly businessId: BusinessId
      readonly name: string
    }) => Effect.Effect<void, StorageError>
    readonly whatsappNumber: (number: WhatsAppNumber) => Effect.Effect<void, StorageError>
  }
>() {}
