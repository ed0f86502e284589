/**
 * End to end through the service, with Twilio's and Meta's fakes as real servers and the service behind a proxy (the
 * URL Twilio calls is not the one the server listens on, as behind a TLS-terminating proxy): a Twilio number
 * receives a customer's message signed by the fake Twilio API, the reply goes out through Twilio inside the window,
 * a template (synced from the Content API) outside it, signed status callbacks are applied, and the window is
 * enforced before Twilio is called; the same service meanwhile serves a Cloud API number. A webhook without a valid
 * signature over the public URL is 403 with the standard error body, and nothing is stored.
 */
import * as Http from "node:http"
import { TwilioWebhook } from "@parley/twilio"
import { FakeTwilioApi } from "@parley/twilio/testing"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { ConversationDetailJson, ConversationJson, MessageJson } from "../src/Representation.js"
import {
  createTenant,
  type Envelope,
  type ErrorReply,
  engines,
  envelope,
  type Harness,
  inboundChange,
  nextPhone,
  start,
  type Tenant
} from "./support/Harness.js"

const list = await engines()

const accountSid = `AC${"1234567890abcdef".repeat(2)}`
const authToken = "twilio-auth-token-e2e"
const apiKey = { sid: `SK${"abcdef1234567890".repeat(2)}`, secret: "twilio-api-key-secret-e2e" }
const contentSid = `HX${"0f".repeat(16)}`
const twilioNumber = "+15550002222"

/** A reverse proxy on a loopback port: what Twilio reaches, forwarding path, query, headers and body unchanged. */
const startProxy = async () => {
  let target = ""
  const server = Http.createServer((request, response) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      const headers = Object.fromEntries(
        Object.entries(request.headers).filter(
          (entry): entry is [string, string] => typeof entry[1] === "string" && entry[0] !== "host"
        )
      )
      fetch(`${target}${request.url ?? "/"}`, {
        method: request.method ?? "GET",
        headers,
        ...(chunks.length === 0 ? {} : { body: Buffer.concat(chunks) })
      })
        .then(async (answer) => {
          response.writeHead(answer.status, Object.fromEntries(answer.headers))
          response.end(Buffer.from(await answer.arrayBuffer()))
        })
        .catch(() => {
          response.writeHead(502)
          response.end()
        })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const address = server.address()
  const port = typeof address === "object" && address !== null ? address.port : 0
  return {
    url: `http://127.0.0.1:${port}`,
    forwardTo: (url: string) => {
      target = url
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
  }
}

describe.each(list)("a Twilio number and a Cloud API number in one service on $name", (engine) => {
  let h: Harness
  let twilio: FakeTwilioApi.FakeTwilioApiServer
  let proxy: Awaited<ReturnType<typeof startProxy>>
  let tenant: Tenant
  let twilioNumberId: string
  const webhookUrl = () => `${proxy.url}/webhooks/twilio`

  const twilioDeliveries = async () =>
    (await h.query<{ n: number }>("SELECT count(*)::int AS n FROM webhook_deliveries WHERE provider = 'twilio'"))[0]
      ?.n ?? -1

  const conversationOf = async (customerPhone: string, numberId: string) => {
    const page = await h.call<Envelope<ReadonlyArray<ConversationJson>>>(
      "GET",
      "/v1/messaging/conversations?limit=200",
      { key: tenant.key }
    )
    return page.body.data.find((c) => c.customerPhone === customerPhone && c.whatsappNumberId === numberId)
  }

  const messagesOf = async (conversationId: string) =>
    (
      await h.call<Envelope<typeof ConversationDetailJson.Type>>(
        "GET",
        `/v1/messaging/conversations/${conversationId}`,
        {
          key: tenant.key
        }
      )
    ).body.data.messages

  beforeAll(async () => {
    proxy = await startProxy()
    twilio = await FakeTwilioApi.FakeTwilioApiServer.start({
      accounts: [{ accountSid, authToken, apiKeys: [apiKey] }],
      contents: [
        {
          sid: contentSid,
          account_sid: accountSid,
          friendly_name: "order_ready",
          language: "en",
          variables: { "1": "Ana" },
          types: { "twilio/text": { body: "Hi {{1}}, your order is ready." } },
          date_created: "2026-11-01T10:00:00Z"
        }
      ],
      approvals: { [contentSid]: { name: "order_ready", category: "UTILITY", status: "approved" } }
    })
    h = await start(engine, {
      webhookProcessing: { maxItemAttempts: 2 },
      publicUrl: proxy.url,
      twilio: {
        apiUrl: twilio.url,
        contentUrl: twilio.url,
        messagingUrl: twilio.url,
        gateway: {
          requestTimeout: "2 seconds",
          retry: { maxAttempts: 2, budget: "300 millis", baseDelay: "5 millis", maxDelay: "20 millis" }
        }
      }
    })
    proxy.forwardTo(h.url)
    tenant = await createTenant(h, "Two Providers", "200000000000002", "token-a")
    const number = await h.admin<Envelope<{ id: string }>>(
      "POST",
      `/businesses/${tenant.businessId}/whatsapp-numbers`,
      {
        provider: "twilio",
        phoneNumberId: twilioNumber,
        displayPhoneNumber: "15550002222",
        accountSid,
        accessToken: authToken,
        apiKeySid: apiKey.sid,
        apiKeySecret: apiKey.secret
      }
    )
    expect(number.status).toBe(201)
    twilioNumberId = number.body.data.id
  }, 120_000)

  afterAll(async () => {
    await h?.close()
    await twilio?.close()
    await proxy?.close()
  })

  it("inbound through Twilio, a reply inside the window, signed statuses applied; a Cloud API number alongside", async () => {
    const customer = `+${nextPhone()}`
    const inbound = await twilio.sendInbound({
      url: webhookUrl(),
      from: `whatsapp:${customer}`,
      to: `whatsapp:${twilioNumber}`,
      body: "Is my order ready?",
      profileName: "Ana"
    })
    expect(inbound.status).toBe(200)
    expect(inbound.body).toContain("<Response/>")
    await h.settled()
    const conversation = await conversationOf(customer, twilioNumberId)
    expect(conversation).toMatchObject({ customerName: "Ana", status: "open" })
    expect(conversation?.windowClosesAt).not.toBeNull()
    const received = await messagesOf(conversation?.id ?? "")
    expect(received.map((m) => [m.direction, m.text])).toEqual([["inbound", "Is my order ready?"]])

    const reply = await h.call<Envelope<MessageJson>>(
      "POST",
      `/v1/messaging/conversations/${conversation?.id}/messages`,
      { key: tenant.key, body: { text: "Yes, come by at noon." } }
    )
    expect(reply.status).toBe(201)
    const sent = twilio.sends.at(-1)
    expect(sent).toMatchObject({
      accountSid,
      from: `whatsapp:${twilioNumber}`,
      to: `whatsapp:${customer}`,
      body: "Yes, come by at noon.",
      contentSid: null,
      statusCallback: webhookUrl()
    })
    // The API key authenticates the send, not the auth token.
    expect(twilio.requests.filter((r) => r.operation === "send").at(-1)?.username).toBe(apiKey.sid)
    expect(reply.body.data.providerMessageId).toBe(sent?.sid)

    // Read receipts on a Twilio number are its typing indicator, for the customer's message.
    const read = await h.call("POST", `/v1/messaging/conversations/${conversation?.id}/read`, { key: tenant.key })
    expect(read.status).toBeLessThan(300)
    const typing = twilio.requests.filter((r) => r.operation === "typing").at(-1)
    expect(typing?.form).toContainEqual(["messageId", received[0]?.providerMessageId ?? "-"])

    // Twilio's callbacks, signed over the public URL; a duplicate changes nothing.
    for (const status of ["sent", "delivered", "read", "delivered"]) {
      const callback = await twilio.sendStatus({ sid: sent?.sid ?? "", status })
      expect(callback.status).toBe(200)
    }
    await h.settled()
    const after = await messagesOf(conversation?.id ?? "")
    expect(after.find((m) => m.id === reply.body.data.id)?.deliveryStatus).toBe("read")

    // Meanwhile, a Cloud API number of the same business: Meta's webhook in, the reply out through Meta.
    const cloudCustomer = nextPhone()
    const twilioSends = twilio.sends.length
    expect(
      (await h.webhook(envelope(inboundChange("200000000000002", [{ from: cloudCustomer, text: "And mine?" }])))).status
    ).toBe(200)
    const cloudConversation = await conversationOf(`+${cloudCustomer}`, tenant.numberId)
    const cloudReply = await h.call<Envelope<MessageJson>>(
      "POST",
      `/v1/messaging/conversations/${cloudConversation?.id}/messages`,
      { key: tenant.key, body: { text: "Yours ships today." } }
    )
    expect(cloudReply.status).toBe(201)
    expect(h.fake.sends.at(-1)?.phoneNumberId).toBe("200000000000002")
    expect(twilio.sends.length).toBe(twilioSends)
  }, 120_000)

  it("a customer's photo through Twilio downloads byte for byte with its type; once Twilio deleted it, 410", async () => {
    const customer = `+${nextPhone()}`
    const photo = Uint8Array.from({ length: 120_000 }, (_, i) => (i * 13) % 251)
    const inbound = await twilio.sendInbound({
      url: webhookUrl(),
      from: `whatsapp:${customer}`,
      to: `whatsapp:${twilioNumber}`,
      body: "the parcel arrived like this",
      media: { contentType: "image/jpeg", bytes: photo }
    })
    expect(inbound.status).toBe(200)
    await h.settled()
    const conversation = await conversationOf(customer, twilioNumberId)
    const [message] = await messagesOf(conversation?.id ?? "")
    expect(message?.messageType).toBe("image")
    const download = () =>
      fetch(`${h.url}/v1/messaging/messages/${message?.id}/media`, {
        headers: { authorization: `Bearer ${tenant.key}` }
      })
    const response = await download()
    expect(response.status).toBe(200)
    expect(response.headers.get("content-type")).toBe("image/jpeg")
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(photo)
    const media = twilio.requests.filter((r) => r.operation === "media" || r.operation === "media-file")
    // The API key reads the Media resource; the signed URL it redirects to gets no credentials.
    expect(media.slice(-2).map((r) => [r.operation, r.username])).toEqual([
      ["media", apiKey.sid],
      ["media-file", null]
    ])

    const mediaSid = /\/Media\/(ME[0-9a-f]{32})$/.exec(
      twilio.requests.findLast((r) => r.operation === "media")?.path ?? ""
    )?.[1]
    expect(twilio.deleteMedia(mediaSid ?? "")).toBe(true)
    const gone = await download()
    expect(gone.status).toBe(410)
    expect(((await gone.json()) as ErrorReply).error.code).toBe("media_gone")
  })

  it("outside the window: a template from the Content API goes through Twilio; free text is refused before Twilio", async () => {
    const sync = await h.admin<Envelope<{ upserted: ReadonlyArray<{ key: string; name: string }> }>>(
      "POST",
      `/businesses/${tenant.businessId}/templates/sync`,
      { whatsappNumberId: twilioNumberId }
    )
    expect(sync.status).toBe(200)
    expect(sync.body.data.upserted).toEqual([expect.objectContaining({ key: "order_ready", name: contentSid })])

    const customer = `+${nextPhone()}`
    const template = await h.call<Envelope<MessageJson>>("POST", "/v1/messaging/messages/template", {
      key: tenant.key,
      body: {
        business_whatsapp_number_id: twilioNumberId,
        phone: customer,
        template_key: "order_ready",
        variables: { "1": "Ana" }
      }
    })
    expect(template.status).toBe(201)
    expect(twilio.sends.at(-1)).toMatchObject({
      from: `whatsapp:${twilioNumber}`,
      to: `whatsapp:${customer}`,
      body: null,
      contentSid,
      contentVariables: { "1": "Ana" }
    })

    // The customer never wrote: the window is closed, and the core refuses before any provider is called.
    const requests = twilio.requests.length
    const refused = await h.call<ErrorReply>(
      "POST",
      `/v1/messaging/conversations/${template.body.data.conversationId}/messages`,
      { key: tenant.key, body: { text: "Anything else?" } }
    )
    expect([refused.status, refused.body.error.code]).toEqual([422, "service_window_closed"])
    expect(twilio.requests.length).toBe(requests)
  }, 120_000)

  it("a Twilio item the database refuses is set aside as a dead letter, then replayed once the cause is fixed", async () => {
    await h.query(`
      CREATE OR REPLACE FUNCTION test_refuse_twilio_poison() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.text = 'twilio poison' THEN RAISE EXCEPTION 'twilio poison refused'; END IF;
        RETURN NEW;
      END $$`)
    await h.query(`
      CREATE TRIGGER test_refuse_twilio_poison BEFORE INSERT ON messages
      FOR EACH ROW EXECUTE FUNCTION test_refuse_twilio_poison()`)
    const customer = `+${nextPhone()}`
    const sid = FakeTwilioApi.makeSid("SM")
    const delivered = await twilio.sendInbound({
      url: webhookUrl(),
      from: `whatsapp:${customer}`,
      to: `whatsapp:${twilioNumber}`,
      body: "twilio poison",
      sid
    })
    expect(delivered.status).toBe(200)
    type DeadLetter = { readonly id: string; readonly itemKey: string; readonly state: string; phoneNumberId: string }
    let dead: DeadLetter | undefined
    for (let i = 0; i < 600 && dead === undefined; i++) {
      const page = await h.admin<Envelope<ReadonlyArray<DeadLetter>>>("GET", "/webhook-dead-letters?state=dead")
      dead = page.body.data.find((d) => d.itemKey === `message:${sid}`)
      if (dead === undefined) await new Promise((resolve) => setTimeout(resolve, 100))
    }
    expect(dead).toMatchObject({ phoneNumberId: twilioNumber, state: "dead" })
    expect(await conversationOf(customer, twilioNumberId)).toBeUndefined()
    await h.query("DROP TRIGGER test_refuse_twilio_poison ON messages")
    const replay = await h.admin<Envelope<DeadLetter>>("POST", `/webhook-dead-letters/${dead?.id}/replay`)
    expect([replay.status, replay.body.data.state]).toEqual([200, "resolved"])
    const conversation = await conversationOf(customer, twilioNumberId)
    expect((await messagesOf(conversation?.id ?? "")).map((m) => m.text)).toEqual(["twilio poison"])
  }, 120_000)

  it("a webhook not signed over the public URL with a registered number's auth token is 403, and nothing is stored", async () => {
    const before = await twilioDeliveries()
    const params = FakeTwilioApi.inboundParams({
      accountSid,
      from: `whatsapp:+${nextPhone()}`,
      to: `whatsapp:${twilioNumber}`,
      body: "forged"
    })
    const post = (url: string, signature: string | undefined, to = url) =>
      fetch(to, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          ...(signature === undefined ? {} : { "x-twilio-signature": signature })
        },
        body: new URLSearchParams(params.map(([k, v]): [string, string] => [k, v])).toString()
      })
    const cases = [
      // Unsigned; signed with another token; signed over the URL the server sees rather than the public one.
      await post(webhookUrl(), undefined),
      await post(webhookUrl(), TwilioWebhook.sign(webhookUrl(), params, "another-token")),
      await post(`${h.url}/webhooks/twilio`, TwilioWebhook.sign(`${h.url}/webhooks/twilio`, params, authToken)),
      // Signed correctly, but for a number no business registered: its token is unknown, nothing is verifiable.
      await post(
        webhookUrl(),
        TwilioWebhook.sign(
          webhookUrl(),
          params.map(([k, v]): [string, string] => [k, k === "To" ? "whatsapp:+15559990000" : v]),
          authToken
        )
      )
    ]
    for (const response of cases) {
      const body = (await response.json()) as ErrorReply
      expect([response.status, body.error.code, typeof body.message]).toEqual([403, "invalid_signature", "string"])
    }
    expect(await twilioDeliveries()).toBe(before)

    // Form bodies only on Twilio's route, and only form bodies there.
    const json = await h.call<ErrorReply>("POST", "/webhooks/twilio", { raw: "{}" })
    expect([json.status, json.body.error.details?.expected]).toEqual([415, "application/x-www-form-urlencoded"])
    const form = await h.call<ErrorReply>("POST", "/webhooks/whatsapp", {
      raw: "a=b",
      headers: { "content-type": "application/x-www-form-urlencoded" }
    })
    expect([form.status, form.body.error.details?.expected]).toEqual([415, "application/json"])
  }, 120_000)
})
