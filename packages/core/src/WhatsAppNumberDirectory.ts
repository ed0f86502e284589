/**
 * The port that finds a business's WhatsApp numbers.
 */
import { Context, type Effect, type Option } from "effect"
import type { BusinessId, WhatsAppNumberId } from "./Ids.js"
import type { StorageError } from "./StorageError.js"
import type { ProviderName, WhatsAppNumber } from "./WhatsAppNumber.js"

export class WhatsAppNumberDirectory extends Context.Tag("@parley/core/WhatsAppNumberDirectory")<
  WhatsAppNumberDirectory,
  {
    readonly findById: (
      businessId: BusinessId,
      id: WhatsAppNumberId
    ) => Effect.Effect<Option.Option<WhatsAppNumber>, StorageError>

    /**
     * Routes a provider webhook to its number by the provider's id of the sender (Meta's `phone_number_id`,
     * Twilio's sender E.164), within that provider (default Meta's Cloud API): ids are unique per provider only.
     * The only lookup not scoped by business, because a webhook names no business: it yields the number's own
     * business, which then scopes everything else.
     */
    readonly findByProviderId: (
      providerPhoneNumberId: string,
      provider?: ProviderName
    ) => Effect.Effect<Option.Option<WhatsAppNumber>, StorageError>
  }
>() {}
