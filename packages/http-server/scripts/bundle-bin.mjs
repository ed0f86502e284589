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

/**
 * Scalar's viewer (3.4 MB of JavaScript inlined in `@effect/platform`'s `internal/httpApiScalar.js`) belongs in the
 * chunk of the `/docs` page, which the service imports on the first request for it (src/ScalarPage.ts). esbuild
 * assigns a module to a chunk by the entry points that reach it, and `@effect/platform`'s barrel, which the service
 * imports at start, re-exports `HttpApiScalar`: through that edge the viewer landed in a chunk loaded at start (idle
 * RSS 158 MB on PostgreSQL instead of about 120). Nothing uses the barrel's `HttpApiScalar`, so its edge is cut:
 * from the barrel it resolves to an empty module, from ScalarPage to the real one.
 */
const scalarOnDemand = {
  name: "scalar-on-demand",
  setup(build) {
    build.onResolve({ filter: /^\.\/HttpApiScalar\.js$/ }, (args) =>
      /[\\/]@effect[\\/]platform[\\/]dist[\\/]esm[\\/]index\.js$/.test(args.importer)
        ? { path: "HttpApiScalar", namespace: "scalar-on-demand" }
        : undefined
    )
    build.onLoad({ filter: /.*/, namespace: "scalar-on-demand" }, () => ({ contents: "export {}", loader: "js" }))
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
    plugins: [scalarOnDemand],
    logLevel: "warning"
  })
}
