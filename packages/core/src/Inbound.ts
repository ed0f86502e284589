/**
 * What a provider adapter hands the core when a customer writes: one provider-neutral inbound message.
 */
import type { DateTime, Option } from "effect"
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
