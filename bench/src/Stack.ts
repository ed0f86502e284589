/**
 * The processes a run needs, started the same way by `pnpm bench` and by its test: the fake Cloud API, Parley (the
 * built service, or its TypeScript source) and the floor, each its own process on the benchmark database.
 */
import { readFileSync } from "node:fs"
import * as Path from "node:path"
import * as Dataset from "./Dataset.js"
import * as Processes from "./Processes.js"
import { appSecret } from "./Scenarios.js"

export const adminToken = "bench-admin-token-0123456789"

export const startFake = () =>
  Processes.start({
    name: "fake Cloud API",
    args: [
      ...Processes.sourceArgs,
      "packages/whatsapp-cloud/scripts/fake-cloud-api.ts",
      "--port",
      "0",
      "--access-token",
      Dataset.accessToken
    ],
    ready: /listening on (http:\/\/\S+)/
  })

/**
 * The Node flags `pnpm start` runs the service with (the root package.json's start script): the benchmark measures
 * the service as it is started, garbage collector settings included.
 */
export const serviceNodeFlags = (): ReadonlyArray<string> => {
  const manifest: { scripts?: { start?: string } } = JSON.parse(
    readFileSync(Path.join(Processes.root, "package.json"), "utf8")
  )
  const start = manifest.scripts?.start ?? ""
  const match = /\bnode((?:\s+--[\w-]+(?:=\S+)?)*)\s+packages\/http-server\/dist\/bin\/main\.js/.exec(start)
  if (match === null) throw new Error(`package.json's start script does not run the service with node: ${start}`)
  return (match[1] ?? "").split(/\s+/).filter((flag) => flag !== "")
}

/**
 * Parley as the standalone service on `databaseUrl`: the per-key rate limit off, logs at `warn`, the Cloud API at
 * `fakeUrl`. `source` runs the TypeScript through tsx instead of the build (`node scripts/build.mjs` first otherwise).
 */
export const startParley = (options: {
  readonly databaseUrl: string
  readonly fakeUrl: string
  readonly dataDir: string
  readonly source: boolean
  /** Node's flags for Parley; by default those `pnpm start` gives it ({@link serviceNodeFlags}). */
  readonly nodeFlags?: ReadonlyArray<string>
  /** When set, Parley writes a V8 CPU profile (`--cpu-prof`) into this folder when it stops. */
  readonly profileDir?: string
}) =>
  Processes.start({
    name: "Parley",
    args: [
      ...(options.nodeFlags ?? serviceNodeFlags()),
      ...(options.profileDir === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${options.profileDir}`]),
      ...(options.source
        ? [...Processes.sourceArgs, "packages/http-server/src/main.ts"]
        : ["packages/http-server/dist/bin/main.js"])
    ],
    env: {
      PORT: "0",
      HOST: "127.0.0.1",
      DATABASE_URL: options.databaseUrl,
      PARLEY_SECRET_KEY: Dataset.benchSecretKey,
      PARLEY_ADMIN_TOKEN: adminToken,
      PARLEY_DATA_DIR: options.dataDir,
      PARLEY_RATE_LIMIT_PER_MINUTE: "0",
      PARLEY_LOG_LEVEL: "warn",
      WHATSAPP_API_URL: options.fakeUrl,
      WHATSAPP_APP_SECRET: appSecret
    },
    ready: /Parley is running at (http:\/\/\S+)/
  })

/**
 * The floor, with Node's default flags unless `nodeFlags` says otherwise; its sends go to the fake Cloud API at
 * `fakeUrl`.
 */
export const startFloor = (databaseUrl: string, fakeUrl: string, nodeFlags: ReadonlyArray<string> = []) =>
  Processes.start({
    name: "floor",
    args: [
      ...nodeFlags,
      ...Processes.sourceArgs,
      Path.join(Processes.root, "bench/src/floor.ts"),
      "--database-url",
      databaseUrl,
      "--cloud-api-url",
      fakeUrl,
      "--access-token",
      Dataset.accessToken
    ],
    env: { PARLEY_SECRET_KEY: Dataset.benchSecretKey },
    ready: /floor listening on (http:\/\/\S+)/
  })

/** A key for the generated business, acting for its first user (`assigned=me`), through Parley's admin API. */
export const createKey = async (parleyUrl: string, fixtures: Dataset.Fixtures, name: string) => {
  const response = await fetch(`${parleyUrl}/v1/admin/businesses/${fixtures.businessId}/api-keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
    body: JSON.stringify({
      name,
      userId: fixtures.userId,
      scopes: ["messaging:conversations:read", "messaging:messages:read", "messaging:messages:send"]
    })
  })
  if (!response.ok) throw new Error(`creating the API key: ${response.status} ${await response.text()}`)
  return ((await response.json()) as { data: { key: string } }).data.key
}

/** Sets the number's throughput (messages per second) through the admin API: Meta's upgraded tier is 1,000. */
export const setThroughput = async (parleyUrl: string, fixtures: Dataset.Fixtures, messagesPerSecond: number) => {
  const response = await fetch(
    `${parleyUrl}/v1/admin/businesses/${fixtures.businessId}/whatsapp-numbers/${fixtures.whatsappNumberId}`,
    {
      method: "PATCH",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ messagesPerSecond })
    }
  )
  if (!response.ok) throw new Error(`setting the number's throughput: ${response.status} ${await response.text()}`)
}
