/**
 * The directory `MediaStore` (`PARLEY_MEDIA_DIR`) passes the core's contract; and a write that fails or does not
 * match leaves no file behind in the directory.
 */
import { createHash } from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { runMediaStoreContract } from "@parley/core/testing"
import { afterAll } from "vitest"
import * as MediaDirectory from "../src/MediaDirectory.js"

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")
const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "parley-media-dir-"))

runMediaStoreContract("directory", MediaDirectory.layer(dir), sha256)

afterAll(() => {
  // Refused and broken copies leave no partial files behind.
  const leftovers = Fs.readdirSync(dir, { recursive: true }).filter((f) => String(f).includes(".partial-"))
  Fs.rmSync(dir, { recursive: true, force: true })
  if (leftovers.length > 0) throw new Error(`partial files left behind: ${leftovers.join(", ")}`)
})
