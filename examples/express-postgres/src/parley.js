/**
 * Parley inside an existing backend: its use cases (`Inbox`) on PostgreSQL (`@parley/postgres`) and Meta's Cloud
 * API (`@parley/whatsapp-cloud`), built once into a `ManagedRuntime`. The rest of the app is plain JavaScript: it
 * calls `runtime.runPromiseExit(effect)` at its edges and never needs to know Effect beyond that.
 */
import { FetchHttpClient } from "@effect/platform"
import { Ids, Inbox } from "@parley/core"
import { Storage, Tenancy } from "@parley/postgres"
import { CloudApiGateway } from "@parley/whatsapp-cloud"
import { Layer, ManagedRuntime, Redacted } from "effect"

/**
 * @param {{ databaseUrl: string, secretKey: string, whatsappApiUrl?: string }} options
 *   `secretKey`: 32 bytes in base64 or hex; it encrypts the stored WhatsApp access tokens.
 */
export const makeParleyRuntime = ({ databaseUrl, secretKey, whatsappApiUrl }) => {
  // The migrations run when the runtime is first used.
  const storage = Storage.layerPostgres({ url: Redacted.make(databaseUrl), secretKey: Redacted.make(secretKey) })
  const gateway = CloudApiGateway.layer(whatsappApiUrl === undefined ? {} : { baseUrl: whatsappApiUrl }).pipe(
    Layer.provide(FetchHttpClient.layer)
  )
  const parley = Layer.mergeAll(Inbox.layer(), Tenancy.layer).pipe(
    Layer.provideMerge(Layer.mergeAll(storage, gateway, Ids.layerUuidV7))
  )
  return ManagedRuntime.make(parley)
}
