/**
 * What `pnpm bench` measures. Reads and sends run on both servers (Parley and the floor) in alternating slices;
 * webhooks run on Parley only (the floor has no webhook path). Each builds its i-th request.
 */
import { createHmac } from "node:crypto"
import type { Fixtures } from "./Dataset.js"
import { displayPhoneNumber, providerPhoneNumberId } from "./Dataset.js"
import { cursors } from "./floor.js"
import type { Request } from "./Load.js"

export interface ReadScenario {
  readonly _tag: "Read"
  readonly name: string
  readonly request: (i: number) => Request
}

export const appSecret = "parley-bench-app-secret"

const get = (path: string): Request => ({ method: "GET", path })
const list = (query: string) => get(`/v1/messaging/conversations?${query}`)

export const readScenarios = (fixtures: Fixtures, secretKey: string): ReadonlyArray<ReadScenario> => {
  const deep = cursors(secretKey).sign(new Date(fixtures.deepPosition[0]), fixtures.deepPosition[1])
  const ids = fixtures.conversationIds
  const read = (name: string, request: (i: number) => Request): ReadScenario => ({ _tag: "Read", name, request })
  return [
    read("list", () => list("limit=50")),
    read("list status=open", () => list("status=open&limit=50")),
    read("list mode=human", () => list("mode=human&limit=50")),
    read("list assigned=unassigned", () => list("assigned=unassigned&limit=50")),
    read("list assigned=me", () => list("assigned=me&limit=50")),
    read("list deep cursor", () => list(`limit=50&cursor=${encodeURIComponent(deep)}`)),
    read("search name", () => list("search=ada&limit=50")),
    read("search phone digits", () => list(`search=${encodeURIComponent(fixtures.phoneDigits)}&limit=50`)),
    read("get conversation", (i) => get(`/v1/messaging/conversations/${ids[i % ids.length]}`))
  ]
}

/** `POST …/messages` to the conversations whose windows were opened, each with its own Idempotency-Key. */
export const sendText =
  (ids: ReadonlyArray<string>, run: string) =>
  (i: number): Request => ({
    method: "POST",
    path: `/v1/messaging/conversations/${ids[i % ids.length]}/messages`,
    headers: { "content-type": "application/json", "idempotency-key": `bench-${run}-${i}` },
    body: JSON.stringify({ text: `Your order shipped (${i})` })
  })

const signed = (payload: unknown): Request => {
  const body = JSON.stringify(payload)
  return {
    method: "POST",
    path: "/webhooks/whatsapp",
    headers: {
      "content-type": "application/json",
      "x-hub-signature-256": `sha256=${createHmac("sha256", appSecret).update(body).digest("hex")}`
    },
    body
  }
}

const envelope = (value: Record<string, unknown>) => ({
  object: "whatsapp_business_account",
  entry: [
    {
      id: "100000000000001",
      changes: [
        {
          field: "messages",
          value: {
            messaging_product: "whatsapp",
            metadata: { display_phone_number: displayPhoneNumber, phone_number_id: providerPhoneNumberId },
            ...value
          }
        }
      ]
    }
  ]
})

export const batchSize = 50
/** Customers writing in during the inbound scenario: repeated, so most messages join an existing conversation. */
const inboundCustomers = 2_000

/**
 * A signed delivery of 50 customer texts (`messages` change), as Meta sends them. Every message id is new; the
 * customers come from a pool of 2,000 numbers of this run.
 */
export const inboundBatch =
  (run: string) =>
  (i: number): Request => {
    const now = String(Math.floor(Date.now() / 1000))
    const messages = Array.from({ length: batchSize }, (_, j) => {
      const n = i * batchSize + j
      const from = `4479${run.slice(-4)}${String(n % inboundCustomers).padStart(5, "0")}`
      return { from, id: `wamid.BENCH${run}.${n}`, timestamp: now, type: "text", text: { body: `hello ${n}` } }
    })
    return signed(
      envelope({
        contacts: messages.map((m) => ({ profile: { name: `Customer ${m.from.slice(-5)}` }, wa_id: m.from })),
        messages
      })
    )
  }

/** A signed delivery of 50 `delivered` statuses for the next 50 messages of `targets`. */
export const statusBatch =
  (targets: ReadonlyArray<{ readonly wamid: string; readonly recipient: string }>) =>
  (i: number): Request => {
    const now = String(Math.floor(Date.now() / 1000))
    const statuses = Array.from({ length: batchSize }, (_, j) => targets[(i * batchSize + j) % targets.length]).map(
      (target) => ({
        id: target?.wamid,
        status: "delivered",
        timestamp: now,
        recipient_id: target?.recipient,
        pricing: { billable: false, pricing_model: "PMP", type: "free_customer_service", category: "service" }
      })
    )
    return signed(envelope({ statuses }))
  }
