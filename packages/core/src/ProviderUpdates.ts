/**
 * What one provider webhook says about one business number, whatever the provider: the inbound messages, the
 * status updates, account-level errors, and the items that could not be decoded. Every provider adapter's webhook
 * decoder produces these, so the host routes and applies them the same way for Meta's Cloud API and for Twilio.
 */
import type { InboundMessage } from "./Inbound.js"
import type { DeliveryFailure } from "./Message.js"
import type { StatusUpdate } from "./MessageRepository.js"

/** An item of a webhook that could not become an inbound message or a status update (or is not a change). */
export interface SkippedItem {
  readonly kind: "message" | "status"
  readonly reason: string
  readonly raw: unknown
}

/** Everything one webhook says about one business number. */
export interface NumberUpdates {
  /** The number's `providerPhoneNumberId` (Meta's `phone_number_id`; for Twilio the sender's E.164). */
  readonly providerPhoneNumberId: string
  readonly displayPhoneNumber: string | null
  /** Meta's WhatsApp Business Account (`entry[].id`); null when the provider has none. */
  readonly wabaId: string | null
  readonly inbound: ReadonlyArray<InboundMessage>
  readonly statuses: ReadonlyArray<StatusUpdate>
  /** Account- or app-level problems not tied to a message (Meta's `value.errors[]`). */
  readonly errors: ReadonlyArray<DeliveryFailure>
  readonly skipped: ReadonlyArray<SkippedItem>
}

export type WebhookBatch = ReadonlyArray<NumberUpdates>
