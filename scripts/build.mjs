/**
 * `pnpm build`: tsc's JavaScript and declarations in packages/*\/dist, the PGlite seed cluster
 * (packages/postgres/scripts/pglite-seed.mjs) and the bundled service and `parley` command
 * (packages/http-server/scripts/bundle-bin.mjs). `--all` also type-checks the tests (`tsc -b` of the root).
 * Each step skips work that is up to date.
 */
import { execFileSync } from "node:child_process"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
const node = (...args) => execFileSync(process.execPath, args, { cwd: root, stdio: "inherit" })

node(
  Path.join(root, "node_modules/typescript/bin/tsc"),
  "-b",
  process.argv.includes("--all") ? "." : "packages/http-server"
)
node("packages/postgres/scripts/pglite-seed.mjs")
node("packages/http-server/scripts/bundle-bin.mjs")
