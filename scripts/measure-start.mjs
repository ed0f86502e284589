/**
 * Start time and idle memory of the built service: `node scripts/measure-start.mjs [runs] [node arguments…]`.
 * Starts `packages/http-server/dist/bin/main.js` (run `pnpm build` first), or what the node arguments name (e.g.
 * `packages/http-server/dist/main.js`, tsc's unbundled output), with the current environment plus PORT,
 * polls GET /ready every 10 ms, and reports the time from spawn to the first 200, then the resident set size after
 * 5 s idle. Without DATABASE_URL each run uses a new embedded data directory (a first start: migrations included).
 */
import { spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as Path from "node:path"

const runs = Number(process.argv[2] ?? 3)
const nodeArguments =
  process.argv.length > 3
    ? process.argv.slice(3)
    : [Path.resolve(import.meta.dirname, "../packages/http-server/dist/bin/main.js")]
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const rssMb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]) / 1024

const measure = async (port) => {
  const dataDir = mkdtempSync(Path.join(tmpdir(), "parley-measure-"))
  const started = performance.now()
  const child = spawn(process.execPath, nodeArguments, {
    stdio: ["ignore", "ignore", "inherit"],
    env: { PARLEY_LOG_LEVEL: "warn", ...process.env, PORT: String(port), PARLEY_DATA_DIR: dataDir }
  })
  let exited = false
  child.on("exit", () => {
    exited = true
  })
  try {
    for (;;) {
      if (exited) throw new Error("the service exited before it was ready")
      if (performance.now() - started > 60_000) throw new Error("not ready after 60 s")
      const ok = await fetch(`http://127.0.0.1:${port}/ready`).then(
        (r) => r.ok,
        () => false
      )
      if (ok) break
      await sleep(10)
    }
    const readyMs = performance.now() - started
    await sleep(5000)
    return { readyMs: Math.round(readyMs), rssMb: Math.round(rssMb(child.pid)) }
  } finally {
    child.kill("SIGTERM")
    await new Promise((resolve) => (exited ? resolve() : child.on("exit", resolve)))
    rmSync(dataDir, { recursive: true, force: true })
  }
}

const results = []
for (let i = 0; i < runs; i++) results.push(await measure(3990 + i))
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
console.log(
  JSON.stringify({ database: process.env.DATABASE_URL ? "postgres" : "pglite", nodeArguments, runs: results })
)
console.log(
  `median: ready ${median(results.map((r) => r.readyMs))} ms, idle RSS ${median(results.map((r) => r.rssMb))} MB`
)
