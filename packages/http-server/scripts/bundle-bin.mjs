/**
 * Bundles the `parley` command (src/cli.ts, which lazily loads the service in src/main.ts) into dist/bin/ with
 * esbuild, from the JavaScript `tsc -b` wrote to dist/. Why: the packages import Effect's barrels (`effect`,
 * `@effect/platform`, `@effect/platform-node`), and loading every module behind them costs seconds and tens of
 * megabytes at start; the bundle keeps only what the service uses. The library entry points (dist/index.js, …)
 * stay unbundled, so an embedder shares one copy of Effect with Parley.
 *
 * PGlite stays external: it loads its WebAssembly and data files next to its own modules.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import * as esbuild from "esbuild"

const packageDir = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
const outputs = ["parley.js", "main.js"].map((name) => Path.join(packageDir, "dist/bin", name))

/** The newest modification time of the JavaScript tsc wrote for the service and the packages it imports. */
const newestInput = () => {
  let newest = Fs.statSync(fileURLToPath(import.meta.url)).mtimeMs
  for (const name of ["core", "postgres", "whatsapp-cloud", "http-server"]) {
    const dist = Path.join(packageDir, "..", name, "dist")
    for (const file of Fs.readdirSync(dist, { recursive: true, encoding: "utf8" })) {
      if (file.endsWith(".js") && !file.startsWith("bin")) {
        newest = Math.max(newest, Fs.statSync(Path.join(dist, file)).mtimeMs)
      }
    }
  }
  return newest
}

const upToDate = () => {
  try {
    const built = Math.min(...outputs.map((file) => Fs.statSync(file).mtimeMs))
    return built >= newestInput()
  } catch {
    return false
  }
}

if (!upToDate()) await bundle()

// PGlite's seed cluster is found beside the module that opens PGlite: in the bundle, that is dist/bin.
const seed = Path.join(packageDir, "../postgres/dist/pglite-seed.tar.gz")
if (Fs.existsSync(seed)) Fs.copyFileSync(seed, Path.join(packageDir, "dist/bin/pglite-seed.tar.gz"))

async function bundle() {
  Fs.rmSync(Path.join(packageDir, "dist/bin"), { recursive: true, force: true })
  await esbuild.build({
    absWorkingDir: packageDir,
    entryPoints: { parley: "dist/cli.js", main: "dist/main.js" },
    outdir: "dist/bin",
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    // Optional native add-ons that their packages load inside try/catch.
    external: [
      "@electric-sql/pglite",
      "@electric-sql/pglite/*",
      "pg-native",
      "bufferutil",
      "utf-8-validate",
      "msgpackr-extract"
    ],
    // CommonJS dependencies (pg) call require() for Node's built-ins.
    banner: {
      js: 'import { createRequire as __parleyRequire } from "node:module";\nconst require = __parleyRequire(import.meta.url);'
    },
    logLevel: "warning"
  })
}
