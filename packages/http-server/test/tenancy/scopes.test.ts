/**
 * The scope matrix: every messaging endpoint × every scope set a key can have (every non-empty subset of the
 * scopes; a key without scopes cannot be created) answers 403 `missing_scope` exactly when the endpoint's scope is
 * missing, and otherwise succeeds. Then, seeded and bounded, random keys × endpoints × hostile variants (another
 * business's id, a missing id, a malformed id, a wrong or malformed body): 403 exactly when the scope is missing,
 * whatever else is wrong, since the scope is checked before the request is read. Real server, PGlite and PostgreSQL.
 */
import { randomUUID } from "node:crypto"
import { HttpApi } from "@effect/platform"
import { allScopes, type Scope } from "@parley/core"
import { Context, FastCheck, Option } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Api } from "../../src/Api.js"
import { RequiredScope } from "../../src/Security.js"
import {
  createTenant,
  customerWrites,
  type Envelope,
  type ErrorReply,
  engines,
  type Harness,
  nextPhone,
  type Reply,
  start,
  type Tenant
} from "../support/Harness.js"

const list = await engines()
const seed = Number(process.env.TENANCY_SEED ?? 20261127)
const numRuns = Number(process.env.TENANCY_RUNS ?? 4) * 50

interface Target {
  readonly key: string
  readonly conversationId: string
  readonly numberId: string
  readonly businessId: string
  /** An outbound webhook endpoint (one of the key's business, unless a variant says otherwise). */
  readonly webhookEndpointId: string
  /** A delivery of that endpoint (own, another business's, missing or malformed, like the endpoint). */
  readonly webhookDeliveryId: string
  readonly phone: string
  /** A message with a file (own, another business's, missing or malformed, like the conversation). */
  readonly messageId: string
  /** A body that fits the endpoint, or a deliberately wrong one. */
  readonly body: (typeof bodyKinds)[number]
}

interface EndpointCase {
  readonly scope: Scope
  readonly call: (h: Harness, t: Target) => Promise<Reply<ErrorReply>>
}

const bodyOf = (t: Target, valid: unknown) => {
  switch (t.body) {
    case "valid":
      return { body: valid }
    case "empty":
      return { body: {} }
    case "unknown-field":
      return { body: { ...(valid as object), leak: true } }
    case "malformed":
      return { raw: "{not json" }
  }
}

/** A media upload as a client sends it (multipart), with the body kinds' multipart counterparts. */
const upload = async (h: Harness, t: Target): Promise<Reply<ErrorReply>> => {
  const form = new FormData()
  if (t.body !== "empty") form.append("whatsappNumberId", t.numberId)
  if (t.body === "unknown-field") form.append("leak", "true")
  if (t.body !== "empty") form.append("file", new Blob([new Uint8Array(16)], { type: "image/png" }), "a.png")
  const init: RequestInit =
    t.body === "malformed"
      ? { body: "{not json", headers: { "content-type": "multipart/form-data; boundary=x" } }
      : { body: form }
  const response = await fetch(`${h.url}/v1/messaging/media`, {
    method: "POST",
    ...init,
    headers: { ...(init.headers as Record<string, string> | undefined), authorization: `Bearer ${t.key}` }
  })
  const text = await response.text()
  return { status: response.status, headers: response.headers, text, body: JSON.parse(text) as ErrorReply }
}

/** Each messaging endpoint, by its name in the API, with the scope it needs (as docs/api.md states). */
const endpoints: Readonly<Record<string, EndpointCase>> = {
  listConversations: {
    scope: "messaging:conversations:read",
    call: (h, t) => h.call("GET", "/v1/messaging/conversations", { key: t.key })
  },
  getConversation: {
    scope: "messaging:messages:read",
    call: (h, t) => h.call("GET", `/v1/messaging/conversations/${t.conversationId}`, { key: t.key })
  },
  sendText: {
    scope: "messaging:messages:send",
    call: (h, t) =>
      h.call("POST", `/v1/messaging/conversations/${t.conversationId}/messages`, {
        key: t.key,
        ...bodyOf(t, { text: "hello" })
      })
  },
  sendTemplate: {
    scope: "messaging:messages:send",
    call: (h, t) =>
      h.call("POST", "/v1/messaging/messages/template", {
        key: t.key,
        ...bodyOf(t, {
          business_whatsapp_number_id: t.numberId,
          phone: t.phone,
          template_key: "order_shipped",
          variables: { order_id: "42", eta: "today" }
        })
      })
  },
  updateConversation: {
    scope: "messaging:conversations:write",
    call: (h, t) =>
      h.call("PATCH", `/v1/messaging/conversations/${t.conversationId}`, {
        key: t.key,
        ...bodyOf(t, { status: "open" })
      })
  },
  markRead: {
    scope: "messaging:conversations:write",
    call: (h, t) => h.call("POST", `/v1/messaging/conversations/${t.conversationId}/read`, { key: t.key })
  },
  createWebhookEndpoint: {
    scope: "messaging:webhooks:write",
    call: (h, t) =>
      h.call("POST", "/v1/messaging/webhook-endpoints", {
        key: t.key,
        ...bodyOf(t, { url: "https://8.8.8.8/hooks", eventTypes: ["message.received"] })
      })
  },
  listWebhookEndpoints: {
    scope: "messaging:webhooks:read",
    call: (h, t) => h.call("GET", "/v1/messaging/webhook-endpoints", { key: t.key })
  },
  getWebhookEndpoint: {
    scope: "messaging:webhooks:read",
    call: (h, t) => h.call("GET", `/v1/messaging/webhook-endpoints/${t.webhookEndpointId}`, { key: t.key })
  },
  updateWebhookEndpoint: {
    scope: "messaging:webhooks:write",
    call: (h, t) =>
      h.call("PATCH", `/v1/messaging/webhook-endpoints/${t.webhookEndpointId}`, {
        key: t.key,
        ...bodyOf(t, { description: "updated" })
      })
  },
  deleteWebhookEndpoint: {
    scope: "messaging:webhooks:write",
    // A fresh endpoint each time (made by the operator), so the others stay.
    call: async (h, t) => {
      const fresh = await h.admin<{ data: { id: string } }>("POST", `/businesses/${t.businessId}/webhook-endpoints`, {
        url: "https://8.8.8.8/hooks"
      })
      return h.call("DELETE", `/v1/messaging/webhook-endpoints/${fresh.body.data.id}`, { key: t.key })
    }
  },
  rotateWebhookSecret: {
    scope: "messaging:webhooks:write",
    call: (h, t) =>
      h.call("POST", `/v1/messaging/webhook-endpoints/${t.webhookEndpointId}/rotate-secret`, {
        key: t.key,
        ...bodyOf(t, { overlapSeconds: 60 })
      })
  },
  listWebhookDeliveries: {
    scope: "messaging:webhooks:read",
    call: (h, t) => h.call("GET", `/v1/messaging/webhook-endpoints/${t.webhookEndpointId}/deliveries`, { key: t.key })
  },
  listWebhookDeliveryAttempts: {
    scope: "messaging:webhooks:read",
    call: (h, t) =>
      h.call(
        "GET",
        `/v1/messaging/webhook-endpoints/${t.webhookEndpointId}/deliveries/${t.webhookDeliveryId}/attempts`,
        { key: t.key }
      )
  },
  replayWebhookEvents: {
    scope: "messaging:webhooks:write",
    call: (h, t) =>
      h.call("POST", `/v1/messaging/webhook-endpoints/${t.webhookEndpointId}/replay`, {
        key: t.key,
        ...bodyOf(t, { eventId: "0190a4b2-7c1d-7e3f-8a5b-6c7d8e9f0a1b" })
      })
  },
  listEvents: {
    scope: "messaging:events:read",
    call: (h, t) => h.call("GET", "/v1/messaging/events", { key: t.key })
  },
  streamEvents: {
    scope: "messaging:events:read",
    // A granted stream never ends by itself: read its status, then hang up (a refusal is read whole).
    call: async (h, t) => {
      const controller = new AbortController()
      const response = await fetch(`${h.url}/v1/messaging/events/stream`, {
        headers: { authorization: `Bearer ${t.key}` },
        signal: controller.signal
      })
      if (response.status === 200) {
        controller.abort()
        return { status: 200, headers: response.headers, text: "", body: { message: "", error: { code: "" } } }
      }
      const text = await response.text()
      return { status: response.status, headers: response.headers, text, body: JSON.parse(text) }
    }
  },
  getMessageMedia: {
    scope: "messaging:messages:read",
    call: (h, t) => h.call("GET", `/v1/messaging/messages/${t.messageId}/media`, { key: t.key })
  },
  uploadMedia: { scope: "messaging:messages:send", call: upload }
}

/** A customer of `t` sends a photo; answers the message's id. */
const customerSendsPhoto = async (h: Harness, t: Tenant) => {
  const held = h.fake.media.put({ mimeType: "image/png", bytes: new Uint8Array(64) })
  const from = nextPhone()
  await h.webhook(h.fake.inboundMediaPayload({ from, kind: "image", media: held, phoneNumberId: t.phoneNumberId }))
  const found = await h.call<Envelope<ReadonlyArray<{ id: string }>>>(
    "GET",
    `/v1/messaging/conversations?search=${from}`,
    { key: t.key }
  )
  const detail = await h.call<Envelope<{ messages: ReadonlyArray<{ id: string }> }>>(
    "GET",
    `/v1/messaging/conversations/${found.body.data[0]?.id}`,
    { key: t.key }
  )
  const id = detail.body.data.messages[0]?.id
  if (id === undefined) throw new Error("the photo did not arrive")
  return id
}

const idKinds = ["own", "foreign", "missing", "malformed"] as const
const bodyKinds = ["valid", "empty", "unknown-field", "malformed"] as const

/** Every non-empty subset of the scopes. */
const subsets: ReadonlyArray<ReadonlyArray<Scope>> = Array.from({ length: 2 ** allScopes.length - 1 }, (_, i) =>
  allScopes.filter((_, bit) => ((i + 1) >> bit) & 1)
)

describe("the scope table", () => {
  it("lists exactly the API's endpoints that require a scope, with the scope each one requires", () => {
    const annotated: Record<string, Scope> = {}
    HttpApi.reflect(Api, {
      onGroup: () => {},
      onEndpoint: ({ endpoint }) => {
        const scope = Context.getOption(endpoint.annotations, RequiredScope)
        if (Option.isSome(scope)) annotated[endpoint.name] = scope.value
      }
    })
    expect(annotated).toEqual(Object.fromEntries(Object.entries(endpoints).map(([name, e]) => [name, e.scope])))
  })
})

describe.each(list)("scopes on $name", (engine) => {
  let h: Harness
  let a: Tenant
  let b: Tenant
  let own: { conversationId: string; phone: string }
  let foreignConversationId: string
  let ownMessageId: string
  let foreignMessageId: string
  let ownEndpointId: string
  let foreignEndpointId: string
  let ownDeliveryId: string
  let foreignDeliveryId: string
  const keys = new Map<ReadonlyArray<Scope>, string>()
  let requests = 0

  beforeAll(async () => {
    h = await start(engine)
    a = await createTenant(h, "Business A", "200000000000002", "token-a")
    b = await createTenant(h, "Business B", "200000000000003", "token-b")
    const written = await customerWrites(h, a)
    own = { conversationId: written.conversation.id, phone: written.phone }
    foreignConversationId = (await customerWrites(h, b)).conversation.id
    ownMessageId = await customerSendsPhoto(h, a)
    foreignMessageId = await customerSendsPhoto(h, b)
    const endpointOf = async (t: Tenant) =>
      (
        await h.admin<{ data: { id: string } }>("POST", `/businesses/${t.businessId}/webhook-endpoints`, {
          url: "https://8.8.8.8/hooks"
        })
      ).body.data.id
    ownEndpointId = await endpointOf(a)
    foreignEndpointId = await endpointOf(b)
    // A delivery of each endpoint, queued by replaying the business's events so far (the customers' messages).
    const deliveryOf = async (t: Tenant, endpointId: string) => {
      const path = `/businesses/${t.businessId}/webhook-endpoints/${endpointId}`
      await h.admin("POST", `${path}/replay`, { since: "2000-01-01T00:00:00Z", until: "2100-01-01T00:00:00Z" })
      const log = await h.admin<{ data: ReadonlyArray<{ id: string }> }>("GET", `${path}/deliveries`)
      const id = log.body.data[0]?.id
      if (id === undefined) throw new Error("the replay queued no delivery")
      return id
    }
    ownDeliveryId = await deliveryOf(a, ownEndpointId)
    foreignDeliveryId = await deliveryOf(b, foreignEndpointId)
    for (const subset of subsets) keys.set(subset, await a.keyFor(subset))
  }, 120_000)
  afterAll(async () => {
    console.info(`[tenancy] scopes on ${engine.name}: seed ${seed}, ${requests} requests`)
    await h?.close()
  })

  it("every endpoint × every scope set: 403 exactly when the endpoint's scope is missing, else success", async () => {
    for (const subset of subsets) {
      for (const [name, endpoint] of Object.entries(endpoints)) {
        const reply = await endpoint.call(h, {
          key: keys.get(subset)!,
          conversationId: own.conversationId,
          numberId: a.numberId,
          businessId: a.businessId,
          webhookEndpointId: ownEndpointId,
          webhookDeliveryId: ownDeliveryId,
          phone: own.phone,
          messageId: ownMessageId,
          body: "valid"
        })
        requests++
        const label = `${name} with [${subset.join(", ")}]: ${reply.status} ${reply.text}`
        if (subset.includes(endpoint.scope)) {
          expect(reply.status, label).toBeGreaterThanOrEqual(200)
          expect(reply.status, label).toBeLessThan(300)
        } else {
          expect(reply.status, label).toBe(403)
          expect(reply.body.error.code, label).toBe("missing_scope")
          expect(reply.body.error.details?.requiredScope, label).toBe(endpoint.scope)
        }
      }
    }
  }, 180_000)

  it("whatever else is wrong with a request, 403 exactly when its scope is missing", async () => {
    await FastCheck.assert(
      FastCheck.asyncProperty(
        FastCheck.record({
          subset: FastCheck.constantFrom(...subsets),
          endpoint: FastCheck.constantFrom(...Object.keys(endpoints)),
          conversation: FastCheck.constantFrom(...idKinds),
          number: FastCheck.constantFrom(...idKinds),
          body: FastCheck.constantFrom(...bodyKinds)
        }),
        async (c) => {
          const endpoint = endpoints[c.endpoint]!
          const ids = {
            own: [own.conversationId, a.numberId, ownMessageId],
            foreign: [foreignConversationId, b.numberId, foreignMessageId],
            missing: [randomUUID(), randomUUID(), randomUUID()],
            malformed: ["not-a-uuid", "%00'", "not-a-uuid"]
          } as const
          const endpointIds = {
            own: ownEndpointId,
            foreign: foreignEndpointId,
            missing: randomUUID(),
            malformed: "not-a-uuid"
          } as const
          const deliveryIds = {
            own: ownDeliveryId,
            foreign: foreignDeliveryId,
            missing: randomUUID(),
            malformed: "%00'"
          } as const
          const reply = await endpoint.call(h, {
            key: keys.get(c.subset)!,
            conversationId: ids[c.conversation][0],
            numberId: ids[c.number][1],
            messageId: ids[c.conversation][2],
            businessId: a.businessId,
            webhookEndpointId: endpointIds[c.conversation],
            webhookDeliveryId: deliveryIds[c.number],
            phone: own.phone,
            body: c.body
          })
          requests++
          const label = `${JSON.stringify(c)}: ${reply.status} ${reply.text}`
          if (c.subset.includes(endpoint.scope)) {
            expect(reply.status, label).not.toBe(403)
            expect(reply.status, label).toBeLessThan(500)
          } else {
            expect(reply.status, label).toBe(403)
            expect(reply.body.error.details?.requiredScope, label).toBe(endpoint.scope)
          }
        }
      ),
      { seed, numRuns, endOnFailure: true }
    )
  }, 180_000)
})
