/**
 * A business's WhatsApp number as Parley knows it, with the provider ids and credentials needed to send from it.
 */
import { Schema } from "effect"
import { BusinessId, WhatsAppNumberId } from "./Ids.js"

export class WhatsAppNumber extends Schema.Class<WhatsAppNumber>("WhatsAppNumber")({
  id: WhatsAppNumberId,
  businessId: BusinessId,
  /** Meta's `phone_number_id`: the sender in the send URL and `metadata.phone_number_id` in webhooks. */
  providerPhoneNumberId: Schema.String,
  /** As Meta shows it, digits only (e.g. `15550002222`). */
  displayPhoneNumber: Schema.String,
  /** The WhatsApp Business Account that owns the number (for template sync). */
  wabaId: Schema.NullOr(Schema.String),
  /** The provider access token; never logged, never returned by the API. */
  accessToken: Schema.Redacted(Schema.String)
}) {}

export class WhatsAppNumberNotFound extends Schema.TaggedError<WhatsAppNumberNotFound>()("WhatsAppNumberNotFound", {
  whatsappNumberId: Schema.String
}) {
  override get message() {
    return "WhatsApp number not found"
  }
}
