/**
 * The admin endpoints for webhook items that failed: list them (keyset pages with signed cursors, like the public
 * API) and replay one.
 */
import { HttpApiBuilder } from "@effect/platform"
import { Cursor } from "@parley/core"
import { WebhookInbox } from "@parley/postgres"
import { DateTime, Effect, Either, Option } from "effect"
import { Api } from "./Api.js"
import { ApiError } from "./ApiError.js"
import { CursorSigning } from "./CursorSigning.js"
import { toApiError } from "./ErrorMapping.js"
import { WebhookProcessor } from "./WebhookProcessor.js"

const isoOrNull = (t: DateTime.Utc | null) => (t === null ? null : DateTime.formatIso(t))

export const deadLetterJson = (failure: WebhookInbox.ItemFailure) => ({
  id: failure.id,
  deliveryId: failure.deliveryId,
  phoneNumberId: failure.providerPhoneNumberId,
  kind: failure.kind,
  itemKey: failure.itemKey,
  state: failure.state,
  attempts: failure.attempts,
  lastError: failure.lastError,
  firstFailedAt: DateTime.formatIso(failure.firstFailedAt),
  lastFailedAt: DateTime.formatIso(failure.lastFailedAt),
  deadAt: isoOrNull(failure.deadAt),
  resolvedAt: isoOrNull(failure.resolvedAt)
})

const notFound = (id: string) =>
  ApiError.make(404, "webhook_dead_letter_not_found", "no such failed webhook item", { id: id.slice(0, 100) })

export const AdminWebhooksLive = HttpApiBuilder.group(Api, "adminWebhooks", (handlers) =>
  Effect.gen(function* () {
    const store = yield* WebhookInbox.WebhookInbox
    const processor = yield* WebhookProcessor
    const cursors = yield* CursorSigning
    return handlers
      .handle("listWebhookDeadLetters", ({ urlParams }) =>
        Effect.gen(function* () {
          const limit = urlParams.limit ?? 50
          const after =
            urlParams.cursor === undefined
              ? undefined
              : yield* Either.match(Either.flatMap(cursors.open(urlParams.cursor), Cursor.decode), {
                  onLeft: (error) => Effect.fail(toApiError(error)),
                  onRight: Effect.succeed
                })
          const rows = yield* store
            .listFailures({ limit: limit + 1, state: urlParams.state, after })
            .pipe(Effect.mapError(toApiError))
          const page = rows.slice(0, limit)
          const last = page[page.length - 1]
          return {
            message: "Failed webhook items",
            data: page.map(deadLetterJson),
            page: {
              nextCursor:
                rows.length > limit && last !== undefined
                  ? cursors.sign(Cursor.encode({ at: last.firstFailedAt, id: last.id }))
                  : null
            }
          }
        })
      )
      .handle("replayWebhookDeadLetter", ({ path }) =>
        Effect.gen(function* () {
          const replayed = yield* processor.replay(path.id).pipe(Effect.mapError(toApiError))
          if (Option.isNone(replayed)) return yield* Effect.fail(notFound(path.id))
          const { applied, failure } = replayed.value
          if (!applied) {
            return yield* Effect.fail(
              ApiError.make(422, "webhook_replay_failed", `the item failed again: ${failure.lastError}`, {
                deadLetter: deadLetterJson(failure)
              })
            )
          }
          return { message: "Webhook item applied", data: deadLetterJson(failure) }
        })
      )
  })
)
