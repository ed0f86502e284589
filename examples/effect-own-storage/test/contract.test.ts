// The proof that the adapter keeps every promise of Parley's storage ports: the core's own contract suite.
import { runStorageContract } from "@parley/core/testing"
import * as TenantStorage from "../src/TenantStorage.js"

runStorageContract("TenantStorage", TenantStorage.layer)
