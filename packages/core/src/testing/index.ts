/**
 * Test kit for embedders and adapters: memory adapters, a fake gateway, and the shared contract suites.
 */
export * from "./StorageSeeder.js"
