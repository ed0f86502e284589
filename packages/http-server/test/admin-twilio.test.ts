/**
 * Registering a Twilio number through the admin API and the CLI: the provider's fields are checked together (clear
 * 400s naming each field), the auth token and API key secret are sealed and never returned, and a number belongs to
 * one provider (the same id under another provider is another number; twice under one is a 409).
 */
import { execFile } from "node:child_process"
import * as Path from "node:path"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { adminToken, type Envelope, type ErrorReply, engines, type Harness, start } from "./support/Harness.js"

const list = await engines()
const run = promisify(execFile)
const packageDir = Path.resolve(import.meta.dirname, "..")

const accountSid = `AC${"0123456789abcdef".repeat(2)}`
const apiKeySid = `SK${"fedcba9876543210".repeat(2)}`

interface NumberJson {
  readonly id: string
  readonly provider: string
  readonly phoneNumberId: string
  readonly accountSid: string | null
  readonly apiKeySid: string | null
}

describe.each(list)("Twilio numbers in the admin API on $name", (engine) => {
  let h: Harness
  let businessId: string

  beforeAll(async () => {
    h = await start(engine)
    businessId = (await h.admin<Envelope<{ id: string }>>("POST", "/businesses", { name: "Twilio Co" })).body.data.id
  })
  afterAll(async () => {
    await h?.close()
  })

  it("registers a Twilio number with an API key; the auth token and secret are sealed and never shown", async () => {
    const created = await h.admin<Envelope<NumberJson>>("POST", `/businesses/${businessId}/whatsapp-numbers`, {
      provider: "twilio",
      phoneNumberId: "+15550102030",
      displayPhoneNumber: "15550102030",
      accessToken: "twilio-auth-token-secret",
      accountSid,
      apiKeySid,
      apiKeySecret: "twilio-api-key-secret"
    })
    expect(created.status).toBe(201)
    expect(created.body.data).toMatchObject({
      provider: "twilio",
      phoneNumberId: "+15550102030",
      accountSid,
      apiKeySid,
      wabaId: null
    })
    expect(created.text).not.toContain("twilio-auth-token-secret")
    expect(created.text).not.toContain("twilio-api-key-secret")
    const stored = await h.query<{ token: string; secret: string | null }>(
      "SELECT access_token_sealed AS token, provider_api_key_secret_sealed AS secret FROM whatsapp_numbers " +
        "WHERE provider = 'twilio'"
    )
    expect(stored.length).toBeGreaterThan(0)
    for (const row of stored) {
      expect(row.token).not.toContain("twilio-auth-token-secret")
      expect(row.secret ?? "").not.toContain("twilio-api-key-secret")
      expect(row.secret).toMatch(/^v1\./)
    }
    const listed = await h.admin<Envelope<ReadonlyArray<NumberJson>>>(
      "GET",
      `/businesses/${businessId}/whatsapp-numbers`
    )
    expect(listed.body.data.find((n) => n.id === created.body.data.id)).toMatchObject({
      provider: "twilio",
      accountSid,
      apiKeySid
    })
    expect(listed.text).not.toContain("twilio-api-key-secret")

    // Without an API key: the auth token authenticates sends.
    const plain = await h.admin<Envelope<NumberJson>>("POST", `/businesses/${businessId}/whatsapp-numbers`, {
      provider: "twilio",
      phoneNumberId: "+15550102031",
      displayPhoneNumber: "15550102031",
      accessToken: "t",
      accountSid
    })
    expect([plain.status, plain.body.data.apiKeySid]).toEqual([201, null])

    // Twice under Twilio: taken. The same digits as a Meta id are another provider's number, not a clash.
    const again = await h.admin<ErrorReply>("POST", `/businesses/${businessId}/whatsapp-numbers`, {
      provider: "twilio",
      phoneNumberId: "+15550102030",
      displayPhoneNumber: "15550102030",
      accessToken: "t",
      accountSid
    })
    expect([again.status, again.body.error.code]).toEqual([409, "whatsapp_number_taken"])
    const meta = await h.admin<Envelope<NumberJson>>("POST", `/businesses/${businessId}/whatsapp-numbers`, {
      phoneNumberId: "15550102030",
      displayPhoneNumber: "15550102030",
      accessToken: "t"
    })
    expect([meta.status, meta.body.data.provider, meta.body.data.accountSid]).toEqual([201, "whatsapp_cloud", null])
  })

  it("400 naming each field that does not fit the provider", async () => {
    const post = (body: Record<string, unknown>) =>
      h.admin<ErrorReply>("POST", `/businesses/${businessId}/whatsapp-numbers`, {
        displayPhoneNumber: "15550102039",
        accessToken: "t",
        ...body
      })
    const paths = (reply: { readonly body: ErrorReply }) =>
      ((reply.body.error.details?.issues ?? []) as ReadonlyArray<{ path: string }>).map((i) => i.path)
    const cases: ReadonlyArray<readonly [Record<string, unknown>, ReadonlyArray<string>]> = [
      // Shapes, whatever the provider.
      [{ provider: "twilio", phoneNumberId: "+15550102039", accountSid: "AC123" }, ["accountSid"]],
      [
        { provider: "twilio", phoneNumberId: "+15550102039", accountSid, apiKeySid: "SKnothex", apiKeySecret: "s" },
        ["apiKeySid"]
      ],
      [{ provider: "sms", phoneNumberId: "+15550102039" }, ["provider"]],
      // Together, per provider.
      [{ provider: "twilio", phoneNumberId: "15550102039", accountSid }, ["phoneNumberId"]],
      [{ provider: "twilio", phoneNumberId: "+15550102039" }, ["accountSid"]],
      [{ provider: "twilio", phoneNumberId: "+15550102039", accountSid, apiKeySid }, ["apiKeySecret"]],
      [{ provider: "twilio", phoneNumberId: "+15550102039", accountSid, apiKeySecret: "s" }, ["apiKeySid"]],
      [{ phoneNumberId: "+15550102039" }, ["phoneNumberId"]],
      [{ phoneNumberId: "300000000000777", accountSid }, ["accountSid"]]
    ]
    for (const [body, expected] of cases) {
      const reply = await post(body)
      expect([reply.status, reply.body.error.code, paths(reply)], JSON.stringify(body)).toEqual([
        400,
        "invalid_request",
        expected
      ])
    }
    const stored = await h.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM whatsapp_numbers WHERE display_phone_number = '15550102039'"
    )
    expect(stored[0]?.n).toBe(0)
  })
})

describe("parley numbers create --provider twilio", () => {
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

  it("registers a Twilio number with its credentials and prints no secret", async () => {
    const business = JSON.parse((await parley("businesses", "create", "--name", "CLI Twilio")).stdout) as {
      id: string
    }
    const out = await parley(
      "numbers",
      "create",
      "--business",
      business.id,
      "--provider",
      "twilio",
      "--phone-number-id",
      "+15550104040",
      "--display-phone-number",
      "15550104040",
      "--access-token",
      "cli-auth-token",
      "--account-sid",
      accountSid,
      "--api-key-sid",
      apiKeySid,
      "--api-key-secret",
      "cli-api-key-secret"
    )
    const number = JSON.parse(out.stdout) as NumberJson
    expect(number).toMatchObject({ provider: "twilio", phoneNumberId: "+15550104040", accountSid, apiKeySid })
    expect(out.stdout).not.toContain("cli-auth-token")
    expect(out.stdout).not.toContain("cli-api-key-secret")
  }, 60_000)
})
