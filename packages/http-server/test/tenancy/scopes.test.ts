/**
 * The scope matrix: every messaging endpoint × every scope set a key can have (the 15 non-empty subsets of the four
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
  type ErrorReply,
  engines,
  type Harness,
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
  readonly phone: string
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
  }
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
  const keys = new Map<ReadonlyArray<Scope>, string>()
  let requests = 0

  beforeAll(async () => {
    h = await start(engine)
    a = await createTenant(h, "Business A", "200000000000002", "token-a")
    b = await createTenant(h, "Business B", "200000000000003", "token-b")
    const written = await customerWrites(h, a)
    own = { conversationId: written.conversation.id, phone: written.phone }
    foreignConversationId = (await customerWrites(h, b)).conversation.id
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
          phone: own.phone,
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
            own: [own.conversationId, a.numberId],
            foreign: [foreignConversationId, b.numberId],
            missing: [randomUUID(), randomUUID()],
            malformed: ["not-a-uuid", "%00'"]
          } as const
          const reply = await endpoint.call(h, {
            key: keys.get(c.subset)!,
            conversationId: ids[c.conversation][0],
            numberId: ids[c.number][1],
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
