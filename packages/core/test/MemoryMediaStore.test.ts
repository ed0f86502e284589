import { createHash } from "node:crypto"
import { MemoryMediaStore, runMediaStoreContract } from "../src/testing/index.js"

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")

runMediaStoreContract("memory", MemoryMediaStore.layer(sha256), sha256)
