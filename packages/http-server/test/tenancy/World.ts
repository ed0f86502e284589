/**
 * Random multi-business worlds for the tenancy suite: fast-check describes businesses (numbers, users, customers,
 * API keys with random scope subsets), and `build` creates one through the admin API and signed inbound webhooks on
 * a running server, as an operator and Meta would.
 *
 * Customers are drawn from a small shared pool of phones and names, so two businesses often have the same customer
 * (the same phone, the same name): the case where a query scoped by phone or name alone would leak.
 */
import { allScopes, type Scope } from "@parley/core"
import { FastCheck } from "effect"
import type { ConversationJson } from "../../src/Representation.js"
import { type Envelope, envelope, type Harness, inboundChange } from "../support/Harness.js"

export interface BusinessSpec {
  readonly numbers: number
  readonly users: number
  /** Each: a phone from the shared pool, the number (index) it writes to, a name from the shared pool. */
  readonly customers: ReadonlyArray<{ readonly phone: number; readonly number: number; readonly name: number }>
  readonly keys: ReadonlyArray<{ readonly scopes: ReadonlyArray<Scope>; readonly user: number | null }>
}

export interface WorldSpec {
  readonly businesses: ReadonlyArray<BusinessSpec>
}

const names = ["Ada", "Ada Lovelace", "Zoë Ünïcode", "李小龙", "O'Brien; DROP TABLE", "50% off_"]

export const scopeSubset = FastCheck.subarray([...allScopes], { minLength: 1 })

export const worldSpec: FastCheck.Arbitrary<WorldSpec> = FastCheck.record({
  businesses: FastCheck.array(
    FastCheck.record({
      numbers: FastCheck.integer({ min: 1, max: 2 }),
      users: FastCheck.integer({ min: 0, max: 2 }),
      customers: FastCheck.array(
        FastCheck.record({
          phone: FastCheck.integer({ min: 0, max: 4 }),
          number: FastCheck.nat(),
          name: FastCheck.integer({ min: 0, max: names.length - 1 })
        }),
        { minLength: 1, maxLength: 3 }
      ),
      keys: FastCheck.array(
        FastCheck.record({
          scopes: scopeSubset,
          user: FastCheck.option(FastCheck.nat(), { freq: 2 })
        }),
        { minLength: 1, maxLength: 3 }
      )
    }),
    { minLength: 2, maxLength: 3 }
  )
})

export interface Key {
  readonly key: string
  readonly scopes: ReadonlySet<Scope>
  readonly userId: string | null
}

export interface Business {
  readonly id: string
  readonly numberIds: ReadonlyArray<string>
  readonly userIds: ReadonlyArray<string>
  /** Every scope, no user: the business's own view, to check nothing changed. */
  readonly ownerKey: string
  readonly keys: ReadonlyArray<Key>
  readonly conversations: ReadonlyArray<ConversationJson>
}

let worlds = 0
let phoneNumberIds = 0

/** Polls until `check` holds (webhooks may be processed after their 200), or fails with the last value. */
export const eventually = async <A>(read: () => Promise<A>, check: (a: A) => boolean, what: string): Promise<A> => {
  const deadline = Date.now() + 20_000
  let last = await read()
  while (!check(last)) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within 20 s`)
    await new Promise((resolve) => setTimeout(resolve, 50))
    last = await read()
  }
  return last
}

const created = <T>(reply: { readonly status: number; readonly body: Envelope<T> | unknown }, what: string): T => {
  if (reply.status !== 201) throw new Error(`${what}: ${reply.status} ${JSON.stringify(reply.body)}`)
  return (reply.body as Envelope<T>).data
}

/** Creates the world on the server; returns every business with its ids, keys and conversations. */
export const build = async (h: Harness, spec: WorldSpec): Promise<ReadonlyArray<Business>> => {
  const world = ++worlds
  // Phones unique to this world, shared between its businesses.
  const phone = (i: number) => `4479${String(world).padStart(5, "0")}${String(i).padStart(4, "0")}`
  const businesses: Array<Business> = []
  for (const [b, business] of spec.businesses.entries()) {
    const { id } = created<{ id: string }>(
      await h.admin("POST", "/businesses", { name: `World ${world} business ${b}` }),
      "business"
    )
    const numbers: Array<{ id: string; phoneNumberId: string }> = []
    for (let n = 0; n < business.numbers; n++) {
      const phoneNumberId = `3${String(++phoneNumberIds).padStart(14, "0")}`
      const number = created<{ id: string }>(
        await h.admin("POST", `/businesses/${id}/whatsapp-numbers`, {
          phoneNumberId,
          displayPhoneNumber: "15550002222",
          wabaId: "100000000000001",
          accessToken: "token-a"
        }),
        "number"
      )
      numbers.push({ id: number.id, phoneNumberId })
    }
    const userIds: Array<string> = []
    for (let u = 0; u < business.users; u++) {
      userIds.push(
        created<{ id: string }>(await h.admin("POST", `/businesses/${id}/users`, { name: `User ${u}` }), "user").id
      )
    }
    const keyFor = async (scopes: ReadonlyArray<Scope>, userId: string | null) =>
      created<{ key: string }>(
        await h.admin("POST", `/businesses/${id}/api-keys`, {
          name: "tenancy",
          scopes,
          ...(userId === null ? {} : { userId })
        }),
        "key"
      ).key
    const keys: Array<Key> = []
    for (const k of business.keys) {
      const userId = k.user === null || userIds.length === 0 ? null : (userIds[k.user % userIds.length] ?? null)
      keys.push({ key: await keyFor(k.scopes, userId), scopes: new Set(k.scopes), userId })
    }
    const ownerKey = await keyFor(allScopes, null)
    await h.admin("POST", `/businesses/${id}/templates`, {
      key: "order_shipped",
      name: "order_shipped",
      language: "en",
      category: "UTILITY",
      status: "APPROVED",
      parameterFormat: "NAMED",
      components: [{ type: "BODY", text: "Order {{order_id}} arrives {{eta}}" }]
    })
    const expected = new Set<string>()
    for (const c of business.customers) {
      const number = numbers[c.number % numbers.length]!
      const from = phone(c.phone)
      expected.add(`${number.id} +${from}`)
      const reply = await h.webhook(
        envelope(inboundChange(number.phoneNumberId, [{ from, text: "hello", name: names[c.name] ?? "Ada" }]))
      )
      if (reply.status !== 200) throw new Error(`webhook: ${reply.status}`)
    }
    const conversations = await eventually(
      async () =>
        (
          await h.call<Envelope<ReadonlyArray<ConversationJson>>>("GET", "/v1/messaging/conversations?limit=200", {
            key: ownerKey
          })
        ).body.data,
      (rows) => rows.length === expected.size,
      `the conversations of business ${b}`
    )
    businesses.push({
      id,
      numberIds: numbers.map((n) => n.id),
      userIds,
      ownerKey,
      keys,
      conversations
    })
  }
  return businesses
}
