/**
 * The provider port: how a message leaves Parley. Meta's Cloud API (`@parley/whatsapp-cloud`) and WhatsApp through
 * Twilio (`@parley/twilio`) are its adapters; another provider can be swapped in by implementing this tag and
 * passing the exported conformance suite.
 *
 * Every failure is one of the typed errors below; an adapter never lets its HTTP client's errors through.
 */
import { Context, type Effect, Schema } from "effect"
import type { CustomerIdentity } from "./Customer.js"
import type { MessageId } from "./Ids.js"
import type { BoundTemplate } from "./Template.js"
import type { WhatsAppNumber } from "./WhatsAppNumber.js"

const ProviderError = {
  /** The provider's error code (Meta's `error.code`, Twilio's `code`), when it gave one. */
  code: Schema.NullOr(Schema.Int),
  title: Schema.String
}

/** The provider says the customer-service window is closed (Meta 131047). Final. */
export class ProviderWindowClosed extends Schema.TaggedError<ProviderWindowClosed>()(
  "ProviderWindowClosed",
  ProviderError
) {}

/** The recipient cannot receive WhatsApp messages or is malformed (Meta 131026, 131030, 131021…). Final. */
export class RecipientInvalid extends Schema.TaggedError<RecipientInvalid>()("RecipientInvalid", ProviderError) {}

/** The provider refused the template or its parameters (Meta 132xxx). Final. */
export class TemplateRejected extends Schema.TaggedError<TemplateRejected>()("TemplateRejected", ProviderError) {}

/** Any other definitive refusal of this message by the provider. Final. */
export class ProviderRejected extends Schema.TaggedError<ProviderRejected>()("ProviderRejected", ProviderError) {}

/** Throughput or spam limits (Meta 4, 80007, 130429, 131056); nothing was sent. Retry after `retryAfterSeconds`. */
export class ProviderRateLimited extends Schema.TaggedError<ProviderRateLimited>()("ProviderRateLimited", {
  ...ProviderError,
  retryAfterSeconds: Schema.NonNegativeInt
}) {}

/** Credentials or configuration are wrong (Meta 190, 10, 200…): an operator must act; nothing was sent. */
export class ProviderMisconfigured extends Schema.TaggedError<ProviderMisconfigured>()(
  "ProviderMisconfigured",
  ProviderError
) {}

/** The provider could not be reached or kept failing within the retry budget; nothing was accepted. */
export class ProviderUnavailable extends Schema.TaggedError<ProviderUnavailable>()(
  "ProviderUnavailable",
  ProviderError
) {}

/**
 * The request may have reached the provider but no answer came back (timeout or reset after it was written).
 * Never resent blindly: a status webhook carrying our message id settles it.
 */
export class ProviderOutcomeUnknown extends Schema.TaggedError<ProviderOutcomeUnknown>()("ProviderOutcomeUnknown", {
  reason: Schema.String
}) {}

export type GatewayError =
  | ProviderWindowClosed
  | RecipientInvalid
  | TemplateRejected
  | ProviderRejected
  | ProviderRateLimited
  | ProviderMisconfigured
  | ProviderUnavailable
  | ProviderOutcomeUnknown

/** The provider accepted the message for delivery (not yet delivered). */
export interface Accepted {
  readonly providerMessageId: string
  /** The canonical recipient id the provider resolved (Meta's `contacts[].wa_id`), when it said. */
  readonly recipientWaId: string | null
}

export interface SendBase {
  readonly from: WhatsAppNumber
  readonly to: CustomerIdentity
  /**
   * Our message id. Meta echoes it on status webhooks (`biz_opaque_callback_data`); Twilio cannot, so its statuses
   * find the message by the `providerMessageId` recorded at send.
   */
  readonly messageId: MessageId
}

export interface SendText extends SendBase {
  readonly text: string
}

export interface SendTemplate extends SendBase {
  readonly template: BoundTemplate
}

export class MessagingGateway extends Context.Tag("@parley/core/MessagingGateway")<
  MessagingGateway,
  {
    readonly sendText: (request: SendText) => Effect.Effect<Accepted, GatewayError>
    readonly sendTemplate: (request: SendTemplate) => Effect.Effect<Accepted, GatewayError>
    /** Tells the provider the business read the customer's messages up to this one (blue ticks). */
    readonly markRead: (request: {
      readonly from: WhatsAppNumber
      readonly providerMessageId: string
    }) => Effect.Effect<void, GatewayError>
  }
>() {}
