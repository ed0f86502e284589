/**
 * WhatsApp's 24-hour customer-service window: free-form messages may be sent only while it is open.
 *
 * It is open iff the newest customer message's own timestamp is less than 24 hours before now. Exactly 24 hours
 * is closed; a customer who never wrote has no window; business messages never extend it.
 */
import { DateTime, Duration, Option, Schema } from "effect"
import { ConversationId } from "./Ids.js"

export const length: Duration.Duration = Duration.hours(24)

export const closesAt = (lastInboundAt: DateTime.Utc): DateTime.Utc => DateTime.addDuration(lastInboundAt, length)

export const isOpen = (lastInboundAt: Option.Option<DateTime.Utc>, now: DateTime.Utc): boolean =>
  Option.exists(lastInboundAt, (t) => DateTime.lessThan(now, closesAt(t)))

/** When the open window closes, or `None` when it is closed now. */
export const openUntil = (lastInboundAt: Option.Option<DateTime.Utc>, now: DateTime.Utc): Option.Option<DateTime.Utc> =>
  Option.filter(Option.map(lastInboundAt, closesAt), (end) => DateTime.lessThan(now, end))

/** A free-form send was refused because the window is closed; send an approved template instead. */
export class ServiceWindowClosed extends Schema.TaggedError<ServiceWindowClosed>()("ServiceWindowClosed", {
  conversationId: ConversationId,
  /** When the window closed; `None` when the customer never wrote. */
  closedAt: Schema.OptionFromNullOr(Schema.DateTimeUtc)
}) {
  override get message() {
    return "the 24-hour customer service window is closed: send an approved template instead"
  }
}
