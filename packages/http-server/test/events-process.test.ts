/**
 * The live event stream across real service processes (`src/main.ts`):
 * - a restart: a consumer that reconnects with its `Last-Event-ID` to the restarted service (same data directory)
 *   gets exactly the events after it, those recorded while it was away included; SIGTERM ends open streams at once,
 *   so the service stops without waiting out its drain;
 * - two processes on one PostgreSQL: an event recorded by process A reaches a stream open on process B.
 * Events come from the admin API here (a template created with a status is `template.status_updated`), so no
 * WhatsApp is needed.
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { allScopes, type Event } from "@parley/core"
import { TestDatabase } from "@parley/postgres/testing"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { sharedDatabase } from "./scale/support/Processes.js"
import { connect } from "./support/EventSource.js"
import { type ServiceProcess, startService } from "./support/ServiceProcess.js"

const adminToken = "events-process-admin-token-0123456789"
const running = /Parley is running at (http:\/\/\S+)/
const postgres = await TestDatabase.resolvePostgres()

const processes: Array<ServiceProcess> = []
let root: string
beforeAll(() => {
  root = Fs.mkdtempSync(Path.join(Os.tmpdir(), "parley-events-"))
})
afterAll(async () => {
  for (const p of processes) p.child.kill("SIGKILL")
  Fs.rmSync(root, { recursive: true, force: true })
})

const launch = async (env: Readonly<Record<string, string>>) => {
  const p = startService({ PORT: "0", PARLEY_ADMIN_TOKEN: adminToken, ...env })
  processes.push(p)
  await p.waitFor(running)
  const url = running.exec(p.output())?.[1]
  if (url === undefined) throw new Error("no URL")
  return { process: p, url }
}

const admin = async <T>(url: string, method: string, path: string, body?: unknown): Promise<T> => {
  const response = await fetch(`${url}/v1/admin${path}`, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`)
  return (await response.json()) as T
}

/** A business and an API key that reads events. */
const tenant = async (url: string) => {
  const business = await admin<{ data: { id: string } }>(url, "POST", "/businesses", { name: "Events Co" })
  const key = await admin<{ data: { key: string } }>(url, "POST", `/businesses/${business.data.id}/api-keys`, {
    name: "events",
    scopes: allScopes
  })
  return { businessId: business.data.id, key: key.data.key }
}

/** One `template.status_updated` event: a new template with a status. */
const template = (url: string, businessId: string, key: string) =>
  admin(url, "POST", `/businesses/${businessId}/templates`, {
    key,
    name: key,
    language: "en",
    category: "UTILITY",
    status: "APPROVED",
    parameterFormat: "NAMED",
    components: [{ type: "BODY", text: "Hello" }]
  })

const templateKeyOf = (data: string) => {
  const event = JSON.parse(data) as Event
  return event.type === "template.status_updated" ? event.data.template.key : `(${event.type})`
}

describe("the event stream across a restart", () => {
  it("resumes by Last-Event-ID after a restart with nothing lost or repeated; SIGTERM ends the stream", async () => {
    const dataDir = Path.join(root, "restart")
    const first = await launch({ PARLEY_DATA_DIR: dataDir })
    const t = await tenant(first.url)
    const stream = await connect(`${first.url}/v1/messaging/events/stream`, { key: t.key })
    expect(stream.status).toBe(200)
    await new Promise((resolve) => setTimeout(resolve, 300))
    for (const key of ["one", "two", "three"]) await template(first.url, t.businessId, key)
    const seen = await stream.waitFor(3)
    expect(seen.map((f) => templateKeyOf(f.data))).toEqual(["one", "two", "three"])

    // SIGTERM: the open stream ends (cleanly, by the server) and the process exits well within its drain.
    const stoppedAt = Date.now()
    const code = await first.process.stop()
    expect(code).toBe(0)
    await stream.ended
    expect(Date.now() - stoppedAt).toBeLessThan(8_000)

    const second = await launch({ PARLEY_DATA_DIR: dataDir })
    await template(second.url, t.businessId, "four")
    // Resume after "two": "three" (already seen once, but after the resume point), then "four", then live ones.
    const resumed = await connect(`${second.url}/v1/messaging/events/stream`, {
      key: t.key,
      lastEventId: seen[1]?.id
    })
    try {
      await resumed.waitFor(2)
      await template(second.url, t.businessId, "five")
      const frames = await resumed.waitFor(3)
      expect(frames.map((f) => templateKeyOf(f.data))).toEqual(["three", "four", "five"])
      expect(frames[0]?.id).toBe(seen[2]?.id)
    } finally {
      resumed.close()
    }
    await second.process.stop()
  }, 180_000)
})

if (postgres._tag !== "Unavailable") {
  describe("the event stream across processes on one PostgreSQL", () => {
    it("an event recorded by process A reaches a stream open on process B", async () => {
      const database = await sharedDatabase(postgres.url)
      try {
        const env = { DATABASE_URL: database.url, PARLEY_SECRET_KEY: database.secretKey }
        const [a, b] = await Promise.all([launch(env), launch(env)])
        const t = await tenant(a.url)
        const stream = await connect(`${b.url}/v1/messaging/events/stream`, { key: t.key })
        try {
          expect(stream.status).toBe(200)
          await new Promise((resolve) => setTimeout(resolve, 300))
          await template(a.url, t.businessId, "from_a")
          const frames = await stream.waitFor(1, 20_000)
          expect(frames.map((f) => templateKeyOf(f.data))).toEqual(["from_a"])
          // B's cursor reads on A: the feed after it is empty, nothing repeats.
          const after = await fetch(`${a.url}/v1/messaging/events?after=${encodeURIComponent(frames[0]?.id ?? "")}`, {
            headers: { authorization: `Bearer ${t.key}` }
          })
          expect(((await after.json()) as { data: Array<unknown> }).data).toEqual([])
        } finally {
          stream.close()
        }
        await Promise.all([a.process.stop(), b.process.stop()])
      } finally {
        await database.close()
      }
    }, 180_000)
  })
}
