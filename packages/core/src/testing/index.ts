/**
 * Test kit for embedders and adapters: memory adapters, a fake gateway, and the shared contract suites.
 */

export { type EventLogPorts, runEventLogContract } from "./contract/EventLog.js"
export * as FakeGateway from "./FakeGateway.js"
export * from "./GatewayConformance.js"
export * from "./MediaStoreContract.js"
export * as MemoryMediaStore from "./MemoryMediaStore.js"
export * as MemoryStorage from "./MemoryStorage.js"
export * from "./RateLimitStoreContract.js"
export * from "./StorageContract.js"
export * from "./StorageSeeder.js"
export * as TestData from "./TestData.js"
