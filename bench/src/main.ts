/**
 * `pnpm bench`: Parley's hot paths under load beside a floor (`floor.ts`: `node:http` + `pg`, the same statements
 * and JSON) on the same generated PostgreSQL database, in one run. Each server, the fake Cloud API and the load
 * generator are separate processes; every read scenario and the send run on the floor and on Parley in alternating
 * slices so the machine's noise falls on both. Prints req/s, p50/p99, CPU ms per request (from /proc) and peak RSS for each side,
 * the ratio, and the same as Markdown tables. See docs/benchmarks.md, "pnpm bench".
 *
 *   pnpm bench [--size 10k|1m|<n>] [--duration 5] [--rounds 3] [--connections 50] [--scenarios reads,send,inbound,status]
 *              [--database-url postgres://postgres@127.0.0.1:5432/parley_bench] [--fresh] [--drop] [--source]
 *              [--profile <dir>] [--node-flags="<flags>"] [--floor-node-flags="<flags>"]
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { loadavg, tmpdir } from "node:os"
import * as Path from "node:path"
import { parseArgs } from "node:util"
import * as Dataset from "./Dataset.js"
import { combine, type Slice, slice } from "./Load.js"
import { cpuMillis } from "./Proc.js"
import * as Processes from "./Processes.js"
import { type ReadResult, readTable, type WriteResult, writeTable } from "./Report.js"
import { batchSize, inboundBatch, readScenarios, sendText, statusBatch } from "./Scenarios.js"
import * as Stack from "./Stack.js"

const { values: args } = parseArgs({
  options: {
    "database-url": { type: "string", default: "postgres://postgres@127.0.0.1:5432/parley_bench" },
    size: { type: "string", default: "10k" },
    duration: { type: "string", default: "5" },
    rounds: { type: "string", default: "3" },
    connections: { type: "string", default: "50" },
    warmup: { type: "string", default: "2" },
    scenarios: { type: "string", default: "reads,send,inbound,status" },
    fresh: { type: "boolean", default: false },
    drop: { type: "boolean", default: false },
    source: { type: "boolean", default: false },
    profile: { type: "string" },
    "node-flags": { type: "string" },
    "floor-node-flags": { type: "string", default: "" },
    help: { type: "boolean", default: false }
  }
})

if (args.help) {
  console.log(
    "pnpm bench [--size 10k|1m|<n>] [--duration <s>] [--rounds <n>] [--connections <n>] [--warmup <s>]\n" +
      "           [--scenarios reads,send,inbound,status or read scenario names] [--database-url <url>]\n" +
      "           [--fresh (regenerate)] [--drop (drop the database after)] [--source (Parley from TypeScript, no build)]\n" +
      "           [--profile <dir> (Parley writes a V8 CPU profile there when it stops)]\n" +
      '           [--node-flags="<flags>" (Parley\'s Node flags instead of those of pnpm start; "" for none)]\n' +
      '           [--floor-node-flags="<flags>" (the floor\'s Node flags; none by default)]'
  )
  process.exit(0)
}

const parseSize = (raw: string) => {
  const match = /^(\d+(?:\.\d+)?)([km]?)$/i.exec(raw.trim())
  if (match?.[1] === undefined) throw new Error(`--size must look like 10k, 1m or 25000, got ${raw}`)
  const unit = match[2]?.toLowerCase()
  return Math.round(Number(match[1]) * (unit === "k" ? 1_000 : unit === "m" ? 1_000_000 : 1))
}

const databaseUrl = args["database-url"]
const size = parseSize(args.size)
const duration = Number(args.duration)
const rounds = Number(args.rounds)
const connections = Number(args.connections)
const warmup = Number(args.warmup)
const wanted = new Set(args.scenarios.split(",").map((s) => s.trim()))
const secretKey = Dataset.benchSecretKey
const run = `${Date.now()}`

const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`)
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const describe = () => {
  const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: Processes.root, encoding: "utf8" }).trim()
  const dirty = execFileSync("git", ["status", "--porcelain"], { cwd: Processes.root, encoding: "utf8" }).trim()
  return `commit ${commit}${dirty === "" ? "" : " (with uncommitted changes)"}, Node ${process.version}`
}

const main = async () => {
  // What was measured is what was checked out when the run began.
  const measured = describe()
  log(`pnpm bench: ${measured}`)
  if (!args.source) {
    log("building (node scripts/build.mjs)")
    execFileSync(process.execPath, ["scripts/build.mjs"], { cwd: Processes.root, stdio: "inherit" })
  }
  await Dataset.prepare(databaseUrl, size, { fresh: args.fresh })
  const fixtures = await Dataset.fixtures(databaseUrl, size)
  const dataDir = mkdtempSync(Path.join(tmpdir(), "parley-bench-"))
  const started: Array<Processes.Running> = []
  try {
    const fake = await Stack.startFake()
    started.push(fake)
    const parley = await Stack.startParley({
      databaseUrl,
      fakeUrl: fake.url,
      dataDir,
      source: args.source,
      ...(args["node-flags"] === undefined
        ? {}
        : { nodeFlags: args["node-flags"].split(/\s+/).filter((flag) => flag !== "") }),
      ...(args.profile === undefined ? {} : { profileDir: Path.resolve(args.profile) })
    })
    started.push(parley)
    const floor = await Stack.startFloor(
      databaseUrl,
      fake.url,
      args["floor-node-flags"].split(/\s+/).filter((flag) => flag !== "")
    )
    started.push(floor)
    log(`Parley ${parley.url} (pid ${parley.pid}), floor ${floor.url} (pid ${floor.pid}), fake ${fake.url}`)

    const key = await Stack.createKey(parley.url, fixtures, `bench ${run}`)
    const headers = { authorization: `Bearer ${key}` }
    const base = { connections, duration, headers }
    const readResults: Array<ReadResult> = []
    const writeResults: Array<WriteResult> = []

    const reads = readScenarios(fixtures, secretKey).filter((s) => wanted.has("reads") || wanted.has(s.name))
    for (const scenario of reads) {
      const sides = { parley: [] as Array<Slice>, floor: [] as Array<Slice> }
      const target = (side: "parley" | "floor") => (side === "parley" ? parley : floor)
      for (const side of ["floor", "parley"] as const) {
        if (warmup > 0) {
          await slice({ ...base, duration: warmup, url: target(side).url, pid: target(side).pid, ...scenario })
        }
      }
      for (let round = 0; round < rounds; round++) {
        // Alternate which side goes first, so neither always follows the other's load.
        const order = round % 2 === 0 ? (["floor", "parley"] as const) : (["parley", "floor"] as const)
        for (const side of order) {
          sides[side].push(await slice({ ...base, url: target(side).url, pid: target(side).pid, ...scenario }))
        }
      }
      const result = { name: scenario.name, parley: combine(sides.parley), floor: combine(sides.floor) }
      readResults.push(result)
      log(
        `${scenario.name}: Parley ${result.parley.requestsPerSecond.toFixed(0)} req/s, floor ` +
          `${result.floor.requestsPerSecond.toFixed(0)} req/s, ratio ` +
          `${(result.parley.requestsPerSecond / result.floor.requestsPerSecond).toFixed(2)}`
      )
      for (const failure of [...result.parley.sampleFailures, ...result.floor.sampleFailures])
        log(`  refused: ${failure}`)
    }

    if (["send", "inbound", "status"].some((name) => wanted.has(name))) await Dataset.markChanged(databaseUrl)
    if (wanted.has("send")) readResults.push(await sends(parley, floor, fixtures, base))
    if (wanted.has("inbound")) writeResults.push(await inbound(parley, base))
    if (wanted.has("status")) writeResults.push(await statuses(parley, fixtures, base))

    const [one, five] = loadavg()
    console.log("")
    console.log(
      `pnpm bench: ${size.toLocaleString("en")} conversations, ${connections} connections, ${rounds} × ${duration} s ` +
        `slices per side; ${measured}; load average ${one?.toFixed(1)} / ${five?.toFixed(1)} (1 / 5 min)`
    )
    if (readResults.length > 0) console.log(`\n${readTable(readResults)}`)
    if (writeResults.length > 0) console.log(`\n${writeTable(writeResults)}`)
  } finally {
    for (const running of started.reverse()) await running.stop()
    rmSync(dataDir, { recursive: true, force: true })
    if (args.drop) await Dataset.drop(databaseUrl)
  }
}

type Base = { readonly connections: number; readonly duration: number; readonly headers: Record<string, string> }

/** Messages per second of Meta's upgraded throughput tier. */
const upgradedTier = 1000

/**
 * Texts to conversations whose windows are open, to the fake Cloud API (0 ms), each with its own key, on Parley and
 * on the floor in alternating slices, as the reads. Each side has its own keys and its own rate-limit rows.
 */
const sends = async (
  parley: Processes.Running,
  floor: Processes.Running,
  fixtures: Dataset.Fixtures,
  base: Base
): Promise<ReadResult> => {
  await Dataset.openWindows(databaseUrl, fixtures.businessId, fixtures.conversationIds)
  await Stack.setThroughput(parley.url, fixtures, upgradedTier)
  const requests = {
    parley: sendText(fixtures.conversationIds, run),
    floor: sendText(fixtures.conversationIds, `${run}-floor`)
  }
  // A fixed number per slice (100 a second of the slice's duration), every one awaited: a send takes long enough
  // that a duration-bound slice would drop the ones still in flight.
  const amount = Math.max(base.connections, Math.round(base.duration * 100))
  const offsets = { parley: 0, floor: 0 }
  const sides = { parley: [] as Array<Slice>, floor: [] as Array<Slice> }
  const target = (side: "parley" | "floor") => (side === "parley" ? parley : floor)
  const sendSlice = async (side: "parley" | "floor", count: number) => {
    const from = offsets[side]
    const request = requests[side]
    offsets[side] += count + base.connections
    return slice({
      ...base,
      amount: count,
      url: target(side).url,
      pid: target(side).pid,
      request: (i) => request(from + i)
    })
  }
  // Unmeasured first, as for the reads: the first sends pay for compiling the path (JIT), not for sending.
  if (warmup > 0) {
    for (const side of ["floor", "parley"] as const)
      await sendSlice(side, Math.max(base.connections, Math.round(warmup * 100)))
  }
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? (["floor", "parley"] as const) : (["parley", "floor"] as const)
    for (const side of order) sides[side].push(await sendSlice(side, amount))
  }
  const result = {
    name: `send text, 0 ms provider (the number at ${upgradedTier}/s)`,
    parley: combine(sides.parley),
    floor: combine(sides.floor)
  }
  log(
    `send text: Parley ${result.parley.requestsPerSecond.toFixed(0)} sends/s, floor ` +
      `${result.floor.requestsPerSecond.toFixed(0)} sends/s, ratio ` +
      `${(result.parley.requestsPerSecond / result.floor.requestsPerSecond).toFixed(2)}`
  )
  for (const failure of [...result.parley.sampleFailures, ...result.floor.sampleFailures]) log(`  refused: ${failure}`)
  return result
}

/** Waits until the webhook inbox has no unprocessed delivery; returns when that was (performance.now()). */
const drained = async () => {
  const deadline = performance.now() + 600_000
  while (performance.now() < deadline) {
    const pending = await Dataset.withClient(databaseUrl, async (client) =>
      Number(
        (await client.query("SELECT count(*) AS n FROM webhook_deliveries WHERE processed_at IS NULL")).rows[0]?.n ?? 0
      )
    )
    if (pending === 0) return performance.now()
    await sleep(25)
  }
  throw new Error("webhook deliveries were still unprocessed after 10 minutes")
}

const deadLetters = () =>
  Dataset.withClient(databaseUrl, async (client) =>
    Number((await client.query("SELECT count(*) AS n FROM webhook_item_failures")).rows[0]?.n ?? 0)
  )

/**
 * Webhook scenarios send a fixed number of batches per round (forty a second of the slice's duration, at least one
 * per connection), then wait until all are processed: processing runs behind the answers, so a duration alone would
 * leave an unbounded backlog.
 */
const webhookBatches = (base: Base) => Math.max(base.connections, Math.round(base.duration * 40))

/** Signed deliveries of 50 customer texts: accepted per second, and stored per second (until the inbox drains). */
const inbound = async (parley: Processes.Running, base: Base): Promise<WriteResult> => {
  await drained()
  const failuresBefore = await deadLetters()
  const request = inboundBatch(run)
  const batches = webhookBatches(base)
  let offset = 0
  const slices: Array<Slice> = []
  let events = 0
  let processingSeconds = 0
  let cpuMs = 0
  for (let round = 0; round < rounds; round++) {
    const from = offset
    const result = await slice({
      ...base,
      amount: batches,
      url: parley.url,
      pid: parley.pid,
      request: (i) => request(from + i)
    })
    offset += batches + base.connections
    const done = await drained()
    events += result.ok * batchSize
    processingSeconds += (done - result.startedAt) / 1000
    cpuMs += cpuMillis(parley.pid) - result.cpuBefore
    slices.push(result)
  }
  const measurement = combine(slices)
  const failures = (await deadLetters()) - failuresBefore
  const result: WriteResult = {
    name: `inbound webhooks, signed batches of ${batchSize} texts`,
    parley: measurement,
    unit: "events",
    unitsPerRequest: batchSize,
    acceptedPerSecond: events / measurement.seconds,
    processedPerSecond: events / processingSeconds,
    cpuMsPerUnit: cpuMs / Math.max(1, events),
    note: failures === 0 ? "processed: until no delivery is left unprocessed" : `${failures} item failures`
  }
  log(
    `inbound: ${result.acceptedPerSecond.toFixed(0)} events/s accepted, ${result.processedPerSecond?.toFixed(0)} processed`
  )
  return result
}

/** Signed deliveries of 50 `delivered` statuses for outbound messages reset to `sent`: updates applied per second. */
const statuses = async (parley: Processes.Running, fixtures: Dataset.Fixtures, base: Base): Promise<WriteResult> => {
  const targets = await Dataset.withClient(databaseUrl, async (client) => {
    const { rows } = await client.query(
      "SELECT m.provider_message_id AS wamid, c.customer_phone AS phone FROM messages m " +
        "JOIN conversations c ON c.business_id = m.business_id AND c.id = m.conversation_id " +
        "WHERE m.business_id = $1 AND m.direction = 'outbound' AND m.provider_message_id IS NOT NULL " +
        "AND m.delivery_status IN ('sent', 'delivered', 'read') AND c.customer_phone IS NOT NULL " +
        "ORDER BY m.provider_message_id LIMIT $2",
      [fixtures.businessId, webhookBatches(base) * batchSize]
    )
    return rows.map((row) => ({ wamid: String(row.wamid), recipient: String(row.phone).replace(/\D+/g, "") }))
  })
  const wamids = targets.map((t) => t.wamid)
  const requests = Math.floor(targets.length / batchSize)
  const slices: Array<Slice> = []
  let applied = 0
  let processingSeconds = 0
  let cpuMs = 0
  for (let round = 0; round < rounds; round++) {
    await Dataset.withClient(databaseUrl, (client) =>
      client.query(
        "UPDATE messages SET delivery_status = 'sent' WHERE business_id = $1 AND provider_message_id = ANY($2)",
        [fixtures.businessId, wamids]
      )
    )
    await drained()
    const result = await slice({
      ...base,
      connections: Math.min(base.connections, requests),
      amount: requests,
      url: parley.url,
      pid: parley.pid,
      request: statusBatch(targets)
    })
    const done = await drained()
    applied += await Dataset.withClient(databaseUrl, async (client) =>
      Number(
        (
          await client.query(
            "SELECT count(*) AS n FROM messages WHERE business_id = $1 AND provider_message_id = ANY($2) " +
              "AND delivery_status = 'delivered'",
            [fixtures.businessId, wamids]
          )
        ).rows[0]?.n ?? 0
      )
    )
    processingSeconds += (done - result.startedAt) / 1000
    cpuMs += cpuMillis(parley.pid) - result.cpuBefore
    slices.push(result)
  }
  const measurement = combine(slices)
  const result: WriteResult = {
    name: `status webhooks, signed batches of ${batchSize}`,
    parley: measurement,
    unit: "updates",
    unitsPerRequest: batchSize,
    acceptedPerSecond: (measurement.ok * batchSize) / measurement.seconds,
    processedPerSecond: applied / processingSeconds,
    cpuMsPerUnit: cpuMs / Math.max(1, applied),
    note: `${applied.toLocaleString("en")} of ${(requests * batchSize * rounds).toLocaleString("en")} sent → delivered`
  }
  log(`status: ${result.processedPerSecond?.toFixed(0)} updates/s applied`)
  return result
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error)
  process.exitCode = 1
})
