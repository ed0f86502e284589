/**
 * Test kit: a fake of Meta's WhatsApp Cloud API (a real loopback HTTP server) for this package's tests, the HTTP
 * server's tests, and sandboxes.
 */
export * as FakeCloudApi from "./FakeCloudApi.js"
export * as FakeMedia from "./FakeMedia.js"
export * as FakeThroughput from "./FakeThroughput.js"
