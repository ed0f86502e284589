/**
 * @parley/twilio: the core's MessagingGateway on WhatsApp through Twilio's Programmable Messaging, webhook
 * signature checks and decoding, and template sync from Twilio's Content API. The fake Twilio API for tests and
 * sandboxes is in `@parley/twilio/testing`.
 */
export * as TwilioError from "./TwilioError.js"
export * as TwilioGateway from "./TwilioGateway.js"
export * as TwilioTemplateSync from "./TwilioTemplateSync.js"
export * as TwilioWebhook from "./TwilioWebhook.js"
export { TwilioWebhookInvalid } from "./TwilioWebhook.js"
