/**
 * Test kit: a fake of Twilio's Messages, typing-indicator and Content APIs (a real loopback HTTP server) that also
 * sends signed webhooks, for this package's tests, the service's tests, and sandboxes.
 */
export * as FakeTwilioApi from "./FakeTwilioApi.js"
