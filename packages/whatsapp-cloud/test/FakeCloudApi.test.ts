/**
 * The fake Cloud API itself: signed webhooks that the real verifier and decoder accept, template paging, the
 * sandbox control API, and automatic status webhooks after a send.
 */

import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { CustomerIdentity, E164, MessageId } from "@parley/core"
import { Effect, Either, Option, Redacted } from "effect"
import * as CloudApiGateway from "../src/CloudApiGateway.js"
import { FakeCloudApiServer, metaJson, type Options } from "../src/testing/FakeCloudApi.js"
import * as Webhook from "../src/Webhook.js"
import { number, testOptions } from "./support/harness.js"

interface Received {
  readonly rawBody: Buffer
  readonly signature: string | undefined
}

/** A webhook receiver on loopback that keeps the raw bytes, as the HTTP service must. */
const receiver = Effect.acquireRelease(
  Effect.promise(
    () =>
      new Promise<{ readonly url: string; readonly received: Array<Received>; readonly server: Http.Server }>(
        (resolve) => {
          const received: Array<Received> = []
          const server = Http.createServer((req, res) => {
            const chunks: Array<Buffer> = []
            req.on("data", (c: Buffer) => chunks.push(c))
            req.on("end", () => {
              const header = req.headers["x-hub-signature-256"]
              received.push({ rawBody: Buffer.concat(chunks), signature: Array.isArray(header) ? header[0] : header })
              res.writeHead(200).end()
            })
          })
          server.listen(0, "127.0.0.1", () =>
            resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks`, received, server })
          )
        }
      )
  ),
  ({ server }) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
)

const fakeServer = (options: Options = {}) =>
  Effect.acquireRelease(
    Effect.promise(() => FakeCloudApiServer.start(options)),
    (fake) => Effect.promise(() => fake.close())
  )

const appSecret = "sandbox-app-secret"
const messageId = MessageId.make("0190f5a4-7c1e-7b2a-9d3e-1a2b3c4d5e6f")

describe("FakeCloudApi", () => {
  it.scopedLive("emits signed status webhooks that verify on raw bytes and decode to our message id", () =>
    Effect.gen(function* () {
      const fake = yield* fakeServer()
      const hook = yield* receiver
      const gateway = yield* CloudApiGateway.make({ ...testOptions, baseUrl: fake.url }).pipe(
        Effect.provide(NodeHttpClient.layer)
      )
      yield* gateway.sendText({
        from: number,
        to: CustomerIdentity.byPhone(E164.make("+15550001111")),
        messageId,
        text: "Café 📦 https://example.com/track"
      })
      const [send] = fake.sends
      assert.isDefined(send)
      if (send === undefined) return
      const target = { url: hook.url, appSecret }
      for (const status of ["sent", "delivered", "read"] as const) {
        const delivery = yield* Effect.promise(() => fake.emitStatusFor(target, send, status))
        assert.strictEqual(delivery.status, 200)
      }
      yield* Effect.promise(() =>
        fake.emitStatusFor(target, send, "failed", { code: 131026, title: "Message undeliverable" })
      )
      const statuses = hook.received.map(({ rawBody, signature }) => {
        assert.isTrue(Either.isRight(Webhook.verifySignature(rawBody, signature, Redacted.make(appSecret))))
        const batch = Either.getOrThrow(Webhook.decode(rawBody))
        return batch[0]?.statuses[0]
      })
      assert.deepStrictEqual(
        statuses.map((s) => [s?.providerMessageId, s?.status, Option.getOrNull(s?.messageId ?? Option.none())]),
        [
          [send.wamid, "sent", messageId],
          [send.wamid, "delivered", messageId],
          [send.wamid, "read", messageId],
          [send.wamid, "failed", messageId]
        ]
      )
      assert.deepStrictEqual(
        Option.map(statuses[3]?.failure ?? Option.none(), (f) => f.code),
        Option.some(131026)
      )
    })
  )

  it.scopedLive("escapes webhooks like Meta, so only the raw bytes verify", () =>
    Effect.gen(function* () {
      const fake = yield* fakeServer()
      const hook = yield* receiver
      yield* Effect.promise(() =>
        fake.emitInboundText({ url: hook.url, appSecret }, { from: "+15550001111", text: "Olá, ça va? 👋 a/b" })
      )
      const [received] = hook.received
      const raw = received?.rawBody.toString("utf8") ?? ""
      assert.include(raw, "Ol\\u00e1, \\u00e7a va? \\ud83d\\udc4b a\\/b")
      assert.strictEqual(raw, metaJson(JSON.parse(raw)))
      assert.isTrue(Either.isRight(Webhook.verifySignature(raw, received?.signature, Redacted.make(appSecret))))
      assert.isTrue(
        Either.isLeft(
          Webhook.verifySignature(JSON.stringify(JSON.parse(raw)), received?.signature, Redacted.make(appSecret))
        )
      )
      const message = Either.getOrThrow(Webhook.decode(raw))[0]?.inbound[0]
      assert.strictEqual(message?.text, "Olá, ça va? 👋 a/b")
    })
  )

  it.scopedLive("emits sent, delivered and read automatically after each accepted send when asked", () =>
    Effect.gen(function* () {
      const hook = yield* receiver
      const fake = yield* fakeServer({ autoStatuses: { url: hook.url, appSecret, delayMillis: 5 } })
      const response = yield* Effect.promise(() =>
        fetch(`${fake.url}/v24.0/200000000000002/messages`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            messaging_product: "whatsapp",
            to: "+15550001111",
            type: "text",
            text: { body: "hi" }
          })
        }).then((r) => r.json() as Promise<{ messages: ReadonlyArray<{ id: string }> }>)
      )
      const wamid = response.messages[0]?.id
      yield* Effect.promise(async () => {
        for (let i = 0; i < 200 && hook.received.length < 3; i++) await new Promise((r) => setTimeout(r, 10))
      })
      const statuses = hook.received.map((r) => Either.getOrThrow(Webhook.decode(r.rawBody))[0]?.statuses[0])
      assert.deepStrictEqual(
        statuses.map((s) => [s?.providerMessageId, s?.status]),
        [
          [wamid, "sent"],
          [wamid, "delivered"],
          [wamid, "read"]
        ]
      )
    })
  )

  it.scopedLive("serves message_templates with cursors and a next link until the last page", () =>
    Effect.gen(function* () {
      const templates = Array.from({ length: 5 }, (_, i) => ({ name: `t${i}`, language: "en_US" }))
      const fake = yield* fakeServer({ templates })
      const page = (query: string) =>
        Effect.promise(
          () =>
            fetch(`${fake.url}/v24.0/100000000000001/message_templates?${query}`).then((r) => r.json()) as Promise<{
              data: ReadonlyArray<{ name: string }>
              paging: { cursors: { after: string }; next?: string }
            }>
        )
      const first = yield* page("limit=2")
      const second = yield* page(`limit=2&after=${first.paging.cursors.after}`)
      const third = yield* page(`limit=2&after=${second.paging.cursors.after}`)
      assert.deepStrictEqual(
        [first, second, third].map((p) => p.data.map((t) => t.name)),
        [["t0", "t1"], ["t2", "t3"], ["t4"]]
      )
      assert.match(first.paging.next ?? "", /after=/)
      assert.isUndefined(third.paging.next)
    })
  )

  it.scopedLive("can be scripted over HTTP by sandbox users", () =>
    Effect.gen(function* () {
      const fake = yield* fakeServer()
      const post = (path: string, body: unknown) =>
        Effect.promise(() =>
          fetch(`${fake.url}${path}`, { method: "POST", body: JSON.stringify(body) }).then(async (r) => ({
            status: r.status,
            body: (await r.json()) as unknown
          }))
        )
      assert.strictEqual((yield* post("/_fake/faults", { fault: { kind: "graph-error", code: 131047 } })).status, 200)
      const refused = yield* post("/v24.0/200000000000002/messages", {
        messaging_product: "whatsapp",
        to: "+15550001111",
        type: "text",
        text: { body: "hi" }
      })
      assert.deepStrictEqual([refused.status, (refused.body as { error: { code: number } }).error.code], [400, 131047])
      const log = yield* Effect.promise(
        () => fetch(`${fake.url}/_fake/requests`).then((r) => r.json()) as Promise<{ requests: ReadonlyArray<unknown> }>
      )
      assert.strictEqual(log.requests.length, 1)
      assert.strictEqual((yield* post("/_fake/reset", {})).status, 200)
      assert.strictEqual(fake.requests.length, 0)
      const invalid = yield* post("/v24.0/200000000000002/messages", { to: "+1" })
      assert.strictEqual((invalid.body as { error: { code: number } }).error.code, 100)
    })
  )

  it.scopedLive("dates a customer's message with /_fake/inbound's timestamp: Unix seconds or ISO 8601", () =>
    Effect.gen(function* () {
      const fake = yield* fakeServer()
      const hook = yield* receiver
      const inbound = (timestamp: unknown) =>
        Effect.promise(() =>
          fetch(`${fake.url}/_fake/inbound`, {
            method: "POST",
            body: JSON.stringify({ url: hook.url, appSecret, from: "+15550001111", text: "hi", timestamp })
          }).then((r) => r.status)
        )
      const sentTimestamp = (i: number) => {
        const raw = hook.received[i]?.rawBody.toString("utf8") ?? ""
        return (JSON.parse(raw) as { entry: [{ changes: [{ value: { messages: [{ timestamp: string }] } }] }] })
          .entry[0].changes[0].value.messages[0].timestamp
      }
      const dayAgo = 1_764_000_000 - 25 * 3600
      assert.strictEqual(yield* inbound(dayAgo), 200)
      assert.strictEqual(yield* inbound(new Date(dayAgo * 1000).toISOString()), 200)
      assert.strictEqual(yield* inbound(`${dayAgo}`), 200)
      assert.deepStrictEqual(
        [sentTimestamp(0), sentTimestamp(1), sentTimestamp(2)],
        [`${dayAgo}`, `${dayAgo}`, `${dayAgo}`]
      )
      const decoded = Either.getOrThrow(Webhook.decode(hook.received[0]?.rawBody.toString("utf8") ?? ""))[0]
      assert.isDefined(decoded?.inbound[0])
      // Without a timestamp the message is dated now; a timestamp that is no date is refused, nothing emitted.
      const before = Math.floor(Date.now() / 1000)
      assert.strictEqual(yield* inbound(undefined), 200)
      assert.isAtLeast(Number(sentTimestamp(3)), before)
      for (const bad of ["yesterday", -1, Number.NaN, true, { seconds: 1 }]) {
        assert.strictEqual(yield* inbound(bad), 400, JSON.stringify(bad))
      }
      assert.strictEqual(hook.received.length, 4)
    })
  )

  it.scopedLive("refuses connections until told to accept them again", () =>
    Effect.gen(function* () {
      const fake = yield* fakeServer()
      yield* Effect.promise(() => fake.refuseConnections())
      const refused = yield* Effect.promise(() =>
        fetch(`${fake.url}/_fake/requests`).then(
          () => "connected",
          (e: unknown) => String((e as { cause?: { code?: string } }).cause?.code)
        )
      )
      assert.strictEqual(refused, "ECONNREFUSED")
      yield* Effect.promise(() => fake.acceptConnections())
      const status = yield* Effect.promise(() => fetch(`${fake.url}/_fake/requests`).then((r) => r.status))
      assert.strictEqual(status, 200)
    })
  )
})
