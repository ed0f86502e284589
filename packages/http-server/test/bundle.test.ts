/**
 * The deployable bundle (`pnpm bundle`): built into a temporary folder outside the workspace, started there with
 * `node` alone (no tsx, no workspace) as its `npm start` starts it (with its Node flags), it passes a health check and
 * sends one template through the fake Cloud API. Its start script and `pnpm start` give Node the same flags. Scalar's
 * viewer is in no file it loads at start.
 */
import { execFile, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { promisify } from "node:util"
import { FakeCloudApi } from "@parley/whatsapp-cloud/testing"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const repositoryRoot = Path.resolve(import.meta.dirname, "../../..")
const adminToken = "bundle-test-admin-token-0123456789"

interface Envelope<T> {
  readonly data: T
}

/** `node <flags> <path>/dist/bin/main.js` in a package.json's start script: the flags. */
const startFlags = (packageJson: string): ReadonlyArray<string> => {
  const start: string = JSON.parse(Fs.readFileSync(packageJson, "utf8")).scripts.start
  const match = /\bnode((?:\s+--[\w-]+(?:=\S+)?)*)\s+\S*dist\/bin\/main\.js$/.exec(start)
  if (match === null) throw new Error(`${packageJson}: the start script does not run dist/bin/main.js: ${start}`)
  return (match[1] ?? "").split(/\s+/).filter((flag) => flag !== "")
}

describe("the start scripts", () => {
  it("give Node the same flags in the repository and in the bundle, flags this Node accepts", async () => {
    const flags = startFlags(Path.join(repositoryRoot, "package.json"))
    expect(startFlags(Path.join(repositoryRoot, "packages/http-server/package.json"))).toEqual(flags)
    expect(flags.length).toBeGreaterThan(0)
    const { stdout } = await promisify(execFile)(process.execPath, [...flags, "-p", "JSON.stringify(process.execArgv)"])
    expect((JSON.parse(stdout) as Array<string>).slice(0, flags.length)).toEqual(flags)
  })
})

describe("the deployable bundle", () => {
  let dir: string
  let fake: FakeCloudApi.FakeCloudApiServer
  let url: string
  let child: ReturnType<typeof spawn> | undefined
  let output = ""

  beforeAll(async () => {
    dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "parley-bundle-"))
    await promisify(execFile)(process.execPath, ["scripts/bundle.mjs", Path.join(dir, "app")], {
      cwd: repositoryRoot
    })
    fake = await FakeCloudApi.start({ accessTokens: ["bundle-meta-token"] })
    // Port 0: the system picks a free one and the banner says which (a port picked here at random could be taken
    // meanwhile, e.g. as the local end of one of the other suites' connections).
    child = spawn(process.execPath, [...startFlags(Path.join(dir, "app", "package.json")), "dist/bin/main.js"], {
      cwd: Path.join(dir, "app"),
      env: {
        PATH: process.env.PATH ?? "",
        HOST: "127.0.0.1",
        PORT: "0",
        PARLEY_DATA_DIR: Path.join(dir, "data"),
        PARLEY_ADMIN_TOKEN: adminToken,
        WHATSAPP_API_URL: fake.url,
        PARLEY_LOG_LEVEL: "warn"
      },
      stdio: ["ignore", "pipe", "pipe"]
    })
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString()
    })
  })

  afterAll(async () => {
    if (child !== undefined && child.exitCode === null) {
      const exited = new Promise((resolve) => child?.once("exit", resolve))
      child.kill("SIGTERM")
      await exited
    }
    await fake?.close()
    if (dir !== undefined) Fs.rmSync(dir, { recursive: true, force: true })
  })

  it("holds no link out of its folder", () => {
    const app = Path.join(dir, "app")
    const outside: Array<string> = []
    const walk = (folder: string) => {
      for (const entry of Fs.readdirSync(folder, { withFileTypes: true })) {
        const path = Path.join(folder, entry.name)
        if (entry.isSymbolicLink()) {
          if (!Fs.realpathSync(path).startsWith(app)) outside.push(path)
        } else if (entry.isDirectory()) walk(path)
      }
    }
    walk(app)
    expect(outside).toEqual([])
  })

  it("loads Scalar's viewer (3.4 MB) only with the /docs page, not at start", () => {
    const bin = Path.join(dir, "app", "dist", "bin")
    const holdsViewer = (file: string) => Fs.readFileSync(Path.join(bin, file), "utf8").includes("/httpApiScalar.js\n")
    // Every file main.js loads at start: its static imports, and theirs (dynamic `import(…)` calls excluded).
    const loaded = new Set<string>()
    const visit = (file: string) => {
      if (loaded.has(file)) return
      loaded.add(file)
      const text = Fs.readFileSync(Path.join(bin, file), "utf8")
      for (const match of text.matchAll(/(?:^|\n)(?:import|export)\s*(?:[\w$\s,{}*]*?\bfrom\s*)?"\.\/([^"]+\.js)"/g)) {
        if (match[1] !== undefined) visit(match[1])
      }
    }
    visit("main.js")
    expect(loaded.size).toBeGreaterThan(1)
    expect([...loaded].filter(holdsViewer)).toEqual([])
    expect(Fs.readdirSync(bin).filter((file) => file.endsWith(".js") && holdsViewer(file))).toHaveLength(1)
  })

  it("starts with node alone, answers /health, /ready and /docs, and sends a template", async () => {
    const deadline = Date.now() + 120_000
    for (;;) {
      if (child?.exitCode !== null) throw new Error(`the bundle exited: ${output}`)
      const banner = /Parley is running at (http:\/\/\S+)/.exec(output)
      if (banner?.[1] === undefined) {
        if (Date.now() > deadline) throw new Error(`no banner after 120 s: ${output}`)
        await new Promise((resolve) => setTimeout(resolve, 100))
        continue
      }
      url = banner[1]
      const ready = await fetch(`${url}/ready`).then(
        (r) => r.ok,
        () => false
      )
      if (ready) break
      if (Date.now() > deadline) throw new Error(`not ready after 120 s: ${output}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    expect((await fetch(`${url}/health`)).status).toBe(200)
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    // The page whose chunk is loaded on demand: the viewer inlined, with the API's document.
    const docs = await fetch(`${url}/docs`)
    expect(docs.status).toBe(200)
    const page = await docs.text()
    expect(page.length).toBeGreaterThan(3_000_000)
    expect(page).toContain('"openapi"')

    const admin = async <T>(path: string, body: unknown): Promise<T> => {
      const response = await fetch(`${url}/v1/admin${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
        body: JSON.stringify(body)
      })
      expect(response.status, path).toBe(201)
      return (await response.json()) as T
    }
    const business = await admin<Envelope<{ id: string }>>("/businesses", { name: "Bundled" })
    const number = await admin<Envelope<{ id: string }>>(`/businesses/${business.data.id}/whatsapp-numbers`, {
      phoneNumberId: "200000000000002",
      displayPhoneNumber: "15550002222",
      accessToken: "bundle-meta-token"
    })
    const key = await admin<Envelope<{ key: string }>>(`/businesses/${business.data.id}/api-keys`, {
      scopes: ["messaging:messages:send"]
    })
    await admin(`/businesses/${business.data.id}/templates`, {
      key: "order_shipped",
      name: "order_shipped",
      language: "en",
      category: "UTILITY",
      status: "APPROVED",
      parameterFormat: "NAMED",
      components: [{ type: "BODY", text: "Order {{order_id}} arrives {{eta}}" }]
    })

    const sent = await fetch(`${url}/v1/messaging/messages/template`, {
      method: "POST",
      headers: { authorization: `Bearer ${key.data.key}`, "content-type": "application/json" },
      body: JSON.stringify({
        business_whatsapp_number_id: number.data.id,
        phone: "+2348099990000",
        template_key: "order_shipped",
        variables: { order_id: "1234", eta: "Friday" }
      })
    })
    const body = (await sent.json()) as Envelope<{ text: string; deliveryStatus: string }>
    expect([sent.status, body.data.text]).toEqual([201, "Order 1234 arrives Friday"])
    expect(fake.sends).toHaveLength(1)
    expect(fake.sends[0]?.to).toBe("+2348099990000")
  })
})
