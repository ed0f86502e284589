/**
 * Webhooks: decoding never throws, on random JSON and on every fixture mutated anywhere; it yields a batch or a
 * typed error.
 */
import { assert, describe, it } from "@effect/vitest"
import { Either, FastCheck } from "effect"
import * as Webhook from "../src/Webhook.js"
import * as Fixtures from "./support/fixtures.js"
import { decodeRight, envelope, only } from "./support/webhooks.js"

// ---------------------------------------------------------------------------------------------------------------
// Fuzzing

type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }

const webhookFixtures: ReadonlyArray<Json> = [
  Fixtures.read("webhook-inbound-text.json") as Json,
  Fixtures.read("webhook-inbound-image.json") as Json,
  ...Fixtures.statusSequence().deliveries.map((d) => d.body as Json)
]

/** Every path to a value inside `json`. */
const pathsOf = (json: Json, prefix: ReadonlyArray<string | number> = []): Array<ReadonlyArray<string | number>> => {
  const paths: Array<ReadonlyArray<string | number>> = [prefix]
  if (Array.isArray(json)) {
    json.forEach((item, i) => {
      paths.push(...pathsOf(item, [...prefix, i]))
    })
  } else if (typeof json === "object" && json !== null) {
    for (const [key, value] of Object.entries(json)) paths.push(...pathsOf(value as Json, [...prefix, key]))
  }
  return paths
}

type Mutation = { readonly op: "replace" | "delete" | "wrap"; readonly at: number; readonly value: Json }

const mutateAt = (json: Json, path: ReadonlyArray<string | number>, mutation: Mutation): Json => {
  if (path.length === 0) {
    return mutation.op === "wrap" ? [json] : mutation.op === "delete" ? null : mutation.value
  }
  const [head, ...rest] = path
  if (Array.isArray(json)) {
    const copy: Array<Json> = json.slice()
    const index = Number(head)
    if (mutation.op === "delete" && rest.length === 0) copy.splice(index, 1)
    else copy[index] = mutateAt(copy[index] ?? null, rest, mutation)
    return copy
  }
  if (typeof json === "object" && json !== null) {
    const copy: Record<string, Json> = { ...(json as Record<string, Json>) }
    const key = String(head)
    if (mutation.op === "delete" && rest.length === 0) delete copy[key]
    else copy[key] = mutateAt(copy[key] ?? null, rest, mutation)
    return copy
  }
  return json
}

const mutation: FastCheck.Arbitrary<Mutation> = FastCheck.record({
  op: FastCheck.constantFrom("replace" as const, "delete" as const, "wrap" as const),
  at: FastCheck.nat(),
  value: FastCheck.jsonValue({ maxDepth: 2 }) as FastCheck.Arbitrary<Json>
})

const neverThrows = (result: Either.Either<Webhook.WebhookBatch, Webhook.WebhookPayloadInvalid>) =>
  Either.match(result, {
    onLeft: (error) => assert.strictEqual(error._tag, "WebhookPayloadInvalid"),
    onRight: (batches) => assert.isTrue(Array.isArray(batches))
  })

describe("Webhook.decode: fuzzing", () => {
  it.prop("random JSON values decode or yield a typed error", [FastCheck.jsonValue()], ([json]) =>
    neverThrows(Webhook.decodeUnknown(json))
  )

  it.prop(
    "random strings and bytes decode or yield a typed error",
    [FastCheck.string(), FastCheck.uint8Array()],
    ([text, bytes]) => {
      neverThrows(Webhook.decode(text))
      neverThrows(Webhook.decode(bytes))
    }
  )

  it.prop(
    "random mutations of the fixtures decode or yield a typed error",
    [FastCheck.nat({ max: webhookFixtures.length - 1 }), FastCheck.array(mutation, { minLength: 1, maxLength: 6 })],
    ([which, mutations]) => {
      let json = webhookFixtures[which] ?? null
      for (const m of mutations) {
        const paths = pathsOf(json)
        json = mutateAt(json, paths[m.at % paths.length] ?? [], m)
      }
      neverThrows(Webhook.decodeUnknown(json))
      neverThrows(Webhook.decode(JSON.stringify(json)))
    },
    { fastCheck: { numRuns: 500 } }
  )

  it.prop(
    "a mutated message never takes the other messages of its change down",
    [FastCheck.array(mutation, { minLength: 1, maxLength: 4 })],
    ([mutations]) => {
      const good = {
        from: "15550001111",
        id: "wamid.good",
        timestamp: "1767261600",
        type: "text",
        text: { body: "ok" }
      }
      let victim: Json = { ...good, id: "wamid.victim" }
      for (const m of mutations) {
        const paths = pathsOf(victim)
        victim = mutateAt(victim, paths[m.at % paths.length] ?? [], m)
      }
      const batch = only(decodeRight(envelope({ messages: [victim, good] })))
      assert.isTrue(batch.inbound.some((message) => message.providerMessageId === "wamid.good"))
      assert.strictEqual(batch.inbound.length + batch.skipped.length, 2)
    }
  )

  it.prop(
    "byte flips of the signed fixture body decode or yield a typed error",
    [FastCheck.nat(), FastCheck.integer({ min: 1, max: 255 })],
    ([index, flip]) => {
      const bytes = Buffer.from(Fixtures.signatureFixture().signature.rawBody, "utf8")
      const at = index % bytes.length
      bytes[at] = (bytes[at] ?? 0) ^ flip
      neverThrows(Webhook.decode(bytes))
    }
  )
})
