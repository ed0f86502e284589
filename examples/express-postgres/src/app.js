/**
 * The host's own Express app. Parley's use cases are mounted on the app's routes, behind the app's own auth: a
 * session token that the app maps to a business, a user and the scopes that user has. Parley checks the scopes
 * itself, so a user without `messaging:messages:send` cannot send, whatever route calls it.
 */
import { Inbox, makeActor, WhatsAppNumberDirectory } from "@parley/core"
import { Webhook } from "@parley/whatsapp-cloud"
import { Cause, DateTime, Effect, Either, Exit, Option, Redacted } from "effect"
import express from "express"

/** The app's answer to each Parley error: its own format and statuses. */
const statusOf = {
  MissingScope: 403,
  ConversationNotFound: 404,
  InvalidRequest: 400,
  ParseError: 400,
  InvalidCursor: 400,
  ServiceWindowClosed: 422,
  IdempotencyKeyReused: 422,
  IdempotencyKeyInFlight: 409,
  ProviderUnavailable: 502,
  ProviderMisconfigured: 502,
  ProviderRateLimited: 429,
  StorageError: 503
}

/**
 * @param {{
 *   runtime: import("effect").ManagedRuntime.ManagedRuntime<any, any>,
 *   sessions: Map<string, { businessId: string, userId: string, scopes: string[] }>,
 *   appSecret: string
 * }} options
 */
export const createApp = ({ runtime, sessions, appSecret }) => {
  const app = express()

  /** Runs a Parley effect and answers with its value, or with the app's error format. */
  const answer = async (res, effect, status = 200) => {
    const exit = await runtime.runPromiseExit(effect)
    if (Exit.isSuccess(exit)) return res.status(status).json(exit.value)
    const failure = Cause.failureOption(exit.cause)
    if (Option.isSome(failure)) {
      const error = failure.value
      return res.status(statusOf[error._tag] ?? 500).json({ error: error._tag, message: error.message })
    }
    console.error(Cause.pretty(exit.cause))
    return res.status(500).json({ error: "Internal", message: "unexpected failure" })
  }

  // The app's own auth: a session token → an actor that Parley understands.
  const auth = (req, res, next) => {
    const token = /^Bearer (.+)$/.exec(req.get("authorization") ?? "")?.[1]
    const session = token === undefined ? undefined : sessions.get(token)
    if (session === undefined) return res.status(401).json({ error: "Unauthenticated", message: "log in first" })
    req.actor = makeActor(session)
    next()
  }

  app.get("/inbox", auth, (req, res) =>
    answer(
      res,
      Effect.gen(function* () {
        const inbox = yield* Inbox.Inbox
        const page = yield* inbox.listConversations(req.actor, { status: req.query.status })
        return page.conversations.map(({ conversation, windowClosesAt }) => ({
          id: conversation.id,
          customer: conversation.customerName,
          unread: conversation.unreadCount,
          replyableUntil: Option.match(windowClosesAt, { onNone: () => null, onSome: DateTime.formatIso })
        }))
      })
    )
  )

  app.get("/inbox/:id", auth, (req, res) =>
    answer(
      res,
      Effect.gen(function* () {
        const inbox = yield* Inbox.Inbox
        const detail = yield* inbox.getConversation(req.actor, req.params.id, {})
        return detail.messages.map((m) => ({
          id: m.id,
          direction: m.direction,
          text: m.text,
          status: m.deliveryStatus
        }))
      })
    )
  )

  app.post("/inbox/:id/reply", auth, express.json(), (req, res) =>
    answer(
      res,
      Effect.gen(function* () {
        const inbox = yield* Inbox.Inbox
        const receipt = yield* inbox.sendText(
          req.actor,
          req.params.id,
          { text: req.body?.text },
          { idempotencyKey: req.get("idempotency-key") }
        )
        if (receipt.outcome._tag === "Refused") return { refused: receipt.outcome.error._tag }
        return { id: receipt.outcome.message.id, status: receipt.outcome.message.deliveryStatus }
      }),
      201
    )
  )

  // Meta's webhooks: the signature is checked over the raw bytes, then every message and status is applied.
  // (Parley's own service stores each delivery durably before answering 200 and applies it from a worker; an app
  // that applies it inline, as here, answers 500 on a failure so that Meta redelivers.)
  app.post("/webhooks/whatsapp", express.raw({ type: "*/*", limit: "3mb" }), (req, res) => {
    const signed = Webhook.verifySignature(req.body, req.get(Webhook.signatureHeader), Redacted.make(appSecret))
    if (Either.isLeft(signed)) return res.status(401).end()
    const batch = Webhook.decode(req.body)
    if (Either.isLeft(batch)) return res.status(200).end()
    return answer(
      res,
      Effect.gen(function* () {
        const inbox = yield* Inbox.Inbox
        const numbers = yield* WhatsAppNumberDirectory
        for (const updates of batch.right) {
          const number = yield* numbers.findByProviderId(updates.providerPhoneNumberId)
          if (Option.isNone(number)) continue
          yield* inbox.receiveInbound(number.value, updates.inbound)
          yield* inbox.applyDeliveryStatus(number.value, updates.statuses)
        }
        return { ok: true }
      })
    )
  })

  return app
}
