/**
 * The source of a small client a team would write against types generated from `/openapi.json` by
 * `openapi-typescript`, with `openapi-fetch`. The OpenAPI tests type-check it against freshly generated types, then
 * run it against a real server: it calls every operation once, in an order where each one can succeed.
 *
 * It is kept as text because it only compiles against the generated `./schema.js`, which exists only in the test's
 * temporary folder.
 */
export const clientSource = `
import type createClient from "openapi-fetch"
import type { components, paths } from "./schema.js"

export interface Context {
  readonly baseUrl: string
  readonly adminToken: string
  readonly verifyToken: string
  readonly phoneNumberId: string
  readonly wabaId: string
  readonly accessToken: string
  readonly customerWaId: string
  /** A Meta webhook body (already serialised) and its X-Hub-Signature-256 for the customer's first message. */
  readonly inbound: (displayPhoneNumber: string) => { readonly raw: string; readonly signature: string }
  /** A Twilio inbound message to the Twilio number (form-encoded) and its X-Twilio-Signature. */
  readonly twilioInbound: (twilioNumber: string) => { readonly raw: string; readonly signature: string }
  readonly record: (call: { readonly method: string; readonly path: string; readonly status: number }) => void
}

type ErrorBody = components["schemas"]["Error"]

const ok = <T>(what: string, result: { readonly data?: T; readonly error?: unknown; readonly response: Response }): T => {
  if (result.data === undefined) {
    throw new Error(what + " failed: " + result.response.status + " " + JSON.stringify(result.error))
  }
  return result.data
}

export const run = async (create: typeof createClient, ctx: Context): Promise<void> => {
  const recorder = {
    onResponse: ({ request, schemaPath, response }: { request: Request; schemaPath: string; response: Response }) => {
      ctx.record({ method: request.method, path: schemaPath, status: response.status })
    }
  }
  const anonymous = create<paths>({ baseUrl: ctx.baseUrl })
  anonymous.use(recorder)
  const admin = create<paths>({ baseUrl: ctx.baseUrl, headers: { authorization: "Bearer " + ctx.adminToken } })
  admin.use(recorder)

  ok("health", await anonymous.GET("/health"))
  ok("ready", await anonymous.GET("/ready"))

  // Admin: a tenant with a number, a user, a template and a key.
  const business = ok("createBusiness", await admin.POST("/v1/admin/businesses", { body: { name: "Generated Co" } }))
  const businessId: string = business.data.id
  const byBusiness = { params: { path: { businessId } } }
  const user = ok(
    "createUser",
    await admin.POST("/v1/admin/businesses/{businessId}/users", { ...byBusiness, body: { name: "Grace" } })
  )
  const number = ok(
    "createWhatsAppNumber",
    await admin.POST("/v1/admin/businesses/{businessId}/whatsapp-numbers", {
      ...byBusiness,
      body: {
        phoneNumberId: ctx.phoneNumberId,
        displayPhoneNumber: "15550002222",
        wabaId: ctx.wabaId,
        accessToken: ctx.accessToken
      }
    })
  )
  ok(
    "createTemplate",
    await admin.POST("/v1/admin/businesses/{businessId}/templates", {
      ...byBusiness,
      body: {
        key: "order_shipped",
        name: "order_shipped",
        language: "en",
        category: "UTILITY",
        status: "APPROVED",
        parameterFormat: "NAMED",
        components: [{ type: "BODY", text: "Order {{order_id}} arrives {{eta}}" }]
      }
    })
  )
  ok(
    "replaceAccessToken",
    await admin.PUT("/v1/admin/businesses/{businessId}/whatsapp-numbers/{whatsappNumberId}/access-token", {
      params: { path: { businessId, whatsappNumberId: number.data.id } },
      body: { accessToken: ctx.accessToken }
    })
  )
  const throttled = ok(
    "updateWhatsAppNumber",
    await admin.PATCH("/v1/admin/businesses/{businessId}/whatsapp-numbers/{whatsappNumberId}", {
      params: { path: { businessId, whatsappNumberId: number.data.id } },
      body: { messagesPerSecond: 1000 }
    })
  )
  if (throttled.data.messagesPerSecond !== 1000) throw new Error("the number's throughput was not set")
  ok("resealAccessTokens", await admin.POST("/v1/admin/secret-key/reseal"))
  ok(
    "syncTemplates",
    await admin.POST("/v1/admin/businesses/{businessId}/templates/sync", {
      ...byBusiness,
      body: { whatsappNumberId: number.data.id }
    })
  )
  const created = ok(
    "createApiKey",
    await admin.POST("/v1/admin/businesses/{businessId}/api-keys", {
      ...byBusiness,
      body: {
        name: "generated client",
        userId: user.data.id,
        scopes: [
          "messaging:conversations:read",
          "messaging:conversations:write",
          "messaging:messages:read",
          "messaging:messages:send",
          "messaging:webhooks:read",
          "messaging:webhooks:write",
          "messaging:events:read"
        ]
      }
    })
  )

  // Lists.
  const businesses = ok("listBusinesses", await admin.GET("/v1/admin/businesses", { params: { query: { limit: 200 } } }))
  if (!businesses.data.some((b) => b.id === businessId)) throw new Error("the new business is not listed")
  ok("listUsers", await admin.GET("/v1/admin/businesses/{businessId}/users", byBusiness))
  ok("listWhatsAppNumbers", await admin.GET("/v1/admin/businesses/{businessId}/whatsapp-numbers", byBusiness))
  const keys = ok("listApiKeys", await admin.GET("/v1/admin/businesses/{businessId}/api-keys", byBusiness))
  const listedKey: string | undefined = keys.data[0]?.prefix
  if (listedKey === undefined || !created.data.key.startsWith(listedKey)) throw new Error("the key is not listed")
  ok("listTemplates", await admin.GET("/v1/admin/businesses/{businessId}/templates", byBusiness))
  ok("listWebhookDeadLetters", await admin.GET("/v1/admin/webhook-dead-letters", { params: { query: { limit: 10 } } }))
  // No item has failed here, so a replay can only be of an unknown id: the documented 404.
  const replay = await admin.POST("/v1/admin/webhook-dead-letters/{id}/replay", {
    params: { path: { id: "0190a4b2-7c1d-7e3f-8a5b-6c7d8e9f0a1b" } }
  })
  if (replay.response.status !== 404 || replay.error?.error.code === undefined) {
    throw new Error("replayWebhookDeadLetter answered " + replay.response.status)
  }

  // Webhooks: Meta's handshake, then a customer's message.
  const challenge = await anonymous.GET("/webhooks/whatsapp", {
    params: { query: { "hub.mode": "subscribe", "hub.verify_token": ctx.verifyToken, "hub.challenge": "8421" } },
    parseAs: "text"
  })
  if (challenge.data !== "8421") throw new Error("verifyWebhook echoed " + String(challenge.data))
  const delivery = ctx.inbound("15550002222")
  const received = ok(
    "receiveWebhook",
    await anonymous.POST("/webhooks/whatsapp", {
      params: { header: { "x-hub-signature-256": delivery.signature } },
      body: { object: "whatsapp_business_account", entry: [] },
      bodySerializer: () => delivery.raw
    })
  )
  if (received.data.delivery !== "stored") throw new Error("the delivery was not stored")

  // Messaging, as the key.
  const messaging = create<paths>({ baseUrl: ctx.baseUrl, headers: { authorization: "Bearer " + created.data.key } })
  messaging.use(recorder)
  let conversationId: string | undefined
  for (let attempt = 0; attempt < 100 && conversationId === undefined; attempt++) {
    const page = ok(
      "listConversations",
      await messaging.GET("/v1/messaging/conversations", { params: { query: { limit: 10, status: "open" } } })
    )
    conversationId = page.data[0]?.id
    if (conversationId === undefined) await new Promise((resolve) => setTimeout(resolve, 100))
  }
  if (conversationId === undefined) throw new Error("the customer's conversation did not appear")
  const byId = { params: { path: { id: conversationId } } }
  const detail = ok(
    "getConversation",
    await messaging.GET("/v1/messaging/conversations/{id}", {
      params: { path: { id: conversationId }, query: { messagesLimit: 5 } }
    })
  )
  if (detail.data.windowClosesAt === null) throw new Error("the service window should be open")
  const text = ok(
    "sendText",
    await messaging.POST("/v1/messaging/conversations/{id}/messages", {
      params: { path: { id: conversationId }, header: { "idempotency-key": "generated-client-1" } },
      body: { text: "Your order has shipped." }
    })
  )
  if (text.data.direction !== "outbound") throw new Error("sendText did not answer the outbound message")

  // Media: upload a file (multipart), send it by its id, download it back through the message.
  const pdf = new Blob(["%PDF-1.4 generated client"], { type: "application/pdf" })
  const uploaded = ok(
    "uploadMedia",
    await messaging.POST("/v1/messaging/media", {
      body: { whatsappNumberId: number.data.id, file: "" },
      bodySerializer: () => {
        const form = new FormData()
        form.append("whatsappNumberId", number.data.id)
        form.append("file", pdf, "invoice.pdf")
        return form
      }
    })
  )
  const document = ok(
    "sendMedia",
    await messaging.POST("/v1/messaging/conversations/{id}/messages", {
      params: { path: { id: conversationId } },
      body: { type: "document", mediaId: uploaded.data.mediaId, filename: "invoice.pdf", caption: "Your invoice" }
    })
  )
  const file = ok(
    "getMessageMedia",
    await messaging.GET("/v1/messaging/messages/{id}/media", {
      params: { path: { id: document.data.id } },
      parseAs: "text"
    })
  )
  if (file !== "%PDF-1.4 generated client") throw new Error("getMessageMedia answered other bytes")
  ok(
    "sendTemplate",
    await messaging.POST("/v1/messaging/messages/template", {
      body: {
        business_whatsapp_number_id: number.data.id,
        phone: "+" + ctx.customerWaId,
        template_key: "order_shipped",
        variables: { order_id: "A-1042", eta: "tomorrow" }
      }
    })
  )
  const updated = ok(
    "updateConversation",
    await messaging.PATCH("/v1/messaging/conversations/{id}", { ...byId, body: { assignedUserId: user.data.id } })
  )
  if (updated.data.assignedUserId !== user.data.id) throw new Error("the assignment did not stick")
  ok("markRead", await messaging.POST("/v1/messaging/conversations/{id}/read", byId))

  // Outbound webhook endpoints: a business's own (with the key), then any business's (admin). A public IP literal
  // passes the SSRF guard without a DNS lookup; nothing is delivered (no events here).
  const endpoint = ok(
    "createWebhookEndpoint",
    await messaging.POST("/v1/messaging/webhook-endpoints", {
      body: { url: "https://8.8.8.8/hooks", eventTypes: ["message.received"] }
    })
  )
  if (!endpoint.data.secret.startsWith("whsec_")) throw new Error("no secret at creation")
  const one = { params: { path: { endpointId: endpoint.data.id } } }
  ok("listWebhookEndpoints", await messaging.GET("/v1/messaging/webhook-endpoints"))
  ok("getWebhookEndpoint", await messaging.GET("/v1/messaging/webhook-endpoints/{endpointId}", one))
  const paused = ok(
    "updateWebhookEndpoint",
    await messaging.PATCH("/v1/messaging/webhook-endpoints/{endpointId}", { ...one, body: { enabled: false } })
  )
  if (paused.data.disabledReason !== "manual") throw new Error("the endpoint was not paused")
  ok(
    "rotateWebhookSecret",
    await messaging.POST("/v1/messaging/webhook-endpoints/{endpointId}/rotate-secret", { ...one, body: { overlapSeconds: 3600 } })
  )
  ok(
    "listWebhookDeliveries",
    await messaging.GET("/v1/messaging/webhook-endpoints/{endpointId}/deliveries", {
      params: { path: { endpointId: endpoint.data.id }, query: { limit: 10 } }
    })
  )
  ok(
    "replayWebhookEvents",
    await messaging.POST("/v1/messaging/webhook-endpoints/{endpointId}/replay", {
      ...one,
      body: { since: "2026-01-01T00:00:00Z", until: "2026-01-02T00:00:00Z" }
    })
  )
  // The paused endpoint keeps what is queued for it: replaying every event so far (the customer's message) queues a
  // delivery whose attempt log can be read (empty: a paused endpoint is not sent to).
  ok(
    "replayWebhookEvents",
    await messaging.POST("/v1/messaging/webhook-endpoints/{endpointId}/replay", {
      ...one,
      body: { since: "2000-01-01T00:00:00Z", until: "2100-01-01T00:00:00Z" }
    })
  )
  const queued = ok(
    "listWebhookDeliveries",
    await messaging.GET("/v1/messaging/webhook-endpoints/{endpointId}/deliveries", {
      params: { path: { endpointId: endpoint.data.id }, query: { limit: 10 } }
    })
  )
  const deliveryId = queued.data[0]?.id
  if (deliveryId === undefined) throw new Error("the replay queued no delivery")
  ok(
    "listWebhookDeliveryAttempts",
    await messaging.GET("/v1/messaging/webhook-endpoints/{endpointId}/deliveries/{deliveryId}/attempts", {
      params: { path: { endpointId: endpoint.data.id, deliveryId }, query: { limit: 10 } }
    })
  )
  const deleted = await messaging.DELETE("/v1/messaging/webhook-endpoints/{endpointId}", one)
  if (deleted.response.status !== 204) throw new Error("deleteWebhookEndpoint answered " + deleted.response.status)
  const endpointByAdmin = ok(
    "createWebhookEndpoint",
    await admin.POST("/v1/admin/businesses/{businessId}/webhook-endpoints", {
      params: { path: { businessId } },
      body: { url: "https://8.8.8.8/hooks", eventTypes: ["message.received"] }
    })
  )
  if (!endpointByAdmin.data.secret.startsWith("whsec_")) throw new Error("no secret at creation")
  const oneByAdmin = { params: { path: { businessId, endpointId: endpointByAdmin.data.id } } }
  ok("listWebhookEndpoints", await admin.GET("/v1/admin/businesses/{businessId}/webhook-endpoints", { params: { path: { businessId } } }))
  ok("getWebhookEndpoint", await admin.GET("/v1/admin/businesses/{businessId}/webhook-endpoints/{endpointId}", oneByAdmin))
  const pausedByAdmin = ok(
    "updateWebhookEndpoint",
    await admin.PATCH("/v1/admin/businesses/{businessId}/webhook-endpoints/{endpointId}", { ...oneByAdmin, body: { enabled: false } })
  )
  if (pausedByAdmin.data.disabledReason !== "manual") throw new Error("the endpoint was not paused")
  ok(
    "rotateWebhookSecret",
    await admin.POST("/v1/admin/businesses/{businessId}/webhook-endpoints/{endpointId}/rotate-secret", { ...oneByAdmin, body: { overlapSeconds: 3600 } })
  )
  ok(
    "listWebhookDeliveries",
    await admin.GET("/v1/admin/businesses/{businessId}/webhook-endpoints/{endpointId}/deliveries", {
      params: { path: { businessId, endpointId: endpointByAdmin.data.id }, query: { limit: 10 } }
    })
  )
  ok(
    "replayWebhookEvents",
    await admin.POST("/v1/admin/businesses/{businessId}/webhook-endpoints/{endpointId}/replay", {
      ...oneByAdmin,
      body: { since: "2026-01-01T00:00:00Z", until: "2026-01-02T00:00:00Z" }
    })
  )
  ok(
    "replayWebhookEvents",
    await admin.POST("/v1/admin/businesses/{businessId}/webhook-endpoints/{endpointId}/replay", {
      ...oneByAdmin,
      body: { since: "2000-01-01T00:00:00Z", until: "2100-01-01T00:00:00Z" }
    })
  )
  const queuedByAdmin = ok(
    "listWebhookDeliveries",
    await admin.GET("/v1/admin/businesses/{businessId}/webhook-endpoints/{endpointId}/deliveries", {
      params: { path: { businessId, endpointId: endpointByAdmin.data.id }, query: { limit: 10 } }
    })
  )
  const deliveryIdByAdmin = queuedByAdmin.data[0]?.id
  if (deliveryIdByAdmin === undefined) throw new Error("the replay queued no delivery")
  ok(
    "listWebhookDeliveryAttempts",
    await admin.GET("/v1/admin/businesses/{businessId}/webhook-endpoints/{endpointId}/deliveries/{deliveryId}/attempts", {
      params: { path: { businessId, endpointId: endpointByAdmin.data.id, deliveryId: deliveryIdByAdmin }, query: { limit: 10 } }
    })
  )
  const deletedByAdmin = await admin.DELETE("/v1/admin/businesses/{businessId}/webhook-endpoints/{endpointId}", oneByAdmin)
  if (deletedByAdmin.response.status !== 204) throw new Error("deleteWebhookEndpoint answered " + deletedByAdmin.response.status)
  // Events: the feed (typed payloads), then the live stream, closed once it answers.
  const feed = ok(
    "listEvents",
    await messaging.GET("/v1/messaging/events", { params: { query: { limit: 100, types: "message.sent" } } })
  )
  const firstSent = feed.data.find((event) => event.type === "message.sent")
  if (firstSent === undefined || firstSent.data.message.direction !== "outbound") {
    throw new Error("the feed lacks the message.sent event")
  }
  const stream = await messaging.GET("/v1/messaging/events/stream", {
    params: { query: feed.page.nextCursor === null ? {} : { after: feed.page.nextCursor } },
    parseAs: "stream"
  })
  if (stream.response.headers.get("content-type")?.startsWith("text/event-stream") !== true) {
    throw new Error("the stream is not text/event-stream")
  }
  await stream.response.body?.cancel()

  // An error answer has the one documented shape.
  const missing = await messaging.GET("/v1/messaging/conversations/{id}", {
    params: { path: { id: "0190a4b2-7c1d-7e3f-8a5b-6c7d8e9f0a1b" } }
  })
  const error: ErrorBody | undefined = missing.error
  if (error?.error.code !== "conversation_not_found") throw new Error("unexpected error " + JSON.stringify(error))

  // Last, since it ends the key.
  const revoked = await admin.DELETE("/v1/admin/businesses/{businessId}/api-keys/{apiKeyId}", {
    params: { path: { businessId, apiKeyId: created.data.id } }
  })
  if (revoked.response.status !== 204) throw new Error("revokeApiKey answered " + revoked.response.status)

  // Last (its conversation would be the newest above): a number on Twilio, then a customer's message to it (form-encoded, signed over the public URL).
  ok(
    "createWhatsAppNumber (Twilio)",
    await admin.POST("/v1/admin/businesses/{businessId}/whatsapp-numbers", {
      ...byBusiness,
      body: {
        provider: "twilio",
        phoneNumberId: "+15550009876",
        displayPhoneNumber: "15550009876",
        accountSid: "AC0123456789abcdef0123456789abcdef",
        accessToken: "twilio-auth-token"
      }
    })
  )
  const twilioDelivery = ctx.twilioInbound("+15550009876")
  const twiml = ok(
    "receiveTwilioWebhook",
    await anonymous.POST("/webhooks/twilio", {
      params: { header: { "x-twilio-signature": twilioDelivery.signature } },
      body: {},
      bodySerializer: () => twilioDelivery.raw,
      headers: { "content-type": "application/x-www-form-urlencoded" },
      parseAs: "text"
    })
  )
  if (!twiml.includes("<Response/>")) throw new Error("Twilio got no TwiML answer: " + twiml)
}
`

/** A client that misuses the API: the generated types must reject every line marked below. */
export const wrongClientSource = `
import type createClient from "openapi-fetch"
import type { paths } from "./schema.js"

export const wrong = async (create: typeof createClient) => {
  const client = create<paths>({ baseUrl: "http://127.0.0.1:1" })
  // WRONG: no such field
  await client.POST("/v1/messaging/conversations/{id}/messages", { params: { path: { id: "x" } }, body: { txt: "hi" } })
  // WRONG: no such path
  await client.GET("/v1/messaging/conversation")
  // WRONG: status is an enum
  await client.PATCH("/v1/messaging/conversations/{id}", { params: { path: { id: "x" } }, body: { status: "done" } })
}
`
