/**
 * The fake Twilio API itself: Basic auth, Twilio's validation answers, and signed webhooks that the package's own
 * `verifySignature` and `decode` accept (so an e2e test or a sandbox can drive Parley with them).
 */
import { spawn } from "node:child_process"
import * as Http from "node:http"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import * as TwilioWebhook from "../src/TwilioWebhook.js"
import { FakeTwilioApiServer } from "../src/testing/FakeTwilioApi.js"
import { accountSid, authToken, fakeOptions } from "./support/harness.js"

interface Received {
  readonly url: string
  readonly params: ReadonlyArray<readonly [string, string]>
  readonly signature: string | undefined
}

/** A loopback receiver standing in for Parley's Twilio webhook route. */
const receiver = async () => {
  const received: Array<Received> = []
  const server = Http.createServer((request, response) => {
    const chunks: Array<Buffer> = []
    request.on("data", (c: Buffer) => chunks.push(c))
    request.on("end", () => {
      const header = request.headers["x-twilio-signature"]
      received.push({
        url: `${base}${request.url ?? ""}`,
        params: Array.from(new URLSearchParams(Buffer.concat(chunks).toString("utf8")).entries()),
        signature: typeof header === "string" ? header : undefined
      })
      response.writeHead(200, { "content-type": "text/xml" })
      response.end("<Response/>")
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const address = server.address()
  const base = typeof address === "object" && address !== null ? `http://127.0.0.1:${address.port}` : ""
  return { base, received, close: () => new Promise<void>((resolve) => server.close(() => resolve())) }
}

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString()

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`

describe("FakeTwilioApi", () => {
  let fake: FakeTwilioApiServer
  let hook: Awaited<ReturnType<typeof receiver>>
  beforeAll(async () => {
    fake = await FakeTwilioApiServer.start({ ...fakeOptions, autoStatuses: true })
    hook = await receiver()
  })
  afterAll(async () => {
    await fake.close()
    await hook.close()
  })

  const post = (fields: Record<string, string>, authorization = basic(accountSid, authToken)) =>
    fetch(`${fake.url}/2010-04-01/Accounts/${accountSid}/Messages.json`, {
      method: "POST",
      headers: { authorization, "content-type": "application/x-www-form-urlencoded" },
      body: form(fields)
    })

  it("answers Twilio's 401/20003 to wrong credentials and 400s to invalid fields", async () => {
    fake.reset()
    const unauthorized = await post({ To: "whatsapp:+15550001111" }, basic(accountSid, "wrong"))
    expect(unauthorized.status).toBe(401)
    expect(await unauthorized.json()).toMatchObject({ code: 20003, status: 401 })
    const cases: ReadonlyArray<readonly [Record<string, string>, number]> = [
      [{ To: "+15550001111", From: "whatsapp:+15550002222", Body: "x" }, 21211],
      [{ To: "whatsapp:+15550001111", From: "whatsapp:+15550002222" }, 21619],
      [{ To: "whatsapp:+15550001111", From: "whatsapp:+15550002222", ContentVariables: "{}" }, 21654],
      [{ To: "whatsapp:+15550001111", From: "whatsapp:+15550002222", ContentSid: "HX1", ContentVariables: "[" }, 21656]
    ]
    for (const [fields, code] of cases) {
      const response = await post(fields)
      expect(response.status).toBe(400)
      const body = (await response.json()) as { code: number; more_info: string }
      expect(body.code).toBe(code)
      expect(body.more_info).toBe(`https://www.twilio.com/docs/errors/${code}`)
    }
    expect(fake.sends).toEqual([])
  })

  it("accepts a send like Twilio and posts signed sent, delivered and read callbacks to its StatusCallback", async () => {
    fake.reset()
    const callback = `${hook.base}/webhooks/twilio?number=1`
    const response = await post({
      To: "whatsapp:+15550001111",
      From: "whatsapp:+15550002222",
      Body: "hi",
      StatusCallback: callback
    })
    expect(response.status).toBe(201)
    const accepted = (await response.json()) as { sid: string; status: string }
    expect(accepted.sid).toMatch(/^SM[0-9a-f]{32}$/)
    expect(accepted.status).toBe("queued")
    await expect.poll(() => hook.received.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(3)
    const statuses: Array<string> = []
    for (const delivery of hook.received.slice(0, 3)) {
      expect(delivery.url).toBe(callback)
      const valid = TwilioWebhook.verifySignature({
        url: callback,
        params: delivery.params,
        signature: delivery.signature,
        authToken
      })
      expect(valid).toBe(true)
      const decoded = TwilioWebhook.decode(delivery.params)
      if (Either.isLeft(decoded)) throw new Error(decoded.left.message)
      expect(decoded.right.providerPhoneNumberId).toBe("+15550002222")
      for (const s of decoded.right.statuses) {
        expect(s.providerMessageId).toBe(accepted.sid)
        statuses.push(s.status)
      }
    }
    expect(statuses.sort()).toEqual(["delivered", "read", "sent"])
  })

  it("posts a signed inbound message that decodes into the customer's text", async () => {
    hook.received.length = 0
    const url = `${hook.base}/webhooks/twilio`
    const delivery = await fake.sendInbound({
      url,
      from: "whatsapp:+15550001111",
      to: "whatsapp:+15550002222",
      body: "hello"
    })
    expect(delivery.status).toBe(200)
    const [received] = hook.received
    expect(received).toBeDefined()
    if (received === undefined) return
    expect(
      TwilioWebhook.verifySignature({ url, params: received.params, signature: received.signature, authToken })
    ).toBe(true)
    const decoded = TwilioWebhook.decode(received.params)
    expect(Either.isRight(decoded) && decoded.right.inbound[0]?.text).toBe("hello")
  })

  it("starts as a sandbox from `pnpm fake-twilio-api`", async () => {
    const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "../../..")
    const child = spawn(
      process.execPath,
      [
        "--conditions=@parley/source",
        "--import",
        "tsx",
        "packages/twilio/scripts/fake-twilio-api.ts",
        "--port",
        "0",
        "--account",
        `${accountSid}:${authToken}`
      ],
      { cwd: root, stdio: ["ignore", "pipe", "pipe"] }
    )
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let output = ""
        child.stdout.on("data", (chunk: Buffer) => {
          output += chunk.toString("utf8")
          const match = /listening on (http:\/\/\S+)/.exec(output)
          if (match?.[1] !== undefined) resolve(match[1])
        })
        child.once("exit", (code) => reject(new Error(`exited with ${code}`)))
      })
      const response = await fetch(`${url}/_fake/requests`)
      expect(response.status).toBe(200)
      expect(await response.json()).toEqual([])
    } finally {
      child.kill("SIGTERM")
    }
  }, 60_000)

  it("holds a customer's file for an inbound message and serves it at MediaUrl0: Basic auth, a redirect, 404 once deleted", async () => {
    const file = Buffer.from("a photo's bytes")
    const control = await fetch(`${fake.url}/_fake/inbound`, {
      method: "POST",
      body: JSON.stringify({
        url: `${hook.base}/hook`,
        from: "whatsapp:+15550001111",
        to: "whatsapp:+15550002222",
        mediaContentType: "image/png",
        mediaBase64: file.toString("base64")
      })
    })
    expect(control.status).toBe(200)
    const params = new Map(hook.received.at(-1)?.params)
    expect(params.get("NumMedia")).toBe("1")
    expect(params.get("MediaContentType0")).toBe("image/png")
    const url = params.get("MediaUrl0") ?? ""
    const sids = /\/Messages\/(MM[0-9a-f]{32})\/Media\/(ME[0-9a-f]{32})$/.exec(url)
    expect(sids?.[1]).toBe(params.get("MessageSid"))
    const decoded = TwilioWebhook.decode(hook.received.at(-1)?.params ?? [])
    if (Either.isLeft(decoded)) throw new Error(decoded.left.message)
    // The media id the decoder keeps is what the gateway downloads with: the message and media sids.
    expect(decoded.right.inbound[0]?.media?.providerMediaId).toBe(`${sids?.[1]}/${sids?.[2]}`)

    expect((await fetch(url)).status).toBe(401)
    const redirect = await fetch(url, { headers: { authorization: basic(accountSid, authToken) }, redirect: "manual" })
    expect(redirect.status).toBe(307)
    const signed = redirect.headers.get("location") ?? ""
    const bytes = await fetch(signed)
    expect(bytes.status).toBe(200)
    expect(bytes.headers.get("content-type")).toBe("image/png")
    expect(Buffer.from(await bytes.arrayBuffer())).toEqual(file)

    expect(fake.deleteMedia(sids?.[2] ?? "")).toBe(true)
    expect((await fetch(url, { headers: { authorization: basic(accountSid, authToken) } })).status).toBe(404)
    expect((await fetch(signed)).status).toBe(404)
  })
})
