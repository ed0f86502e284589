/**
 * @parley/whatsapp-cloud: the core's MessagingGateway on Meta's WhatsApp Cloud API, template sync, and webhook
 * verification and decoding. The fake Cloud API for tests and sandboxes is in `@parley/whatsapp-cloud/testing`.
 */
export * as CloudApiGateway from "./CloudApiGateway.js"
export * as GraphError from "./GraphError.js"
export * as MessagePayload from "./MessagePayload.js"
export * as NumberThroughput from "./NumberThroughput.js"
export * as ProviderMetrics from "./ProviderMetrics.js"
export * as RateLimiter from "./RateLimiter.js"
export * as TemplateSync from "./TemplateSync.js"
export * as Webhook from "./Webhook.js"
export { WebhookPayloadInvalid, WebhookSignatureInvalid, WebhookVerificationRefused } from "./Webhook.js"
export * as WebhookPayload from "./WebhookPayload.js"
