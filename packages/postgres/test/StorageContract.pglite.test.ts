/**
 * The core's storage contract on an in-memory PGlite (one instance for the whole suite).
 */
import { runStorageContract } from "@parley/core/testing"
import { storage, TestDatabase } from "../src/testing/index.js"

runStorageContract("PGlite", storage(TestDatabase.pglite))
