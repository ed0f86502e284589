/**
 * A business's WhatsApp number as Parley knows it, with the provider ids and credentials needed to send from it.
 */
import { Schema } from "effect"
import { BusinessId, WhatsAppNumberId } from "./Ids.js"

/** Who carries the number's messages: Meta's Cloud API directly, or Twilio's WhatsApp sender. */
export const ProviderName = Schema.Literal("whatsapp_cloud", "twilio")
export type ProviderName = typeof ProviderName.Type

/** A Twilio API key (`SK…` and its secret): Twilio's recommended credential for requests, instead of the auth token. */
export const ProviderApiKey = Schema.Struct({ sid: Schema.String, secret: Schema.Redacted(Schema.String) })
export type ProviderApiKey = typeof ProviderApiKey.Type

/**
 * The most messages per second the provider lets the number send: Meta's throughput tier, 80 by default (its
 * standard tier), 1,000 once Meta upgrades the number. Parley spaces a number's sends to stay within it.
 */
export const MessagesPerSecond = Schema.Int.pipe(Schema.between(1, 1_000))

/** Meta's standard throughput tier, which every number has until Meta upgrades it. */
export const defaultMessagesPerSecond = 80

export class WhatsAppNumber extends Schema.Class<WhatsAppNumber>("WhatsAppNumber")({
  id: WhatsAppNumberId,
  businessId: BusinessId,
  /** Defaults to Meta's Cloud API, so a number made before Parley knew of other providers is unchanged. */
  provider: Schema.optionalWith(ProviderName, { default: () => "whatsapp_cloud" }),
  /**
   * The provider's id of the sender: Meta's `phone_number_id` (the sender in the send URL and
   * `metadata.phone_number_id` in webhooks); for Twilio the sender's E.164 number (`+15550002222`, the `To` of its
   * webhooks without the `whatsapp:` prefix).
   */
  providerPhoneNumberId: Schema.String,
  /** As Meta shows it, digits only (e.g. `15550002222`). */
  displayPhoneNumber: Schema.String,
  /** The WhatsApp Business Account that owns the number (for template sync). */
  wabaId: Schema.NullOr(Schema.String),
  /**
   * The provider access token; never logged, never returned by the API. For Twilio, the account's auth token (it
   * signs Twilio's webhooks, and authenticates requests when no API key is given).
   */
  accessToken: Schema.Redacted(Schema.String),
  /** The provider account that owns the number: Twilio's Account SID (`AC…`); null for Meta. */
  providerAccountId: Schema.optionalWith(Schema.NullOr(Schema.String), { default: () => null }),
  /** A Twilio API key to authenticate requests with instead of the auth token; null to use the auth token. */
  providerApiKey: Schema.optionalWith(Schema.NullOr(ProviderApiKey), { default: () => null }),
  /** The number's throughput; a number made before Parley stored it has the standard tier. */
  messagesPerSecond: Schema.optionalWith(MessagesPerSecond, { default: () => defaultMessagesPerSecond })
}) {}

export class WhatsAppNumberNotFound extends Schema.TaggedError<WhatsAppNumberNotFound>()("WhatsAppNumberNotFound", {
  whatsappNumberId: Schema.String
}) {
  override get message() {
    return "WhatsApp number not found"
  }
}
