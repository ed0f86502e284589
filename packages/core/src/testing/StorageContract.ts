/**
 * The contract every storage adapter must pass: one suite per concern (see contract/), run against memory, PGlite
 * and PostgreSQL.
 *
 * Each test seeds its own tenants with fresh ids, so the suite can share one database across tests and files.
 */
import { layer } from "@effect/vitest"
import { Duration, Layer } from "effect"
import type { ConversationRepository } from "../ConversationRepository.js"
import type * as Idempotency from "../Idempotency.js"
import { layerUuidV7 } from "../Ids.js"
import type { MessageRepository } from "../MessageRepository.js"
import type { TemplateCatalog } from "../TemplateCatalog.js"
import type { UserDirectory } from "../UserDirectory.js"
import type { WhatsAppNumberDirectory } from "../WhatsAppNumberDirectory.js"
import { concurrentWritesContract } from "./contract/ConcurrentWrites.js"
import { conversationsContract } from "./contract/Conversations.js"
import { deliveryStatusesContract } from "./contract/DeliveryStatuses.js"
import { directoriesContract } from "./contract/Directories.js"
import { idempotencyKeysContract } from "./contract/IdempotencyKeys.js"
import { inboundBatchesContract } from "./contract/InboundBatches.js"
import { inboundMessagesContract } from "./contract/InboundMessages.js"
import { messagesContract } from "./contract/Messages.js"
import { statusBatchesContract } from "./contract/StatusBatches.js"
import { unconfirmedSendsContract } from "./contract/UnconfirmedSends.js"
import type { StorageSeeder } from "./StorageSeeder.js"

export type StoragePorts =
  | ConversationRepository
  | MessageRepository
  | TemplateCatalog
  | Idempotency.IdempotencyStore
  | WhatsAppNumberDirectory
  | UserDirectory
  | StorageSeeder

/**
 * Registers the storage contract suites for an adapter. `storage` provides every storage port and the seeder;
 * it is built once for the whole suite.
 */
export const runStorageContract = <E>(name: string, storage: Layer.Layer<StoragePorts, E>): void => {
  layer(Layer.merge(storage, layerUuidV7), { excludeTestServices: true, timeout: Duration.minutes(2) })(
    `storage contract: ${name}`,
    (it) => {
      unconfirmedSendsContract(it)
      statusBatchesContract(it)
      inboundBatchesContract(it)
      conversationsContract(it)
      inboundMessagesContract(it)
      messagesContract(it)
      deliveryStatusesContract(it)
      directoriesContract(it)
      idempotencyKeysContract(it)
      concurrentWritesContract(it)
    }
  )
}
