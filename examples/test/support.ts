/**
 * Runs an example the way a team outside this repository would: the packages packed into tarballs, the example
 * copied to a fresh folder outside the workspace, `npm install` (plain npm, the tarballs as its @parley/*
 * dependencies), then the example's own `npm test`.
 */
import { execFile } from "node:child_process"
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import { promisify } from "node:util"

const run = promisify(execFile)
export const repositoryRoot = Path.resolve(import.meta.dirname, "../..")

/** Builds what the tarballs hold (tsc's JavaScript and declarations, the bundled `parley` command). */
export const build = async (): Promise<void> => {
  await run(process.execPath, ["scripts/build.mjs"], { cwd: repositoryRoot })
}

/** Every package packed into a new temporary folder: package name → tarball path. */
export const pack = async (): Promise<Record<string, string>> => {
  const destination = mkdtempSync(Path.join(tmpdir(), "parley-packed-"))
  const { stdout } = await run(process.execPath, ["scripts/pack.mjs", destination], { cwd: repositoryRoot })
  return JSON.parse(stdout) as Record<string, string>
}

export interface Installed {
  readonly dir: string
  readonly npm: (...args: ReadonlyArray<string>) => Promise<{ stdout: string; stderr: string }>
  readonly remove: () => void
}

/** Copies `examples/<name>` to a temporary folder and installs it with npm, @parley/* from the tarballs. */
export const install = async (name: string, tarballs: Record<string, string>): Promise<Installed> => {
  const dir = mkdtempSync(Path.join(tmpdir(), `parley-example-${name}-`))
  cpSync(Path.join(repositoryRoot, "examples", name), dir, {
    recursive: true,
    filter: (source) => !source.includes("node_modules")
  })
  const manifestPath = Path.join(dir, "package.json")
  const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as Record<string, Record<string, string>>
  for (const field of ["dependencies", "devDependencies"]) {
    const deps = manifest[field] ?? {}
    for (const dep of Object.keys(deps)) {
      const tarball = tarballs[dep]
      if (tarball !== undefined) deps[dep] = `file:${tarball}`
    }
  }
  // The packages' own @parley/* dependencies (http-server on twilio, say) come from the tarballs too, not from the
  // registry: npm's overrides reach transitive dependencies, and match a direct one when the spec is the same.
  manifest.overrides = Object.fromEntries(Object.entries(tarballs).map(([dep, tarball]) => [dep, `file:${tarball}`]))
  writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`)
  const npm = (...args: ReadonlyArray<string>) =>
    run("npm", [...args], {
      cwd: dir,
      env: { ...process.env, npm_config_update_notifier: "false" },
      maxBuffer: 64 * 1024 * 1024
    })
  await npm("install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error")
  return { dir, npm, remove: () => rmSync(dir, { recursive: true, force: true }) }
}
