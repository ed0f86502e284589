/**
 * The admin lists on PGlite and PostgreSQL: every page of each list (limit + cursor, `page.nextCursor`), scoped by
 * business, never a secret (numbers without tokens, keys without their secret, with last use), the errors (401,
 * 404 unknown business, 400 bad cursor or limit), and `parley <resource> list` run as a real process.
 */
import { execFile } from "node:child_process"
import * as Path from "node:path"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { adminToken, type Envelope, type ErrorReply, engines, type Harness, start } from "./support/Harness.js"

const list = await engines()
const run = promisify(execFile)
const packageDir = Path.resolve(import.meta.dirname, "..")

interface Created {
  readonly id: string
}

interface ApiKeySummary {
  readonly id: string
  readonly prefix: string
  readonly shortId: string
  readonly name: string
  readonly scopes: ReadonlyArray<string>
  readonly createdAt: string
  readonly lastUsedAt: string | null
  readonly revokedAt: string | null
}

/** Follows `page.nextCursor` to the end, `limit` at a time; returns every page's ids. */
const allPages = async (h: Harness, path: string, limit: number) => {
  const pages: Array<ReadonlyArray<string>> = []
  let cursor: string | null = null
  do {
    const query: string = `?limit=${limit}${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`
    const reply: { status: number; body: Envelope<ReadonlyArray<Created>> } = await h.admin<
      Envelope<ReadonlyArray<Created>>
    >("GET", `${path}${query}`)
    expect(reply.status).toBe(200)
    pages.push(reply.body.data.map((item) => item.id))
    cursor = reply.body.page?.nextCursor ?? null
  } while (cursor !== null && pages.length < 100)
  return pages
}

describe.each(list)("admin lists on $name", (engine) => {
  let h: Harness
  let businessId: string
  let other: string
  const userIds: Array<string> = []

  beforeAll(async () => {
    h = await start(engine)
    businessId = (await h.admin<Envelope<Created>>("POST", "/businesses", { name: "Listed" })).body.data.id
    other = (await h.admin<Envelope<Created>>("POST", "/businesses", { name: "Other" })).body.data.id
    for (const name of ["Ada", "Grace", "Barbara", "Frances", "Radia"]) {
      userIds.push((await h.admin<Envelope<Created>>("POST", `/businesses/${businessId}/users`, { name })).body.data.id)
    }
    await h.admin("POST", `/businesses/${other}/users`, { name: "Not listed" })
  }, 60_000)
  afterAll(async () => {
    await h?.close()
  })

  it("pages through every user exactly once, in creation order, for every page size", async () => {
    for (const limit of [1, 2, 4, 5, 6, 200]) {
      const pages = await allPages(h, `/businesses/${businessId}/users`, limit)
      expect(pages.flat()).toEqual(userIds)
      expect(pages.every((page) => page.length <= limit)).toBe(true)
      expect(pages.length).toBe(Math.max(1, Math.ceil(userIds.length / limit)))
    }
  })

  it("lists businesses across pages, each once", async () => {
    const ids = (await allPages(h, "/businesses", 1)).flat()
    expect(ids).toContain(businessId)
    expect(ids).toContain(other)
    expect(new Set(ids).size).toBe(ids.length)
  })

  it("lists numbers without their access token, and templates", async () => {
    await h.admin("POST", `/businesses/${businessId}/whatsapp-numbers`, {
      phoneNumberId: "500000000000001",
      displayPhoneNumber: "15550003333",
      accessToken: "secret-access-token-xyz"
    })
    await h.admin("POST", `/businesses/${businessId}/templates`, {
      key: "hello",
      name: "hello",
      language: "en",
      category: "UTILITY",
      status: "APPROVED",
      parameterFormat: "NAMED",
      components: [{ type: "BODY", text: "Hello {{name}}" }]
    })
    const numbers = await h.admin<Envelope<ReadonlyArray<Record<string, unknown>>>>(
      "GET",
      `/businesses/${businessId}/whatsapp-numbers`
    )
    expect(numbers.body.data).toHaveLength(1)
    expect(numbers.body.data[0]).toMatchObject({ phoneNumberId: "500000000000001", wabaId: null })
    expect(numbers.text).not.toContain("secret-access-token-xyz")
    expect(numbers.text).not.toContain("accessToken")
    const templates = await h.admin<Envelope<ReadonlyArray<{ key: string }>>>(
      "GET",
      `/businesses/${businessId}/templates`
    )
    expect(templates.body.data.map((t) => t.key)).toEqual(["hello"])
    expect(templates.body.page).toEqual({ nextCursor: null })
    const none = await h.admin<Envelope<ReadonlyArray<unknown>>>("GET", `/businesses/${other}/templates`)
    expect(none.body.data).toEqual([])
  })

  it("lists API keys with prefix, scopes and last use, never the secret; revoked keys say so", async () => {
    const created = await h.admin<Envelope<{ id: string; key: string }>>("POST", `/businesses/${businessId}/api-keys`, {
      name: "desk",
      scopes: ["messaging:conversations:read"]
    })
    const unused = await h.admin<Envelope<{ id: string; key: string }>>("POST", `/businesses/${businessId}/api-keys`, {
      name: "idle",
      scopes: ["messaging:messages:send"]
    })
    const before = await h.admin<Envelope<ReadonlyArray<ApiKeySummary>>>("GET", `/businesses/${businessId}/api-keys`)
    expect(before.body.data.find((k) => k.id === created.body.data.id)?.lastUsedAt).toBeNull()
    expect((await h.call("GET", "/v1/messaging/conversations", { key: created.body.data.key })).status).toBe(200)
    await h.admin("DELETE", `/businesses/${businessId}/api-keys/${unused.body.data.id}`)

    const after = await h.admin<Envelope<ReadonlyArray<ApiKeySummary>>>("GET", `/businesses/${businessId}/api-keys`)
    const used = after.body.data.find((k) => k.id === created.body.data.id)
    const revoked = after.body.data.find((k) => k.id === unused.body.data.id)
    expect(used).toMatchObject({ name: "desk", scopes: ["messaging:conversations:read"], revokedAt: null })
    expect(used?.lastUsedAt).not.toBeNull()
    expect(created.body.data.key.startsWith(used?.prefix ?? "-")).toBe(true)
    expect(revoked?.revokedAt).not.toBeNull()
    // The secret half of a key appears nowhere in the listing.
    for (const key of [created.body.data.key, unused.body.data.key]) {
      expect(after.text).not.toContain(key.split("_")[2])
    }
  })

  it("401 without the admin token; 404 for an unknown business; 400 for a bad cursor or limit", async () => {
    const anonymous = await h.call<ErrorReply>("GET", "/v1/admin/businesses")
    expect([anonymous.status, anonymous.body.error.code]).toEqual([401, "unauthorized"])
    for (const id of ["0190a4b2-7c1d-7e3f-8a5b-6c7d8e9f0a1b", "nope"]) {
      const missing = await h.admin<ErrorReply>("GET", `/businesses/${id}/api-keys`)
      expect([missing.status, missing.body.error.code]).toEqual([404, "business_not_found"])
    }
    const badCursor = await h.admin<ErrorReply>("GET", `/businesses/${businessId}/users?cursor=not-a-cursor`)
    expect(badCursor.status).toBe(400)
    for (const limit of ["0", "201", "x"]) {
      expect((await h.admin("GET", `/businesses?limit=${limit}`)).status).toBe(400)
    }
  })
})

describe("parley <resource> list", () => {
  let h: Harness
  const first = list[0]
  const parley = (...args: ReadonlyArray<string>) =>
    run(process.execPath, ["--conditions=@parley/source", "--import", "tsx", "src/cli.ts", ...args], {
      cwd: packageDir,
      env: { ...process.env, PARLEY_URL: h.url, PARLEY_ADMIN_TOKEN: adminToken }
    })

  beforeAll(async () => {
    if (first === undefined) throw new Error("no engine")
    h = await start(first)
  })
  afterAll(async () => {
    await h?.close()
  })

  it("prints a page of items on stdout and the next cursor on stderr", async () => {
    const business = (await h.admin<Envelope<Created>>("POST", "/businesses", { name: "CLI lists" })).body.data
    for (const name of ["One", "Two", "Three"]) await h.admin("POST", `/businesses/${business.id}/users`, { name })
    const page1 = await parley("users", "list", "--business", business.id, "--limit", "2")
    expect((JSON.parse(page1.stdout) as ReadonlyArray<{ name: string }>).map((u) => u.name)).toEqual(["One", "Two"])
    const cursor = /--cursor (\S+)/.exec(page1.stderr)?.[1]
    expect(cursor).toBeDefined()
    const page2 = await parley("users", "list", "--business", business.id, "--limit", "2", "--cursor", cursor ?? "")
    expect((JSON.parse(page2.stdout) as ReadonlyArray<{ name: string }>).map((u) => u.name)).toEqual(["Three"])
    expect(page2.stderr).toBe("")
    const keys = await parley("keys", "list", "--business", business.id)
    expect(JSON.parse(keys.stdout)).toEqual([])
    const businesses = JSON.parse((await parley("businesses", "list", "--limit", "200")).stdout) as ReadonlyArray<{
      id: string
    }>
    expect(businesses.map((b) => b.id)).toContain(business.id)
  }, 60_000)
})
