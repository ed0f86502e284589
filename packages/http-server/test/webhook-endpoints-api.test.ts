/**
 * The webhook endpoint API through a real server on PGlite and PostgreSQL: a business manages its own endpoints
 * with its API key (scopes `messaging:webhooks:read` / `:write`), the operator any business's through the admin
 * API; the secret is shown once; another business's endpoint is 404 everywhere; a private URL is refused unless the
 * operator allows it. End to end: an event recorded in `events` reaches a local receiver through the server's own
 * delivery worker, verified by the `standardwebhooks` package, and shows in the delivery log; replay and rotation
 * through the API.
 */
import { randomUUID } from "node:crypto"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createTenant, type Envelope, engines, type Harness, start, type Tenant } from "./support/Harness.js"
import { type Receiver, startReceiver } from "./support/WebhookReceiver.js"

interface EndpointJson {
  readonly id: string
  readonly url: string
  readonly enabled: boolean
  readonly eventTypes: ReadonlyArray<string>
  readonly secret?: string
  readonly previousSecretExpiresAt: string | null
}
interface AttemptJson {
  readonly attempt: number
  readonly startedAt: string
  readonly statusCode: number | null
  readonly latencyMs: number
  readonly error: string | null
  readonly responseExcerpt: string | null
}
interface DeliveryJson {
  readonly id: string
  readonly eventId: string
  readonly status: string
  readonly attempts: number
  readonly lastStatusCode: number | null
}

const waitFor = async (check: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000) => {
  const until = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

for (const engine of await engines()) {
  describe(`webhook endpoint API on ${engine.name}`, () => {
    let h: Harness
    let a: Tenant
    let b: Tenant
    let r: Receiver
    beforeAll(async () => {
      h = await start(engine, {
        outboundWebhooks: { allowPrivateTargets: true, allowHttp: true, worker: { pollInterval: "50 millis" } }
      })
      a = await createTenant(h, "Alpha", "200000000000002", "token-a")
      b = await createTenant(h, "Beta", "200000000000003", "token-a")
      r = await startReceiver()
    }, 60_000)
    afterAll(async () => {
      await r?.close()
      await h?.close()
    })

    const recordEvent = async (businessId: string, type = "message.received") => {
      const id = randomUUID()
      await Effect.runPromise(h.sql`
        INSERT INTO events (id, business_id, type, occurred_at, data)
        VALUES (${id}, ${businessId}, ${type}, now(), ${JSON.stringify({ id: "m1", text: "hello" })}::jsonb)`)
      return id
    }
    const mine = (eventId: string) => r.received.filter((x) => x.headers["webhook-id"] === eventId)

    it("a business registers an endpoint with its key, sees the secret once, and receives signed events", async () => {
      const created = await h.call<Envelope<EndpointJson>>("POST", "/v1/messaging/webhook-endpoints", {
        key: a.key,
        body: { url: r.url, eventTypes: ["message.received"] }
      })
      expect(created.status).toBe(201)
      const secret = created.body.data.secret ?? ""
      expect(secret).toMatch(/^whsec_/)
      r.secrets = [secret]
      const listed = await h.call<Envelope<ReadonlyArray<EndpointJson>>>("GET", "/v1/messaging/webhook-endpoints", {
        key: a.key
      })
      expect(listed.body.data.map((e) => e.id)).toEqual([created.body.data.id])
      expect(listed.text).not.toContain(secret.slice(6))

      const eventId = await recordEvent(a.businessId)
      await recordEvent(a.businessId, "conversation.created")
      await waitFor(() => mine(eventId).length === 1, "the delivery")
      expect(mine(eventId)[0]?.verifiedBy).toEqual([0])
      expect(JSON.parse(mine(eventId)[0]?.body ?? "{}")).toMatchObject({
        id: eventId,
        type: "message.received",
        businessId: a.businessId,
        data: { id: "m1", text: "hello" }
      })
      const path = `/v1/messaging/webhook-endpoints/${created.body.data.id}/deliveries`
      await waitFor(async () => {
        const log = await h.call<Envelope<ReadonlyArray<DeliveryJson>>>("GET", path, { key: a.key })
        return log.body.data[0]?.status === "succeeded"
      }, "the delivery log")
      const log = await h.call<Envelope<ReadonlyArray<DeliveryJson>>>("GET", path, { key: a.key })
      expect(log.body.data).toHaveLength(1)
      expect(log.body.data[0]).toMatchObject({ eventId, status: "succeeded", attempts: 1, lastStatusCode: 200 })

      const replayed = await h.call<Envelope<{ queued: number }>>(
        "POST",
        `/v1/messaging/webhook-endpoints/${created.body.data.id}/replay`,
        { key: a.key, body: { eventId } }
      )
      expect([replayed.status, replayed.body.data.queued]).toEqual([202, 1])
      await waitFor(() => mine(eventId).length === 2, "the replay")

      const rotated = await h.call<Envelope<EndpointJson>>(
        "POST",
        `/v1/messaging/webhook-endpoints/${created.body.data.id}/rotate-secret`,
        { key: a.key, body: {} }
      )
      expect(rotated.status).toBe(200)
      expect(rotated.body.data.previousSecretExpiresAt).not.toBeNull()
      r.secrets = [secret, rotated.body.data.secret ?? ""]
      const after = await recordEvent(a.businessId)
      await waitFor(() => mine(after).length === 1, "the delivery after rotation")
      expect(mine(after)[0]?.verifiedBy).toEqual([0, 1])
    }, 90_000)

    it("scopes: read lists, write is needed to create; another business's endpoint is 404 everywhere", async () => {
      const readOnly = await a.keyFor(["messaging:webhooks:read"])
      expect((await h.call("GET", "/v1/messaging/webhook-endpoints", { key: readOnly })).status).toBe(200)
      const refused = await h.call("POST", "/v1/messaging/webhook-endpoints", {
        key: readOnly,
        body: { url: r.url }
      })
      expect([refused.status, refused.body.error.code]).toEqual([403, "missing_scope"])

      const theirs = await h.call<Envelope<EndpointJson>>("POST", "/v1/messaging/webhook-endpoints", {
        key: b.key,
        body: { url: r.url }
      })
      const id = theirs.body.data.id
      for (const [method, path, body] of [
        ["GET", `/v1/messaging/webhook-endpoints/${id}`, undefined],
        ["PATCH", `/v1/messaging/webhook-endpoints/${id}`, { enabled: false }],
        ["GET", `/v1/messaging/webhook-endpoints/${id}/deliveries`, undefined],
        ["GET", `/v1/messaging/webhook-endpoints/${id}/deliveries/${randomUUID()}/attempts`, undefined],
        ["POST", `/v1/messaging/webhook-endpoints/${id}/rotate-secret`, {}],
        ["POST", `/v1/messaging/webhook-endpoints/${id}/replay`, { eventId: randomUUID() }],
        ["DELETE", `/v1/messaging/webhook-endpoints/${id}`, undefined]
      ] as const) {
        const reply = await h.call(method, path, { key: a.key, ...(body === undefined ? {} : { body }) })
        expect([method, path, reply.status, reply.body.error.code]).toEqual([
          method,
          path,
          404,
          "webhook_endpoint_not_found"
        ])
      }
      const still = await h.call<Envelope<EndpointJson>>("GET", `/v1/messaging/webhook-endpoints/${id}`, {
        key: b.key
      })
      expect(still.body.data.enabled).toBe(true)
      expect(
        (
          await h.call<Envelope<ReadonlyArray<EndpointJson>>>("GET", "/v1/messaging/webhook-endpoints", { key: a.key })
        ).body.data.map((e) => e.id)
      ).not.toContain(id)
    }, 60_000)

    it("every attempt of a delivery is logged: status, latency, response excerpt, newest first, paged", async () => {
      const receiver = await startReceiver()
      try {
        receiver.replies.push({ _tag: "Status", status: 500 })
        const created = await h.call<Envelope<EndpointJson>>("POST", "/v1/messaging/webhook-endpoints", {
          key: a.key,
          body: { url: receiver.url, eventTypes: ["conversation.updated"] }
        })
        const base = `/v1/messaging/webhook-endpoints/${created.body.data.id}`
        const eventId = await recordEvent(a.businessId, "conversation.updated")
        const delivery = async () =>
          (await h.call<Envelope<ReadonlyArray<DeliveryJson>>>("GET", `${base}/deliveries`, { key: a.key })).body
            .data[0]
        await waitFor(async () => (await delivery())?.lastStatusCode === 500, "the failed first attempt")
        // A replay makes the second attempt now instead of after the first retry's wait.
        await h.call("POST", `${base}/replay`, { key: a.key, body: { eventId } })
        await waitFor(async () => (await delivery())?.status === "succeeded", "the second attempt")
        const deliveryId = (await delivery())?.id ?? ""

        const attempts = `${base}/deliveries/${deliveryId}/attempts`
        const log = await h.call<Envelope<ReadonlyArray<AttemptJson>>>("GET", attempts, { key: a.key })
        expect(log.status).toBe(200)
        expect(log.body.data.map((x) => [x.attempt, x.statusCode, x.responseExcerpt])).toEqual([
          [2, 200, "reply 200"],
          [1, 500, "reply 500"]
        ])
        for (const attempt of log.body.data) {
          expect(attempt.latencyMs).toBeGreaterThanOrEqual(0)
          expect(Number.isNaN(Date.parse(attempt.startedAt))).toBe(false)
        }
        expect(Date.parse(log.body.data[0]?.startedAt ?? "")).toBeGreaterThanOrEqual(
          Date.parse(log.body.data[1]?.startedAt ?? "")
        )

        const first = await h.call<Envelope<ReadonlyArray<AttemptJson>> & { page: { nextCursor: string | null } }>(
          "GET",
          `${attempts}?limit=1`,
          { key: a.key }
        )
        expect(first.body.data.map((x) => x.attempt)).toEqual([2])
        const cursor = first.body.page.nextCursor ?? ""
        const second = await h.call<Envelope<ReadonlyArray<AttemptJson>> & { page: { nextCursor: string | null } }>(
          "GET",
          `${attempts}?limit=1&cursor=${encodeURIComponent(cursor)}`,
          { key: a.key }
        )
        expect([second.body.data.map((x) => x.attempt), second.body.page.nextCursor]).toEqual([[1], null])

        const admin = await h.admin<Envelope<ReadonlyArray<AttemptJson>>>(
          "GET",
          `/businesses/${a.businessId}/webhook-endpoints/${created.body.data.id}/deliveries/${deliveryId}/attempts`
        )
        expect(admin.body.data).toEqual(log.body.data)
        // Unknown deliveries, malformed ids and another business's endpoint are 404s with their own codes.
        for (const [path, key, code] of [
          [`${base}/deliveries/${randomUUID()}/attempts`, a.key, "webhook_delivery_not_found"],
          [`${base}/deliveries/not-a-uuid/attempts`, a.key, "webhook_delivery_not_found"],
          [attempts, b.key, "webhook_endpoint_not_found"]
        ] as const) {
          const reply = await h.call("GET", path, { key })
          expect([path, reply.status, reply.body.error.code]).toEqual([path, 404, code])
        }
      } finally {
        await receiver.close()
      }
    }, 90_000)

    it("the operator manages any business's endpoints through the admin API", async () => {
      const created = await h.admin<Envelope<EndpointJson>>("POST", `/businesses/${b.businessId}/webhook-endpoints`, {
        url: r.url,
        description: "ops"
      })
      expect(created.status).toBe(201)
      const base = `/businesses/${b.businessId}/webhook-endpoints/${created.body.data.id}`
      const paused = await h.admin<Envelope<EndpointJson>>("PATCH", base, { enabled: false })
      expect(paused.body.data).toMatchObject({ enabled: false, disabledReason: "manual" })
      const resumed = await h.admin<Envelope<EndpointJson>>("PATCH", base, { enabled: true })
      expect(resumed.body.data).toMatchObject({ enabled: true, disabledReason: null })
      expect(
        (await h.admin("GET", `/businesses/${a.businessId}/webhook-endpoints/${created.body.data.id}`)).status
      ).toBe(404)
      expect((await h.admin("DELETE", base)).status).toBe(204)
      expect((await h.admin("GET", base)).status).toBe(404)
      const bad = await h.admin("POST", `/businesses/${b.businessId}/webhook-endpoints`, { url: "ftp://example.com" })
      expect([bad.status, bad.body.error.code]).toEqual([422, "webhook_url_refused"])
    }, 60_000)
  })
}

describe("webhook endpoint registration without the operator's consent to private targets", () => {
  let h: Harness
  let a: Tenant
  beforeAll(async () => {
    const [pglite] = await engines()
    if (pglite === undefined) throw new Error("no engine")
    h = await start(pglite)
    a = await createTenant(h, "Alpha", "200000000000002", "token-a")
  }, 60_000)
  afterAll(async () => {
    await h?.close()
  })

  it("refuses loopback, private and metadata addresses, and plain http", async () => {
    for (const url of [
      "https://127.0.0.1/hooks",
      "https://10.0.0.5/hooks",
      "https://169.254.169.254/latest",
      "https://[::1]/hooks",
      "https://localhost/hooks",
      "http://8.8.8.8/hooks"
    ]) {
      const reply = await h.call("POST", "/v1/messaging/webhook-endpoints", { key: a.key, body: { url } })
      expect([url, reply.status, reply.body.error.code]).toEqual([url, 422, "webhook_url_refused"])
    }
  }, 60_000)
})
