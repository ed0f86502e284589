/**
 * The messaging endpoints (the public contract): each decodes nothing itself (HttpApi and the core do), calls one
 * use case of the core's `Inbox` as the key's actor, and shapes the answer. A replayed idempotent send answers the
 * stored status and body with `Idempotent-Replayed: true`, refusals included.
 */
import { HttpApiBuilder, HttpApp, type HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { Inbox, InvalidRequest, type Media, RequestIssue, type SendReceipt } from "@parley/core"
import { Effect, Option } from "effect"
import { Api, type SendMediaBody } from "./Api.js"
import { type ApiError, invalidCursor, invalidRequest } from "./ApiError.js"
import { CursorSigning } from "./CursorSigning.js"
import { type DomainError, toApiError } from "./ErrorMapping.js"
import * as Metrics from "./Metrics.js"
import { ConversationDetailPage, ConversationsPage, messageJson, preEncoded, viewJson } from "./Representation.js"
import { CurrentActor } from "./Security.js"

export const replayHeader = "idempotent-replayed"

const markReplayed = HttpApp.appendPreResponseHandler((_request, response) =>
  Effect.succeed(HttpServerResponse.setHeader(response, replayHeader, "true"))
)

/** The Idempotency-Key, if sent; several of them are a 400 (a client bug, not a key). */
const idempotencyKeyOf = (
  request: HttpServerRequest.HttpServerRequest,
  decoded: string | undefined
): Effect.Effect<string | undefined, ApiError> => {
  if (decoded === undefined) return Effect.succeed(undefined)
  const raw = NodeHttpServerRequest.toIncomingMessage(request).rawHeaders
  let count = 0
  for (let i = 0; i < raw.length; i += 2) if (raw[i]?.toLowerCase() === "idempotency-key") count++
  return count > 1
    ? Effect.fail(invalidRequest([{ path: "Idempotency-Key", message: "send the header once" }]))
    : Effect.succeed(decoded)
}

/** The send's answer: the message (201), or the stored provider refusal as an error, marked when replayed. */
const answer = (receipt: SendReceipt, message: string, operation: "sendText" | "sendTemplate") =>
  Effect.gen(function* () {
    if (receipt.replayed) yield* Effect.zipRight(markReplayed, Metrics.countReplay(operation))
    const outcome = receipt.outcome
    if (outcome._tag === "Refused") return yield* Effect.fail(toApiError(outcome.error))
    return { message, data: messageJson(outcome.message) }
  })

/** The template body's fields by the core's names, so a core validation issue names the field the client sent. */
const templateFieldNames: Readonly<Record<string, string>> = {
  whatsappNumberId: "business_whatsapp_number_id",
  templateKey: "template_key",
  customerName: "customer_name"
}

const renameTemplateFields = (error: DomainError): DomainError =>
  error._tag === "InvalidRequest"
    ? new InvalidRequest({
        issues: error.issues.map((issue) => {
          const [head, ...rest] = issue.path.split(".")
          const renamed = head === undefined ? undefined : templateFieldNames[head]
          return renamed === undefined
            ? issue
            : new RequestIssue({ path: [renamed, ...rest].join("."), message: issue.message }, true)
        })
      })
    : error

/** The media body by the core's names (`type` is the core's `kind`). */
const mediaInput = ({ type, ...rest }: typeof SendMediaBody.Type): Media.SendMediaInput => ({ kind: type, ...rest })

/** `toApiError`, with an invalid cursor's 400 naming the query parameter it came in. */
const naming =
  (parameter: "cursor" | "before") =>
  (error: DomainError): ApiError =>
    error._tag === "InvalidCursor" ? invalidCursor(parameter) : toApiError(error)

export const MessagingLive = HttpApiBuilder.group(Api, "messaging", (handlers) =>
  Effect.gen(function* () {
    const inbox = yield* Inbox.Inbox
    const cursors = yield* CursorSigning
    /** The core's cursor inside the signed one the client sent back. */
    const opened = (signed: string | undefined) =>
      signed === undefined ? Effect.succeed(undefined) : cursors.open(signed)
    const signed = (cursor: Option.Option<string>) => Option.getOrNull(Option.map(cursor, cursors.sign))
    const conversationsPage = preEncoded(ConversationsPage)
    const conversationDetailPage = preEncoded(ConversationDetailPage)
    return handlers
      .handle("listConversations", ({ urlParams }) =>
        Effect.gen(function* () {
          const actor = yield* CurrentActor
          const cursor = yield* opened(urlParams.cursor)
          const page = yield* inbox.listConversations(actor, {
            ...urlParams,
            ...(cursor === undefined ? {} : { cursor })
          })
          return conversationsPage({
            message: "Conversations retrieved",
            data: page.conversations.map(viewJson),
            page: { nextCursor: signed(page.nextCursor) }
          })
        }).pipe(Effect.mapError(naming("cursor")))
      )
      .handle("getConversation", ({ path, urlParams }) =>
        Effect.gen(function* () {
          const actor = yield* CurrentActor
          const before = yield* opened(urlParams.before)
          const detail = yield* inbox.getConversation(actor, path.id, {
            ...urlParams,
            ...(before === undefined ? {} : { before })
          })
          return conversationDetailPage({
            message: "Conversation retrieved",
            data: { ...viewJson(detail), messages: detail.messages.map(messageJson) },
            page: { nextCursor: signed(detail.olderCursor) }
          })
        }).pipe(Effect.mapError(naming("before")))
      )
      .handle("sendText", ({ path, payload, headers, request }) =>
        Effect.gen(function* () {
          const actor = yield* CurrentActor
          const idempotencyKey = yield* idempotencyKeyOf(request, headers["idempotency-key"])
          const receipt = yield* (
            "text" in payload
              ? inbox.sendText(actor, path.id, payload, { idempotencyKey })
              : inbox.sendMedia(actor, path.id, mediaInput(payload), { idempotencyKey })
          ).pipe(Effect.mapError(toApiError))
          return yield* answer(receipt, "Message sent", "sendText")
        })
      )
      .handle("sendTemplate", ({ payload, headers, request }) =>
        Effect.gen(function* () {
          const actor = yield* CurrentActor
          const idempotencyKey = yield* idempotencyKeyOf(request, headers["idempotency-key"])
          const receipt = yield* inbox
            .sendTemplate(
              actor,
              {
                whatsappNumberId: payload.business_whatsapp_number_id,
                phone: payload.phone,
                templateKey: payload.template_key,
                ...(payload.customer_name === undefined ? {} : { customerName: payload.customer_name }),
                ...(payload.variables === undefined ? {} : { variables: payload.variables })
              },
              { idempotencyKey }
            )
            .pipe(Effect.mapError((error) => toApiError(renameTemplateFields(error))))
          return yield* answer(receipt, "Template sent", "sendTemplate")
        })
      )
      .handle("updateConversation", ({ path, payload }) =>
        Effect.gen(function* () {
          const actor = yield* CurrentActor
          const view = yield* inbox.updateConversation(actor, path.id, payload)
          return { message: "Conversation updated", data: viewJson(view) }
        }).pipe(Effect.mapError(toApiError))
      )
      .handle("markRead", ({ path }) =>
        Effect.gen(function* () {
          const actor = yield* CurrentActor
          const view = yield* inbox.markRead(actor, path.id)
          return { message: "Conversation marked read", data: viewJson(view) }
        }).pipe(Effect.mapError(toApiError))
      )
  })
)
