/**
 * @parley/core: a business's WhatsApp inbox as a pure domain library. Models, rules, ports and use cases; no I/O.
 * Adapters (storage, provider, HTTP) live in their own packages and are chosen by the host.
 */
export * from "./Actor.js"
export * from "./Conversation.js"
export * from "./ConversationRepository.js"
export * as Cursor from "./Cursor.js"
export { InvalidCursor } from "./Cursor.js"
export * from "./Customer.js"
export * as Events from "./Event.js"
export { type Event, type EventType, eventTypes } from "./Event.js"
export * as EventFeed from "./EventFeed.js"
export * from "./EventLog.js"
export * as GatewayRouter from "./GatewayRouter.js"
export * as Idempotency from "./Idempotency.js"
export {
  DeliveryUnconfirmed,
  IdempotencyKeyInFlight,
  IdempotencyKeyReused,
  IdempotencyStore
} from "./Idempotency.js"
export * from "./Ids.js"
export * from "./Inbound.js"
export * as Inbox from "./Inbox.js"
export {
  AssignedToMeRequiresUser,
  AssigneeNotFound,
  type ConversationDetail,
  type ConversationPage,
  type ConversationView,
  type SendReceipt
} from "./Inbox.js"
export * from "./InvalidRequest.js"
export * as IsoTime from "./IsoTime.js"
export * as Media from "./Media.js"
export {
  MediaGone,
  MediaKind,
  MediaTooLarge,
  MediaTypeUnsupported,
  MessageHasNoMedia,
  MessageNotFound
} from "./Media.js"
export * as MediaLibrary from "./MediaLibrary.js"
export * as MediaStore from "./MediaStore.js"
export { MediaCorrupted } from "./MediaStore.js"
export * from "./Message.js"
export * from "./MessageRepository.js"
export * from "./MessagingGateway.js"
export * as Phone from "./Phone.js"
export { E164 } from "./Phone.js"
export type { NumberUpdates, SkippedItem, WebhookBatch } from "./ProviderUpdates.js"
export * as RateLimit from "./RateLimit.js"
export { RateLimitStore } from "./RateLimit.js"
export * as Representation from "./Representation.js"
export * as ServiceWindow from "./ServiceWindow.js"
export { ServiceWindowClosed } from "./ServiceWindow.js"
export * from "./StorageError.js"
export * from "./Template.js"
export * from "./TemplateCatalog.js"
export * as Text from "./Text.js"
export * from "./UserDirectory.js"
export * from "./WhatsAppNumber.js"
export * from "./WhatsAppNumberDirectory.js"
