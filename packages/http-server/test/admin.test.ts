/**
 * The admin API on PGlite and PostgreSQL (every endpoint, its errors, the admin token), and the `parley` CLI that
 * wraps it, run as a real process against the real server.
 */
import { execFile } from "node:child_process"
import * as Path from "node:path"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { ConversationJson } from "../src/Representation.js"
import { adminToken, type Envelope, type ErrorReply, engines, type Harness, start } from "./support/Harness.js"

const list = await engines()
const run = promisify(execFile)
const packageDir = Path.resolve(import.meta.dirname, "..")

interface Created {
  readonly id: string
}

describe.each(list)("admin API on $name", (engine) => {
  let h: Harness

  beforeAll(async () => {
    h = await start(engine)
  })
  afterAll(async () => {
    await h?.close()
  })

  it("401 without the admin token, with a wrong one, or with a messaging key", async () => {
    const none = await h.call<ErrorReply>("POST", "/v1/admin/businesses", { body: { name: "x" } })
    expect([none.status, none.body.error.code]).toEqual([401, "unauthorized"])
    const wrong = await h.call<ErrorReply>("POST", "/v1/admin/businesses", {
      body: { name: "x" },
      key: "not-the-token"
    })
    expect(wrong.status).toBe(401)
    const scheme = await h.call("POST", "/v1/admin/businesses", {
      body: { name: "x" },
      headers: { authorization: `Basic ${adminToken}` }
    })
    expect(scheme.status).toBe(401)
    const business = await h.admin<Envelope<Created>>("POST", "/businesses", { name: "Keys Inc" })
    const key = await h.admin<Envelope<{ key: string }>>("POST", `/businesses/${business.body.data.id}/api-keys`, {
      scopes: ["messaging:conversations:read"]
    })
    expect((await h.call("POST", "/v1/admin/businesses", { body: { name: "x" }, key: key.body.data.key })).status).toBe(
      401
    )
  })

  it("creates a business, users, a number (token never returned), keys, templates: 201 { message, data: { id } }", async () => {
    const business = await h.admin<Envelope<{ id: string; name: string; createdAt: string }>>("POST", "/businesses", {
      name: "Acme"
    })
    expect(business.status).toBe(201)
    expect(business.body.data).toMatchObject({ name: "Acme" })
    const id = business.body.data.id
    const user = await h.admin<Envelope<{ id: string; businessId: string }>>("POST", `/businesses/${id}/users`, {
      name: "Grace Hopper"
    })
    expect([user.status, user.body.data.businessId]).toEqual([201, id])
    const number = await h.admin<Envelope<Record<string, unknown>>>("POST", `/businesses/${id}/whatsapp-numbers`, {
      phoneNumberId: "300000000000001",
      displayPhoneNumber: "15550009999",
      accessToken: "secret-meta-token"
    })
    expect(number.status).toBe(201)
    expect(number.body.data).toMatchObject({
      phoneNumberId: "300000000000001",
      displayPhoneNumber: "15550009999",
      wabaId: null
    })
    expect(number.text).not.toContain("secret-meta-token")
    const stored = await h.query<{ sealed: string }>("SELECT access_token_sealed::text AS sealed FROM whatsapp_numbers")
    expect(stored.some((r) => r.sealed.includes("secret-meta-token"))).toBe(false)
    const taken = await h.admin<ErrorReply>("POST", `/businesses/${id}/whatsapp-numbers`, {
      phoneNumberId: "300000000000001",
      displayPhoneNumber: "15550009999",
      accessToken: "t"
    })
    expect([taken.status, taken.body.error.code]).toEqual([409, "whatsapp_number_taken"])

    const key = await h.admin<Envelope<{ id: string; key: string; userId: string | null; scopes: Array<string> }>>(
      "POST",
      `/businesses/${id}/api-keys`,
      { name: "agent", userId: user.body.data.id, scopes: ["messaging:conversations:read"] }
    )
    expect(key.status).toBe(201)
    expect(key.body.data.key).toMatch(/^parley_/)
    expect(key.body.data).toMatchObject({ userId: user.body.data.id, scopes: ["messaging:conversations:read"] })
    const mine = await h.call<Envelope<ReadonlyArray<ConversationJson>>>(
      "GET",
      "/v1/messaging/conversations?assigned=me",
      {
        key: key.body.data.key
      }
    )
    expect(mine.status).toBe(200)

    const template = await h.admin<Envelope<Record<string, unknown>>>("POST", `/businesses/${id}/templates`, {
      key: "order_shipped",
      name: "order_shipped",
      language: "en",
      category: "UTILITY",
      status: "APPROVED",
      parameterFormat: "NAMED",
      components: [{ type: "BODY", text: "Order {{order_id}} arrives {{eta}}" }]
    })
    expect(template.status).toBe(201)
    expect(template.body.data).toMatchObject({ key: "order_shipped", status: "APPROVED" })

    const revoked = await h.admin("DELETE", `/businesses/${id}/api-keys/${key.body.data.id}`)
    expect(revoked.status).toBe(204)
    expect((await h.admin("DELETE", `/businesses/${id}/api-keys/${key.body.data.id}`)).status).toBe(204)
    expect((await h.call("GET", "/v1/messaging/conversations", { key: key.body.data.key })).status).toBe(401)
  })

  it("404 for unknown businesses, users and keys; 400 for invalid bodies", async () => {
    const missing = "01a00000-0000-7000-8000-000000000000"
    for (const path of [`/businesses/${missing}/users`, "/businesses/not-a-uuid/users"]) {
      const reply = await h.admin<ErrorReply>("POST", path, { name: "x" })
      expect([reply.status, reply.body.error.code]).toEqual([404, "business_not_found"])
    }
    const business = await h.admin<Envelope<Created>>("POST", "/businesses", { name: "Other" })
    const id = business.body.data.id
    const badUser = await h.admin<ErrorReply>("POST", `/businesses/${id}/api-keys`, {
      userId: missing,
      scopes: ["messaging:messages:read"]
    })
    expect([badUser.status, badUser.body.error.code]).toEqual([404, "user_not_found"])
    const badKey = await h.admin<ErrorReply>("DELETE", `/businesses/${id}/api-keys/${missing}`)
    expect([badKey.status, badKey.body.error.code]).toEqual([404, "api_key_not_found"])
    for (const body of [{}, { name: "" }, { name: "x", extra: 1 }]) {
      const reply = await h.admin<ErrorReply>("POST", "/businesses", body)
      expect([reply.status, reply.body.error.code]).toEqual([400, "invalid_request"])
    }
    const noScopes = await h.admin<ErrorReply>("POST", `/businesses/${id}/api-keys`, { scopes: [] })
    expect(noScopes.status).toBe(400)
    const badScope = await h.admin<ErrorReply>("POST", `/businesses/${id}/api-keys`, { scopes: ["admin:everything"] })
    expect(badScope.status).toBe(400)
  })

  it("syncs templates from WhatsApp; 404 for another business's number", async () => {
    h.fake.setTemplates([
      {
        id: "1",
        name: "appointment_reminder",
        language: "en_US",
        status: "APPROVED",
        category: "UTILITY",
        parameter_format: "POSITIONAL",
        components: [{ type: "BODY", text: "See you at {{1}}" }]
      }
    ])
    const business = await h.admin<Envelope<Created>>("POST", "/businesses", { name: "Syncer" })
    const id = business.body.data.id
    const number = await h.admin<Envelope<Created>>("POST", `/businesses/${id}/whatsapp-numbers`, {
      phoneNumberId: "300000000000002",
      displayPhoneNumber: "15550008888",
      wabaId: "100000000000001",
      accessToken: "token-a"
    })
    const synced = await h.admin<Envelope<{ upserted: ReadonlyArray<{ key: string; status: string }> }>>(
      "POST",
      `/businesses/${id}/templates/sync`,
      { whatsappNumberId: number.body.data.id }
    )
    expect(synced.status).toBe(200)
    expect(synced.body.data.upserted.map((t) => [t.key, t.status])).toEqual([["appointment_reminder", "APPROVED"]])
    const other = await h.admin<Envelope<Created>>("POST", "/businesses", { name: "Not the owner" })
    const foreign = await h.admin<ErrorReply>("POST", `/businesses/${other.body.data.id}/templates/sync`, {
      whatsappNumberId: number.body.data.id
    })
    expect([foreign.status, foreign.body.error.code]).toEqual([404, "whatsapp_number_not_found"])
  })

  it("a number's throughput: Meta's tier at registration, an operator's value as given, PATCH, and sync", async () => {
    const business = await h.admin<Envelope<Created>>("POST", "/businesses", { name: "Throughput Co" })
    const id = business.body.data.id
    type NumberData = { id: string; messagesPerSecond: number }
    const register = (phoneNumberId: string, extra: Record<string, unknown> = {}) =>
      h.admin<Envelope<NumberData>>("POST", `/businesses/${id}/whatsapp-numbers`, {
        phoneNumberId,
        displayPhoneNumber: "15550006666",
        wabaId: "100000000000001",
        accessToken: "token-a",
        ...extra
      })
    const asked = (phoneNumberId: string) =>
      h.fake.requests.filter((r) => r.operation === "number" && r.path.endsWith(`/${phoneNumberId}`))

    h.fake.setThroughput("300000000000011", "HIGH")
    const upgraded = await register("300000000000011")
    expect([upgraded.status, upgraded.body.data.messagesPerSecond]).toEqual([201, 1000])
    expect(asked("300000000000011").map((r) => r.query.fields)).toEqual(["throughput"])

    const standard = await register("300000000000012")
    expect(standard.body.data.messagesPerSecond).toBe(80)

    h.fake.setThroughput("300000000000013", "HIGH")
    const given = await register("300000000000013", { messagesPerSecond: 50 })
    expect([given.status, given.body.data.messagesPerSecond]).toEqual([201, 50])
    expect(asked("300000000000013")).toEqual([])

    // Meta refusing the read: the number is registered at the standard tier.
    h.fake.fail({ fault: { kind: "graph-error", code: 190 }, times: "always", match: { operation: "number" } })
    const unread = await register("300000000000014")
    h.fake.reset()
    expect([unread.status, unread.body.data.messagesPerSecond]).toEqual([201, 80])

    const path = `/businesses/${id}/whatsapp-numbers/${standard.body.data.id}`
    const patched = await h.admin<Envelope<NumberData>>("PATCH", path, { messagesPerSecond: 250 })
    expect([patched.status, patched.body.data.messagesPerSecond]).toEqual([200, 250])
    for (const bad of [0, 1001, 2.5, "80"]) {
      const refused = await h.admin<ErrorReply>("PATCH", path, { messagesPerSecond: bad })
      expect(refused.status, String(bad)).toBe(400)
    }
    const missing = await h.admin<ErrorReply>(
      "PATCH",
      `/businesses/${id}/whatsapp-numbers/00000000-0000-4000-8000-000000000000`,
      { messagesPerSecond: 100 }
    )
    expect([missing.status, missing.body.error.code]).toEqual([404, "whatsapp_number_not_found"])
    const other = await h.admin<Envelope<Created>>("POST", "/businesses", { name: "Not the owner either" })
    const foreign = await h.admin<ErrorReply>(
      "PATCH",
      `/businesses/${other.body.data.id}/whatsapp-numbers/${standard.body.data.id}`,
      { messagesPerSecond: 100 }
    )
    expect(foreign.status).toBe(404)

    const listed = await h.admin<{ data: ReadonlyArray<NumberData> }>("GET", `/businesses/${id}/whatsapp-numbers`)
    expect(Object.fromEntries(listed.body.data.map((n) => [n.id, n.messagesPerSecond]))).toMatchObject({
      [upgraded.body.data.id]: 1000,
      [standard.body.data.id]: 250,
      [given.body.data.id]: 50
    })

    // Meta upgraded the number since: a template sync takes the tier it reports now.
    h.fake.setThroughput("300000000000012", "HIGH")
    const synced = await h.admin<Envelope<{ messagesPerSecond: number }>>("POST", `/businesses/${id}/templates/sync`, {
      whatsappNumberId: standard.body.data.id
    })
    expect([synced.status, synced.body.data.messagesPerSecond]).toEqual([200, 1000])
    const stored = await h.query<{ mps: number }>(
      `SELECT messages_per_second AS mps FROM whatsapp_numbers WHERE id = '${standard.body.data.id}'`
    )
    expect(stored.map((r) => Number(r.mps))).toEqual([1000])
  })
})

describe("the parley CLI", () => {
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

  it("creates a business, a number, a template and a key, and revokes the key", async () => {
    const business = JSON.parse((await parley("businesses", "create", "--name", "CLI Co")).stdout) as Created
    const number = JSON.parse(
      (
        await parley(
          "numbers",
          "create",
          "--business",
          business.id,
          "--phone-number-id",
          "400000000000001",
          "--display-phone-number",
          "15550007777",
          "--access-token",
          "token-a"
        )
      ).stdout
    ) as Created
    expect(number.id).toMatch(/^[0-9a-f-]{36}$/)
    const rated = JSON.parse(
      (
        await parley(
          "numbers",
          "create",
          "--business",
          business.id,
          "--phone-number-id",
          "400000000000002",
          "--display-phone-number",
          "15550007778",
          "--access-token",
          "token-a",
          "--messages-per-second",
          "40"
        )
      ).stdout
    ) as Created & { messagesPerSecond: number }
    expect(rated.messagesPerSecond).toBe(40)
    const raised = JSON.parse(
      (
        await parley(
          "numbers",
          "set-throughput",
          "--business",
          business.id,
          "--number",
          rated.id,
          "--messages-per-second",
          "1000"
        )
      ).stdout
    ) as { messagesPerSecond: number }
    expect(raised.messagesPerSecond).toBe(1000)
    const template = JSON.parse(
      (
        await parley(
          "templates",
          "create",
          "--business",
          business.id,
          "--key",
          "order_shipped",
          "--name",
          "order_shipped",
          "--language",
          "en",
          "--category",
          "UTILITY",
          "--status",
          "APPROVED",
          "--parameter-format",
          "NAMED",
          "--body",
          "Order {{order_id}} arrives {{eta}}"
        )
      ).stdout
    ) as { key: string; parameterFormat: string }
    expect(template).toMatchObject({ key: "order_shipped", parameterFormat: "NAMED" })
    const key = JSON.parse(
      (await parley("keys", "create", "--business", business.id, "--scope", "messaging:messages:send")).stdout
    ) as { id: string; key: string; scopes: Array<string> }
    expect(key.scopes).toEqual(["messaging:messages:send"])
    const sent = await h.call("POST", "/v1/messaging/messages/template", {
      key: key.key,
      body: {
        business_whatsapp_number_id: number.id,
        phone: "+2348012345678",
        template_key: "order_shipped",
        variables: { order_id: "7", eta: "Monday" }
      }
    })
    expect(sent.status).toBe(201)
    await parley("keys", "revoke", "--business", business.id, "--key", key.id)
    expect((await h.call("GET", "/v1/messaging/conversations", { key: key.key })).status).toBe(401)
  })

  it("manages a business's outbound webhook endpoints: create (secret once), list, disable, enable, rotate, delete", async () => {
    const business = JSON.parse((await parley("businesses", "create", "--name", "Hooks CLI Co")).stdout) as Created
    const created = JSON.parse(
      (
        await parley(
          "webhooks",
          "endpoints",
          "create",
          "--business",
          business.id,
          "--target",
          "https://8.8.8.8/hooks",
          "--type",
          "message.received"
        )
      ).stdout
    ) as { id: string; secret: string; eventTypes: ReadonlyArray<string> }
    expect(created.secret).toMatch(/^whsec_/)
    expect(created.eventTypes).toEqual(["message.received"])
    const common = ["--business", business.id, "--endpoint", created.id]
    const disabled = JSON.parse((await parley("webhooks", "endpoints", "disable", ...common)).stdout)
    expect(disabled).toMatchObject({ enabled: false, disabledReason: "manual" })
    const enabled = JSON.parse((await parley("webhooks", "endpoints", "enable", ...common)).stdout)
    expect(enabled).toMatchObject({ enabled: true, disabledReason: null })
    const rotated = JSON.parse((await parley("webhooks", "endpoints", "rotate-secret", ...common)).stdout) as {
      secret: string
    }
    expect(rotated.secret).not.toBe(created.secret)
    const listed = (await parley("webhooks", "endpoints", "list", "--business", business.id)).stdout
    expect(listed).toContain(created.id)
    expect(listed).not.toContain("whsec_")
    expect(JSON.parse((await parley("webhooks", "endpoints", "deliveries", ...common)).stdout)).toEqual([])
    await parley("webhooks", "endpoints", "delete", ...common)
    expect(JSON.parse((await parley("webhooks", "endpoints", "list", "--business", business.id)).stdout)).toEqual([])
  }, 120_000)

  it("requires what the API requires: a key's scopes, a template's language, category, status and format", async () => {
    const business = JSON.parse((await parley("businesses", "create", "--name", "Strict CLI Co")).stdout) as Created
    const refused = (...args: ReadonlyArray<string>) =>
      parley(...args).then(
        () => undefined,
        (error: { code: number; stderr: string; stdout: string }) => error
      )
    const noScope = await refused("keys", "create", "--business", business.id, "--name", "all by omission?")
    expect(noScope?.code).not.toBe(0)
    expect(`${noScope?.stdout}${noScope?.stderr}`).toContain("--scope")
    const template = ["templates", "create", "--business", business.id, "--key", "k", "--name", "k", "--body", "Hi"]
    const full = ["--language", "en", "--category", "UTILITY", "--status", "APPROVED", "--parameter-format", "NAMED"]
    for (let i = 0; i < full.length; i += 2) {
      const missing = full.filter((_, j) => j !== i && j !== i + 1)
      const failure = await refused(...template, ...missing)
      expect(failure?.code, `without ${full[i]}`).not.toBe(0)
      expect(`${failure?.stdout}${failure?.stderr}`, `without ${full[i]}`).toContain(full[i])
    }
    const keys = await h.admin<{ data: ReadonlyArray<unknown> }>("GET", `/businesses/${business.id}/api-keys`)
    const templates = await h.admin<{ data: ReadonlyArray<unknown> }>("GET", `/businesses/${business.id}/templates`)
    expect([keys.body.data.length, templates.body.data.length]).toEqual([0, 0])
  })

  it("prints the API's error and exits 1", async () => {
    const failure = await parley("users", "create", "--business", "nope", "--name", "x").then(
      () => undefined,
      (error: { code: number; stderr: string }) => error
    )
    expect(failure?.code).toBe(1)
    expect(failure?.stderr).toContain("business not found")
  })
})
