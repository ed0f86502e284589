/**
 * Packs every published package with `pnpm pack` (which turns `workspace:^` into the real version, as a publish
 * would) into one folder: `node scripts/pack.mjs <folder>`. Needs the build (`pnpm build`). Prints, and returns when
 * imported, the tarball of each package by name.
 */
import { execFileSync } from "node:child_process"
import { mkdirSync, readFileSync } from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
export const packages = ["core", "postgres", "whatsapp-cloud", "twilio", "http-server"]

/** `pnpm` when it is on the PATH, else the pinned version through npx (as .ci/run does). */
export const pnpmCommand = () => {
  try {
    execFileSync("pnpm", ["--version"], { stdio: "ignore" })
    return ["pnpm"]
  } catch {
    const pinned = JSON.parse(readFileSync(Path.join(root, "package.json"), "utf8")).packageManager
    return ["npx", "-y", pinned]
  }
}

export const packAll = (destination) => {
  mkdirSync(destination, { recursive: true })
  const [command, ...prefix] = pnpmCommand()
  const tarballs = {}
  for (const name of packages) {
    const dir = Path.join(root, "packages", name)
    const manifest = JSON.parse(readFileSync(Path.join(dir, "package.json"), "utf8"))
    execFileSync(command, [...prefix, "pack", "--pack-destination", destination], { cwd: dir, stdio: "ignore" })
    const file = `${manifest.name.replace(/^@/, "").replace("/", "-")}-${manifest.version}.tgz`
    tarballs[manifest.name] = Path.join(destination, file)
  }
  return tarballs
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const destination = Path.resolve(process.argv[2] ?? "packed")
  console.log(JSON.stringify(packAll(destination), null, 2))
}
