/**
 * Branded identifiers of Parley's entities, and the `Ids` port that mints new ones.
 *
 * The core never invents an id itself (no randomness in the domain): every new id comes from `Ids`, so tests can
 * use a deterministic sequence and production a time-ordered UUID.
 */
import { Clock, Context, Effect, Layer, Ref, Schema } from "effect"

/** A business (tenant). Every query and write in Parley is scoped by one. */
export const BusinessId = Schema.UUID.pipe(Schema.brand("BusinessId"))
export type BusinessId = typeof BusinessId.Type

export const ConversationId = Schema.UUID.pipe(Schema.brand("ConversationId"))
export type ConversationId = typeof ConversationId.Type

export const MessageId = Schema.UUID.pipe(Schema.brand("MessageId"))
export type MessageId = typeof MessageId.Type

/** Parley's id of a business's WhatsApp number (not Meta's `phone_number_id`). */
export const WhatsAppNumberId = Schema.UUID.pipe(Schema.brand("WhatsAppNumberId"))
export type WhatsAppNumberId = typeof WhatsAppNumberId.Type

export const UserId = Schema.UUID.pipe(Schema.brand("UserId"))
export type UserId = typeof UserId.Type

export const TemplateId = Schema.UUID.pipe(Schema.brand("TemplateId"))
export type TemplateId = typeof TemplateId.Type

export const ApiKeyId = Schema.UUID.pipe(Schema.brand("ApiKeyId"))
export type ApiKeyId = typeof ApiKeyId.Type

/**
 * The port that mints ids. `uuid` yields a lower-case RFC 9562 UUID string; the typed helpers below brand it.
 */
export class Ids extends Context.Tag("@parley/core/Ids")<
  Ids,
  {
    readonly uuid: Effect.Effect<string>
  }
>() {
  /** Time-ordered UUIDv7 ids: the production choice. */
  static get layerUuidV7(): Layer.Layer<Ids> {
    return layerUuidV7
  }
  /** Deterministic ids for tests. */
  static get layerSequential(): Layer.Layer<Ids> {
    return layerSequential
  }
}

const uuid = Effect.flatMap(Ids, (ids) => ids.uuid)
const trusted = { disableValidation: true } as const

export const nextBusinessId = Effect.map(uuid, (u) => BusinessId.make(u, trusted))
export const nextConversationId = Effect.map(uuid, (u) => ConversationId.make(u, trusted))
export const nextMessageId = Effect.map(uuid, (u) => MessageId.make(u, trusted))
export const nextWhatsAppNumberId = Effect.map(uuid, (u) => WhatsAppNumberId.make(u, trusted))
export const nextUserId = Effect.map(uuid, (u) => UserId.make(u, trusted))
export const nextTemplateId = Effect.map(uuid, (u) => TemplateId.make(u, trusted))
export const nextApiKeyId = Effect.map(uuid, (u) => ApiKeyId.make(u, trusted))

/** Two hex digits per byte value, so an id is formatted with table lookups rather than `toString(16)`. */
const hexOf = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"))

/** Random bytes are drawn from Web Crypto a pool at a time: one call per 409 ids rather than one per id. */
const pool = new Uint8Array(4096)
let drawn = pool.length
const randomBytes = (n: number): number => {
  if (drawn + n > pool.length) {
    globalThis.crypto.getRandomValues(pool)
    drawn = 0
  }
  const at = drawn
  drawn += n
  return at
}

/**
 * UUIDv7 (RFC 9562): 48 bits of Unix milliseconds from `Clock`, then random bits from Web Crypto.
 * Time-ordered ids keep B-tree inserts local, which matters for the messages table.
 */
export const uuidV7: Ids["Type"] = {
  uuid: Effect.map(Clock.currentTimeMillis, (millis) => {
    // 48 bits of time (ms), the version (7) over 4 random bits, 8 random bits, the variant (10) over 6 random bits,
    // then 7 random bytes.
    const time = Math.max(0, Math.floor(millis)).toString(16).padStart(12, "0").slice(-12)
    const r = randomBytes(10)
    const b = (i: number) => pool[r + i] ?? 0
    return (
      `${time.slice(0, 8)}-${time.slice(8)}-` +
      `${hexOf[0x70 | (b(0) & 0x0f)]}${hexOf[b(1)]}-${hexOf[0x80 | (b(2) & 0x3f)]}${hexOf[b(3)]}-` +
      `${hexOf[b(4)]}${hexOf[b(5)]}${hexOf[b(6)]}${hexOf[b(7)]}${hexOf[b(8)]}${hexOf[b(9)]}`
    )
  })
}

export const layerUuidV7: Layer.Layer<Ids> = Layer.succeed(Ids, uuidV7)

/**
 * Deterministic ids for tests: `00000000-0000-4000-8000-000000000001`, `…0002`, …
 * (valid version-4-shaped UUIDs, so they pass `Schema.UUID`).
 */
export const layerSequential: Layer.Layer<Ids> = Layer.effect(
  Ids,
  Effect.map(Ref.make(0), (counter) => ({
    uuid: Ref.updateAndGet(counter, (n) => n + 1).pipe(
      Effect.map((n) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`)
    )
  }))
)
