/**
 * The event contract on the memory adapter.
 */
import { MemoryStorage, runEventLogContract } from "../src/testing/index.js"

runEventLogContract("memory", MemoryStorage.layer)
