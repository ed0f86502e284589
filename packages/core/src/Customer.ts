/**
 * How Parley identifies a customer: by phone today, with room for Meta's business-scoped user id (BSUID), which
 * arrives with WhatsApp usernames in 2026 and may come without any phone number.
 */
import { Option, Schema } from "effect"
import { E164 } from "./Phone.js"

/** Meta's business-scoped user id (`user_id`, `from_user_id`): opaque, up to 256 characters. */
export const BusinessScopedUserId = Schema.String.pipe(
  Schema.minLength(1),
  Schema.maxLength(256),
  Schema.brand("BusinessScopedUserId")
)
export type BusinessScopedUserId = typeof BusinessScopedUserId.Type

/**
 * A customer as a webhook or a send names them. At least one of `phone` and `userId` is present; a conversation
 * is found by phone first, then by the business-scoped user id.
 */
export class CustomerIdentity extends Schema.Class<CustomerIdentity>("CustomerIdentity")(
  Schema.Struct({
    phone: Schema.OptionFromNullOr(E164),
    userId: Schema.OptionFromNullOr(BusinessScopedUserId)
  }).pipe(
    Schema.filter((c) => Option.isSome(c.phone) || Option.isSome(c.userId), {
      message: () => "a customer needs a phone number or a business-scoped user id"
    })
  )
) {
  static byPhone(phone: E164): CustomerIdentity {
    return new CustomerIdentity({ phone: Option.some(phone), userId: Option.none() }, true)
  }
}
