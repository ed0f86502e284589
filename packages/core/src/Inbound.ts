/**
 * What a provider adapter hands the core when a customer writes: one provider-neutral inbound message.
 */
import { DateTime, Duration, type Option } from "effect"
import type { CustomerIdentity } from "./Customer.js"
import type { MediaReference, MessageType } from "./Message.js"

export interface InboundMessage {
  /** The provider's message id (Meta's `wamid`): the dedupe key. */
  readonly providerMessageId: string
  readonly customer: CustomerIdentity
  /** The customer's profile name, when the provider sent it. */
  readonly customerName: Option.Option<string>
  /** The message's own timestamp (not its arrival): the 24-hour window runs from here. */
  readonly timestamp: DateTime.Utc
  readonly messageType: MessageType
  readonly text: string | null
  readonly media: MediaReference | null
  readonly content: Readonly<Record<string, unknown>> | null
  readonly replyToProviderMessageId: string | null
}

/** System notices (number changed, …) are not the customer writing: they do not open the window. */
export const opensWindow = (message: Pick<InboundMessage, "messageType">): boolean => message.messageType !== "system"

/**
 * How far in the future a provider's timestamp may be and still be trusted: clocks drift, and Meta's seconds are
 * truncated, so a few minutes ahead is honest. Beyond it the timestamp is replaced by the time Parley received the
 * item: a signed payload must not hold a 24-hour window open for years or pin a conversation to the top of the list.
 */
export const maxFutureSkew: Duration.Duration = Duration.minutes(5)

/**
 * The earliest timestamp a WhatsApp item can honestly carry (WhatsApp did not exist before 2009). Anything earlier
 * (including dates PostgreSQL cannot store) is replaced by the time received too, so it can never wedge a delivery.
 */
export const earliestPlausible: DateTime.Utc = DateTime.unsafeMake("2009-01-01T00:00:00.000Z")

/**
 * The timestamp Parley keeps for an item received at `receivedAt`: its own, when it lies between
 * `earliestPlausible` and `receivedAt + maxFutureSkew` (both inclusive); otherwise `receivedAt`.
 */
export const plausibleTimestamp = (timestamp: DateTime.Utc, receivedAt: DateTime.Utc): DateTime.Utc =>
  DateTime.lessThan(timestamp, earliestPlausible) ||
  DateTime.greaterThan(timestamp, DateTime.addDuration(receivedAt, maxFutureSkew))
    ? receivedAt
    : timestamp
