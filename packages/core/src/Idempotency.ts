/**
 * Idempotent sends: the `IdempotencyStore` port, what it stores, and the rule the use cases follow.
 *
 * The rule (per business and Idempotency-Key):
 * - the first request claims the key; the same key with the same request fingerprint after it completed returns
 *   the stored outcome (the same message, or the same provider refusal), and the send does not run again;
 * - the same key with a different request fails with `IdempotencyKeyReused`; while the first is still running,
 *   with `IdempotencyKeyInFlight`;
 * - only outcomes the provider decided are stored: the message it accepted, its definitive refusal, or an
 *   unconfirmed delivery. Anything that failed before the provider accepted or refused it (validation, closed
 *   window, missing conversation, rate limit, provider down, storage down) releases the key, so a corrected retry
 *   proceeds; an accepted send that could not be recorded as sent is an unconfirmed delivery, never a release;
 * - an unconfirmed delivery is answered from its message as it stands (`answerNow`): while the message is
 *   `pending` the key keeps answering `DeliveryUnconfirmed`; once evidence settled it (a provider status, or
 *   `unconfirmedExpiry` after the timeout), the key answers as the accepted send it turned out to be;
 * - a claim whose process died holds the key for its lease; after that the key is taken over, unless the dead
 *   attempt had already recorded its message, in which case it completes as unconfirmed and is never resent;
 * - keys are kept for `retention` (48 h by default, at least 24 h) and then reaped.
 */
import { Context, Data, type DateTime, Duration, type Effect, Option, Schema } from "effect"
import type { BusinessId } from "./Ids.js"
import { MessageId } from "./Ids.js"
import { DeliveryFailure, Message } from "./Message.js"
import { ProviderRejected, ProviderWindowClosed, RecipientInvalid, TemplateRejected } from "./MessagingGateway.js"
import type { StorageError } from "./StorageError.js"

/** 1–255 printable ASCII characters, no leading or trailing space. */
export const IdempotencyKey = Schema.String.pipe(
  Schema.pattern(/^[\x21-\x7e](?:[\x20-\x7e]{0,253}[\x21-\x7e])?$/, {
    message: () => "Idempotency-Key must be 1 to 255 printable ASCII characters"
  })
)

/** The provider may or may not have the message; it stays `pending` until a status webhook settles it. */
export class DeliveryUnconfirmed extends Schema.TaggedError<DeliveryUnconfirmed>()("DeliveryUnconfirmed", {
  messageId: MessageId,
  reason: Schema.String
}) {
  override get message() {
    return "the provider did not confirm the send; it will not be resent, watch the message's deliveryStatus"
  }
}

/**
 * The failure Parley records on a send that nothing settled within the unconfirmed-send timeout. The code is
 * Parley's own (Meta's error codes are positive), so it can never be mistaken for a provider's verdict.
 */
export const unconfirmedExpiry = new DeliveryFailure({ code: -1, title: "delivery_unconfirmed" })

/** Refusals that are final for a request, so a retry with the same key gets them again. */
export const ProviderRefusal = Schema.Union(
  ProviderWindowClosed,
  RecipientInvalid,
  TemplateRejected,
  ProviderRejected,
  DeliveryUnconfirmed
)
export type ProviderRefusal = typeof ProviderRefusal.Type

export class Sent extends Schema.TaggedClass<Sent>()("Sent", { message: Message }) {}
export class Refused extends Schema.TaggedClass<Refused>()("Refused", { error: ProviderRefusal }) {}

/** What an idempotency record stores once the send completed. */
export const Outcome = Schema.Union(Sent, Refused)
export type Outcome = typeof Outcome.Type

/** The message an outcome leaves unconfirmed, if it is an unconfirmed delivery. */
export const unconfirmedMessageId = (outcome: Outcome): Option.Option<MessageId> =>
  outcome._tag === "Refused" && outcome.error._tag === "DeliveryUnconfirmed"
    ? Option.some(outcome.error.messageId)
    : Option.none()

/**
 * What a stored outcome answers now, given its message as it currently stands. Only an unconfirmed delivery
 * changes: once its message left `pending` (a provider status settled it, or it expired as `failed`), the answer
 * is the accepted send with the message as it is now, as a successful first attempt would have answered. Any
 * other outcome is final as stored.
 */
export const answerNow = (stored: Outcome, current: Option.Option<Message>): Outcome =>
  Option.isSome(unconfirmedMessageId(stored)) && Option.isSome(current) && current.value.deliveryStatus !== "pending"
    ? new Sent({ message: current.value })
    : stored

export type ClaimResult = Data.TaggedEnum<{
  /** The caller owns the key now and must `complete` or `release` it. */
  Claimed: {}
  /** The key completed before with the same request: return this outcome. */
  Completed: { readonly outcome: Outcome }
  /** The key is held by a running request. */
  InFlight: {}
  /** The key was used for a different request. */
  Mismatch: {}
  /** A dead attempt recorded this message and may have sent it: the caller now owns the key to settle it. */
  Abandoned: { readonly messageId: MessageId }
}>
export const ClaimResult = Data.taggedEnum<ClaimResult>()

export interface ClaimTimes {
  readonly now: DateTime.Utc
  /** Until when a running claim holds the key against takeover. */
  readonly lockedUntil: DateTime.Utc
  /** When the record may be reaped. */
  readonly expiresAt: DateTime.Utc
}

export class IdempotencyStore extends Context.Tag("@parley/core/IdempotencyStore")<
  IdempotencyStore,
  {
    /**
     * Atomically claims (business, key) for a request with this fingerprint. Concurrent claims of one key yield
     * exactly one `Claimed`. An expired record is replaced.
     */
    readonly claim: (
      businessId: BusinessId,
      key: string,
      fingerprint: string,
      times: ClaimTimes
    ) => Effect.Effect<ClaimResult, StorageError>

    /** Stores the final outcome of the claimed key. */
    readonly complete: (businessId: BusinessId, key: string, outcome: Outcome) => Effect.Effect<void, StorageError>

    /** Gives the key up without an outcome, so it can be claimed again. */
    readonly release: (businessId: BusinessId, key: string) => Effect.Effect<void, StorageError>

    /** Reaper: deletes records that expired before `now` (all businesses; it reads nothing). Returns the count. */
    readonly purgeExpired: (now: DateTime.Utc) => Effect.Effect<number, StorageError>
  }
>() {}

export class IdempotencyKeyReused extends Schema.TaggedError<IdempotencyKeyReused>()("IdempotencyKeyReused", {}) {
  override get message() {
    return "this Idempotency-Key was already used for a different request"
  }
}

export class IdempotencyKeyInFlight extends Schema.TaggedError<IdempotencyKeyInFlight>()("IdempotencyKeyInFlight", {}) {
  override get message() {
    return "a request with this Idempotency-Key is still being processed; retry shortly"
  }
}

export interface Policy {
  /** How long a running claim holds its key before another process may take it over. */
  readonly lease: Duration.Duration
  /** How long a key is remembered (at least 24 hours). */
  readonly retention: Duration.Duration
}

export const defaultPolicy: Policy = { lease: Duration.minutes(2), retention: Duration.hours(48) }

/**
 * How long an unconfirmed send may stay `pending` before it is failed with `unconfirmedExpiry` (Meta reports
 * `sent` within seconds). Far longer than any send attempt, whose request is bounded by the gateway's timeout.
 */
export const defaultUnconfirmedTimeout: Duration.Duration = Duration.minutes(15)

/**
 * The fingerprint of a request: canonical JSON (object keys sorted, no whitespace) of the operation and its
 * decoded input, so harmless re-serialisation by a client never looks like a different request.
 */
export const fingerprint = (operation: string, input: unknown): string => canonicalJson({ operation, input })

export const canonicalJson = (value: unknown): string => {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null"
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`
}
