/**
 * The event contract on an in-memory PGlite (one instance for the whole suite).
 */
import { runEventLogContract } from "@parley/core/testing"
import { storage, TestDatabase } from "../src/testing/index.js"

runEventLogContract("PGlite", storage(TestDatabase.pglite))
