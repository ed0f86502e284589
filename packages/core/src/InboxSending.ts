/**
 * How the inbox sends: the message recorded before the provider is called, the provider's answer turned into the
 * outcome, and each Idempotency-Key's attempt run at most once (see `Idempotency` for the rule).
 */
import { DateTime, Effect, Either, Exit, Fiber, Option, Schedule } from "effect"
import type { Actor } from "./Actor.js"
import * as Idempotency from "./Idempotency.js"
import type { ProviderNotReached, SendReceipt } from "./InboxResults.js"
import { decoder, InvalidRequest } from "./InvalidRequest.js"
import { DeliveryFailure, type Message } from "./Message.js"
import type { MessageRepository } from "./MessageRepository.js"
import type { Accepted, GatewayError } from "./MessagingGateway.js"
import type { StorageError } from "./StorageError.js"

const decodeKey = decoder(Idempotency.IdempotencyKey)

const isProviderNotReached = (error: GatewayError): error is ProviderNotReached =>
  error._tag === "ProviderRateLimited" || error._tag === "ProviderMisconfigured" || error._tag === "ProviderUnavailable"

/**
 * Runs a send to its end even when the caller is interrupted (a client that disconnects aborts its request's
 * fiber). Interrupted mid-call, the provider may already have the message: the attempt would then fail as
 * interrupted and release its key, and the client's retry would send it a second time. Detached, it finishes,
 * records what the provider said and completes the key; a retry replays that.
 */
const detached = <A, E>(send: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  Effect.flatMap(Effect.forkDaemon(send), Fiber.join)

const failureOf = (error: { readonly code: number | null; readonly title: string }) =>
  new DeliveryFailure({ code: error.code ?? 0, title: error.title }, true)

/**
 * An attempt's outcome, and whether storage already completed its Idempotency-Key with it (`markSent` completes
 * the key of a send it marks: one write fewer).
 */
export interface Delivered {
  readonly outcome: Idempotency.Outcome
  readonly completed: boolean
}

const delivered = (outcome: Idempotency.Outcome, completed = false): Delivered => ({ outcome, completed })

/** The sending steps, on the inbox's message repository and idempotency store. */
export const makeSending = (ports: {
  readonly messages: MessageRepository["Type"]
  readonly keys: Idempotency.IdempotencyStore["Type"]
  readonly policy: Idempotency.Policy
}) => {
  const { messages, keys, policy } = ports

  /**
   * Records the message, calls the provider outside any transaction, and turns its answer into the outcome.
   * Provider failures before acceptance mark the message failed and stay errors (so the key is released).
   */
  const deliver = (
    message: Message,
    idempotencyKey: Option.Option<string>,
    call: Effect.Effect<Accepted, GatewayError>
  ) =>
    Effect.gen(function* () {
      yield* messages.recordOutbound({ message, idempotencyKey })
      const answer = yield* Effect.either(call)
      if (Either.isRight(answer)) {
        const providerMessageId = answer.right.providerMessageId
        // A dropped connection may surface as a failure or (a failed COMMIT) as a defect: both are caught. A retry
        // after a write that did commit marks and completes again, to the same effect.
        const sent = yield* messages
          .markSent(message.businessId, message.id, providerMessageId, Option.getOrUndefined(idempotencyKey))
          .pipe(Effect.retry(Schedule.recurs(2)), Effect.exit)
        if (Exit.isSuccess(sent)) {
          return Option.match(sent.value, {
            // The write completed the key with this outcome, when there is a key.
            // Both are `Message`s already (storage decoded the marked one): the wrapper need not check them again.
            onSome: (marked) =>
              delivered(new Idempotency.Sent({ message: marked }, true), Option.isSome(idempotencyKey)),
            onNone: () => delivered(new Idempotency.Sent({ message }, true))
          })
        }
        // The provider has it but the database would not say so: failing here would release the key and let a
        // retry send it again. It stays pending, unconfirmed, until its status webhook (our id) or the timeout.
        yield* Effect.logWarning("accepted send not recorded as sent", sent.cause)
        return delivered(
          new Idempotency.Refused({
            error: new Idempotency.DeliveryUnconfirmed({
              messageId: message.id,
              reason: `the provider accepted it (${providerMessageId}) but recording that failed`
            })
          })
        )
      }
      const error = answer.left
      if (error._tag === "ProviderOutcomeUnknown") {
        const unconfirmed = new Idempotency.Refused({
          error: new Idempotency.DeliveryUnconfirmed({ messageId: message.id, reason: error.reason })
        })
        // A status webhook may have settled it while we waited for the lost answer. The look is best effort: a
        // failure here must not fail the attempt, which would release a key whose message may have gone out.
        const current = yield* Effect.orElseSucceed(messages.findById(message.businessId, message.id), () =>
          Option.none<Message>()
        )
        return delivered(Idempotency.answerNow(unconfirmed, current))
      }
      yield* messages.markFailed(message.businessId, message.id, failureOf(error))
      if (isProviderNotReached(error)) return yield* Effect.fail(error)
      return delivered(new Idempotency.Refused({ error }))
    })

  /** A stored outcome as it answers now: an unconfirmed send is judged by its message (`Idempotency.answerNow`). */
  const answerNow = (actor: Actor, stored: Idempotency.Outcome) =>
    Option.match(Idempotency.unconfirmedMessageId(stored), {
      onNone: () => Effect.succeed(stored),
      onSome: (id) =>
        Effect.map(messages.findById(actor.businessId, id), (current) => Idempotency.answerNow(stored, current))
    })

  /** Runs `attempt` at most once per (business, key); see `Idempotency` for the rule. */
  const idempotent = <E>(
    actor: Actor,
    rawKey: string | undefined,
    fingerprint: string,
    attempt: (key: Option.Option<string>) => Effect.Effect<Delivered, E>
  ): Effect.Effect<
    SendReceipt,
    E | InvalidRequest | Idempotency.IdempotencyKeyReused | Idempotency.IdempotencyKeyInFlight | StorageError
  > =>
    rawKey === undefined
      ? Effect.map(detached(attempt(Option.none())), ({ outcome }) => ({ outcome, replayed: false }))
      : Effect.gen(function* () {
          const key = yield* Effect.mapError(decodeKey(rawKey), (e) =>
            InvalidRequest.single("Idempotency-Key", e.issues[0]?.message ?? "invalid")
          )
          const now = yield* DateTime.now
          const claim = yield* keys.claim(actor.businessId, key, fingerprint, {
            now,
            lockedUntil: DateTime.addDuration(now, policy.lease),
            expiresAt: DateTime.addDuration(now, policy.retention)
          })
          switch (claim._tag) {
            case "Completed":
              return { outcome: yield* answerNow(actor, claim.outcome), replayed: true }
            case "InFlight":
              return yield* Effect.fail(new Idempotency.IdempotencyKeyInFlight())
            case "Mismatch":
              return yield* Effect.fail(new Idempotency.IdempotencyKeyReused())
            case "Abandoned": {
              const outcome = new Idempotency.Refused({
                error: new Idempotency.DeliveryUnconfirmed({
                  messageId: claim.messageId,
                  reason: "an earlier attempt with this key stopped after recording the message"
                })
              })
              yield* keys.complete(actor.businessId, key, outcome)
              return { outcome: yield* answerNow(actor, outcome), replayed: true }
            }
            case "Claimed":
              return yield* detached(
                attempt(Option.some(key)).pipe(
                  // Only a failed attempt releases the key: once the provider answered, the key must not be
                  // released even if storing the outcome fails (the lease then expires into DeliveryUnconfirmed).
                  Effect.onError(() => Effect.ignore(keys.release(actor.businessId, key))),
                  Effect.tap(({ completed, outcome }) =>
                    completed
                      ? Effect.void
                      : keys.complete(actor.businessId, key, outcome).pipe(Effect.retry(Schedule.recurs(2)))
                  ),
                  Effect.map(({ outcome }) => ({ outcome, replayed: false }))
                )
              )
          }
        })

  return { deliver, idempotent }
}
