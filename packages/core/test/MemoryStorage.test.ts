import { MemoryStorage, runStorageContract } from "../src/testing/index.js"

runStorageContract("memory", MemoryStorage.layer)
