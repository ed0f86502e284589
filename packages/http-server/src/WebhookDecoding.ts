/**
 * Reads a stored webhook delivery with its provider's decoder: Meta's JSON envelope (any number of numbers per
 * delivery) or Twilio's form parameters (one message or status of one number per delivery). Both yield the same
 * provider-neutral `NumberUpdates`, so the worker's guarantees (dedupe, per-item isolation, retries, dead letters,
 * unknown numbers kept aside) hold for both alike.
 */
import type { ProviderName } from "@parley/core"
import { TwilioWebhook } from "@parley/twilio"
import { Webhook } from "@parley/whatsapp-cloud"
import type { DateTime } from "effect"
import { Either } from "effect"

export interface Decoded {
  readonly batch: Webhook.WebhookBatch
  /** What is kept aside when the number is unknown: Meta's parsed JSON, or Twilio's parameters as pairs. */
  readonly payload: unknown
}

/** Twilio's form body as ordered (name, value) pairs; a repeated name keeps each value. */
export const formParams = (body: Uint8Array | string): ReadonlyArray<readonly [string, string]> => [
  ...new URLSearchParams(typeof body === "string" ? body : Buffer.from(body).toString("utf8")).entries()
]

const isPairs = (u: unknown): u is ReadonlyArray<readonly [string, string]> =>
  Array.isArray(u) &&
  u.every((p) => Array.isArray(p) && p.length === 2 && typeof p[0] === "string" && typeof p[1] === "string")

// Twilio's status callbacks carry no time of their own: they are dated when Parley received them, the delivery's
// stored receipt time, so a retry or a replay dates them the same.
const twilioBatch = (params: ReadonlyArray<readonly [string, string]>, receivedAt: DateTime.Utc) =>
  Either.mapBoth(TwilioWebhook.decode(params, receivedAt), {
    onLeft: (invalid) => ({ reason: invalid.message }),
    onRight: (updates): Webhook.WebhookBatch => [updates]
  })

/** A stored delivery's changes, or why it cannot be read (signed, so retrying cannot help). */
export const decodeDelivery = (
  provider: ProviderName,
  body: Uint8Array,
  receivedAt: DateTime.Utc
): Either.Either<Decoded, { readonly reason: string }> => {
  if (provider === "twilio") {
    const params = formParams(body)
    return Either.map(twilioBatch(params, receivedAt), (batch) => ({ batch, payload: params }))
  }
  const parsed = Webhook.parse(body)
  return Either.flatMap(parsed, (payload) =>
    Either.map(Webhook.decodeUnknown(payload), (batch) => ({ batch, payload }))
  ).pipe(Either.mapLeft((invalid) => ({ reason: invalid.reason })))
}

/** Changes kept aside for a number then unknown, read again to be replayed. */
export const decodeKept = (
  provider: ProviderName,
  payload: unknown,
  receivedAt: DateTime.Utc
): Either.Either<Webhook.WebhookBatch, { readonly reason: string }> => {
  if (provider === "twilio") {
    return isPairs(payload)
      ? twilioBatch(payload, receivedAt)
      : Either.left({ reason: "kept Twilio parameters are not pairs" })
  }
  return Either.mapLeft(Webhook.decodeUnknown(payload), (invalid) => ({ reason: invalid.reason }))
}
