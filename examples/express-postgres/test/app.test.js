/**
 * The example end to end, as installed from the packed tarballs: a fresh PostgreSQL database, the fake Cloud API
 * from `@parley/whatsapp-cloud/testing`, a signed inbound webhook, then a reply through the app's own route and auth.
 * The server is TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test); the test creates and drops
 * its own database there.
 */

import * as assert from "node:assert/strict"
import { execFile } from "node:child_process"
import { randomBytes } from "node:crypto"
import { once } from "node:events"
import { after, before, test } from "node:test"
import { promisify, stripVTControlCharacters } from "node:util"
import { Tenancy } from "@parley/postgres"
import { FakeCloudApi } from "@parley/whatsapp-cloud/testing"
import { Effect, Redacted } from "effect"
import pg from "pg"
import { createApp } from "../src/app.js"
import { makeParleyRuntime } from "../src/parley.js"

const serverUrl = new URL(process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test")
const database = `parley_example_${randomBytes(6).toString("hex")}`
const appSecret = "example-app-secret"
const phoneNumberId = "200000000000002"

let fake
let runtime
let server
let appUrl
let businessId

const admin = async (sql) => {
  const client = new pg.Client({ connectionString: serverUrl.toString() })
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}

const call = async (method, path, { token, body } = {}) => {
  const response = await fetch(`${appUrl}${path}`, {
    method,
    headers: {
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      ...(body === undefined ? {} : { "content-type": "application/json" })
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  return { status: response.status, body: await response.json().catch(() => null) }
}

before(async () => {
  await admin(`create database ${database}`)
  const databaseUrl = new URL(serverUrl)
  databaseUrl.pathname = `/${database}`
  fake = await FakeCloudApi.start({ accessTokens: ["meta-token-1"], phoneNumberId })
  runtime = makeParleyRuntime({
    databaseUrl: databaseUrl.toString(),
    secretKey: randomBytes(32).toString("base64"),
    whatsappApiUrl: fake.url
  })
  // The host's own admin flow creates the tenant; Parley's Tenancy does the SQL.
  const tenant = await runtime.runPromise(
    Effect.gen(function* () {
      const tenancy = yield* Tenancy.Tenancy
      const business = yield* tenancy.createBusiness({ name: "Acme Bikes" })
      const user = yield* tenancy.createUser({ businessId: business.id, name: "Grace" })
      yield* tenancy.addWhatsAppNumber({
        businessId: business.id,
        providerPhoneNumberId: phoneNumberId,
        displayPhoneNumber: "+1 555 000 2222",
        accessToken: Redacted.make("meta-token-1")
      })
      return { businessId: business.id, userId: user.id }
    })
  )
  businessId = tenant.businessId
  const sessions = new Map([
    [
      "agent-session",
      { ...tenant, scopes: ["messaging:conversations:read", "messaging:messages:read", "messaging:messages:send"] }
    ],
    ["viewer-session", { ...tenant, scopes: ["messaging:conversations:read"] }]
  ])
  server = createApp({ runtime, sessions, appSecret }).listen(0, "127.0.0.1")
  await once(server, "listening")
  appUrl = `http://127.0.0.1:${server.address().port}`
})

after(async () => {
  server?.close()
  await runtime?.dispose()
  await fake?.close()
  await admin(`drop database if exists ${database} with (force)`)
})

test("a customer's signed message arrives through the app's webhook route", async () => {
  const delivery = await fake.emitInboundText(
    { url: `${appUrl}/webhooks/whatsapp`, appSecret },
    { from: "+2348012345678", text: "Is my order shipped?", profileName: "Ada Lovelace" }
  )
  assert.equal(delivery.status, 200)
  const inbox = await call("GET", "/inbox", { token: "agent-session" })
  assert.equal(inbox.status, 200)
  assert.equal(inbox.body.length, 1)
  assert.equal(inbox.body[0].customer, "Ada Lovelace")
  assert.equal(inbox.body[0].unread, 1)
  assert.notEqual(inbox.body[0].replyableUntil, null)
})

test("an unsigned webhook is refused and changes nothing", async () => {
  const response = await fetch(`${appUrl}/webhooks/whatsapp`, { method: "POST", body: "{}" })
  assert.equal(response.status, 401)
})

test("the app's auth decides who may reply; Parley checks the scope", async () => {
  const [conversation] = (await call("GET", "/inbox", { token: "agent-session" })).body
  assert.equal((await call("POST", `/inbox/${conversation.id}/reply`, { body: { text: "Hi" } })).status, 401)
  const viewer = await call("POST", `/inbox/${conversation.id}/reply`, {
    token: "viewer-session",
    body: { text: "It ships today." }
  })
  assert.deepEqual([viewer.status, viewer.body.error], [403, "MissingScope"])
  assert.equal(fake.sends.length, 0)

  const reply = await call("POST", `/inbox/${conversation.id}/reply`, {
    token: "agent-session",
    body: { text: "It ships today." }
  })
  assert.deepEqual([reply.status, reply.body.status], [201, "sent"])
  assert.equal(fake.sends.length, 1)
  assert.equal(fake.sends[0].to, "+2348012345678")

  const history = await call("GET", `/inbox/${conversation.id}`, { token: "agent-session" })
  assert.deepEqual(
    history.body.map((m) => [m.direction, m.text]),
    [
      ["outbound", "It ships today."],
      ["inbound", "Is my order shipped?"]
    ]
  )
})

test("another business's conversation is not found", async () => {
  const [conversation] = (await call("GET", "/inbox", { token: "agent-session" })).body
  const other = await runtime.runPromise(
    Effect.flatMap(Tenancy.Tenancy, (tenancy) => tenancy.createBusiness({ name: "Other" }))
  )
  assert.notEqual(other.id, businessId)
  const app = createApp({
    runtime,
    sessions: new Map([["other", { businessId: other.id, scopes: ["messaging:messages:read"] }]]),
    appSecret
  }).listen(0, "127.0.0.1")
  await once(app, "listening")
  try {
    const response = await fetch(`http://127.0.0.1:${app.address().port}/inbox/${conversation.id}`, {
      headers: { authorization: "Bearer other" }
    })
    assert.equal(response.status, 404)
  } finally {
    app.close()
  }
})

test("the parley command is installed as a bin, with plain help when piped", async () => {
  const { stdout } = await promisify(execFile)("npx", ["--no-install", "parley", "--help"])
  assert.match(stdout, /- serve/)
  assert.match(stdout, /- keys create/)
  assert.equal(stripVTControlCharacters(stdout), stdout)
})
