/**
 * docs/events.md's receiver example (examples/webhook-receiver/receiver.mjs, plain Node) verifies what Parley
 * sends: the worker delivers a recorded event to it and it accepts; a tampered body, a stale timestamp or a wrong
 * secret is refused; a secret rotation verifies with either key; a repeat is handed on once.
 */
import { randomUUID } from "node:crypto"
import type { AddressInfo } from "node:net"
import * as Path from "node:path"
import { pathToFileURL } from "node:url"
import * as SqlClient from "@effect/sql/SqlClient"
import { layerUuidV7 } from "@parley/core"
import { TestData } from "@parley/core/testing"
import { WebhookDeliveries, WebhookEndpoints } from "@parley/postgres"
import { storage, TestDatabase } from "@parley/postgres/testing"
import { DateTime, Duration, Effect, Layer, ManagedRuntime, Redacted } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as WebhookSigner from "../src/WebhookSigner.js"
import * as WebhookWorker from "../src/WebhookWorker.js"

interface ReceiverModule {
  readonly verify: (
    secrets: ReadonlyArray<string>,
    headers: Record<string, string>,
    body: string,
    nowSeconds?: number
  ) => { readonly id: string; readonly type: string }
  readonly createReceiver: (options: {
    readonly secrets: ReadonlyArray<string>
    readonly onEvent: (event: { readonly id: string; readonly type: string }) => void
  }) => import("node:http").Server
}

const example = Path.resolve(import.meta.dirname, "../../../examples/webhook-receiver/receiver.mjs")

describe("the plain-Node receiver example", () => {
  const layer = Layer.mergeAll(WebhookEndpoints.layer, WebhookDeliveries.layer).pipe(
    Layer.provideMerge(Layer.merge(storage(TestDatabase.pglite), layerUuidV7))
  )
  const runtime = ManagedRuntime.make(layer)
  let receiver: ReceiverModule
  beforeAll(async () => {
    receiver = (await import(pathToFileURL(example).href)) as ReceiverModule
  })
  afterAll(() => runtime.dispose())

  it("accepts Parley's deliveries, with either key during a rotation, and each event once", async () => {
    const got: Array<{ readonly id: string; readonly type: string }> = []
    const run = runtime.runPromise
    const businessId = (await run(TestData.seedTenant("Receiver"))).businessId
    const endpoints = await run(WebhookEndpoints.WebhookEndpoints)
    const server = receiver.createReceiver({ secrets: [], onEvent: (event) => got.push(event) })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
      const created = await run(endpoints.create(businessId, { url, eventTypes: [] }))
      const rotated = await run(endpoints.rotateSecret(businessId, created.endpoint.id, Duration.hours(1)))
      server.close()
      // The example reads its secrets at creation: start it again knowing only the OLD secret.
      const withOld = receiver.createReceiver({
        secrets: [Redacted.value(created.secret)],
        onEvent: (event) => got.push(event)
      })
      await new Promise<void>((resolve) =>
        withOld.listen((server.address() as AddressInfo | null)?.port ?? 0, "127.0.0.1", resolve)
      )
      const port = (withOld.address() as AddressInfo).port
      await run(endpoints.update(businessId, created.endpoint.id, { url: `http://127.0.0.1:${port}/` }))
      const eventId = randomUUID()
      await run(
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          yield* sql`
            INSERT INTO events (id, business_id, type, occurred_at, data)
            VALUES (${eventId}, ${businessId}, 'conversation.created', now(), '{"id":"c1"}'::jsonb)`
        })
      )
      const worker = await run(
        Effect.scoped(
          Effect.flatMap(WebhookWorker.make({ allowPrivateTargets: true, allowHttp: true }), (w) =>
            Effect.map(w.round(DateTime.unsafeNow()), () => w)
          )
        )
      )
      expect(worker.owner).toBeTruthy()
      expect(got.map((e) => e.id)).toEqual([eventId])
      const log = await run(
        Effect.flatMap(WebhookDeliveries.WebhookDeliveries, (d) =>
          d.list(businessId, created.endpoint.id, { limit: 5 })
        )
      )
      expect(log.items[0]).toMatchObject({ status: "succeeded", lastStatusCode: 204 })
      // A replay is acknowledged and not handed on twice.
      await run(
        WebhookDeliveries.WebhookDeliveries.pipe(
          Effect.flatMap((d) =>
            d.replay(businessId, created.endpoint.id, { _tag: "Event", eventId }, DateTime.unsafeNow())
          )
        )
      )
      await run(
        Effect.scoped(
          Effect.flatMap(WebhookWorker.make({ allowPrivateTargets: true, allowHttp: true }), (w) =>
            w.round(DateTime.unsafeNow())
          )
        )
      )
      expect(got.map((e) => e.id)).toEqual([eventId])
      withOld.close()
      expect(Redacted.value(rotated.secret)).not.toBe(Redacted.value(created.secret))
    } finally {
      server.close()
    }
  }, 60_000)

  it("refuses a tampered body, a stale timestamp and a wrong secret", () => {
    const secret = `whsec_${Buffer.alloc(32, 7).toString("base64")}`
    const other = `whsec_${Buffer.alloc(32, 8).toString("base64")}`
    const now = Math.floor(Date.now() / 1000)
    const body = JSON.stringify({ id: "e1", type: "message.received", data: {} })
    const headers = WebhookSigner.headers([Redacted.make(secret)], "e1", now, body)
    expect(receiver.verify([secret], headers, body).id).toBe("e1")
    expect(receiver.verify([other, secret], headers, body).id).toBe("e1")
    expect(() => receiver.verify([secret], headers, body.replace("e1", "e2"))).toThrow("no valid signature")
    expect(() => receiver.verify([other], headers, body)).toThrow("no valid signature")
    expect(() => receiver.verify([secret], headers, body, now + 301)).toThrow("tolerance")
  })
})
