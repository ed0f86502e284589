/**
 * `pnpm bundle [folder]` (default `bundle/`): a self-contained folder of the service that runs with `node` alone:
 * `node <folder>/dist/bin/main.js` (or `npm start` in it). Builds, then `pnpm deploy --prod` of @parley/http-server:
 * its files, the workspace packages it depends on (as packed) and its production dependencies, in the folder's
 * own node_modules (relative links only, so the folder can be moved or copied as a whole).
 */
import { execFileSync } from "node:child_process"
import { rmSync } from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { pnpmCommand } from "./pack.mjs"

const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
const target = Path.resolve(process.argv[2] ?? Path.join(root, "bundle"))

execFileSync(process.execPath, ["scripts/build.mjs"], { cwd: root, stdio: "inherit" })
rmSync(target, { recursive: true, force: true })
const [command, ...prefix] = pnpmCommand()
execFileSync(command, [...prefix, "--filter", "@parley/http-server", "deploy", "--prod", target], {
  cwd: root,
  stdio: ["ignore", "ignore", "inherit"]
})
console.log(`Parley bundled in ${target}: start it with  node ${Path.join(target, "dist/bin/main.js")}`)
