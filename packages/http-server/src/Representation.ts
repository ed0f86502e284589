/**
 * What the API returns: conversations and messages as JSON (their schemas live in the core, shared with events), the
 * `{ message, data }` envelope and the `page` beside it.
 */
import { HttpServerResponse } from "@effect/platform"
import { Representation } from "@parley/core"
import { Schema } from "effect"

export const { ConversationJson, MessageJson, conversationJson, viewJson, messageJson } = Representation
export type ConversationJson = Representation.ConversationJson
export type MessageJson = Representation.MessageJson

export const ConversationDetailJson = Schema.Struct({
  ...ConversationJson.fields,
  messages: Schema.Array(MessageJson).annotations({ description: "Newest first" })
}).annotations({ identifier: "ConversationDetail" })

export const Page = Schema.Struct({
  nextCursor: Schema.NullOr(Schema.String).annotations({
    description: "Pass it back (as `cursor`, or `before` for messages) for the next page; null on the last page"
  })
}).annotations({ identifier: "Page" })

/** `{ "message": "...", "data": ... }` */
export const Envelope = <S extends Schema.Schema.Any>(data: S) => Schema.Struct({ message: Schema.String, data })

/** `{ "message": "...", "data": [...], "page": { "nextCursor": ... } }` */
export const PagedEnvelope = <S extends Schema.Schema.Any>(data: S) =>
  Schema.Struct({ message: Schema.String, data, page: Page })

/** `GET /conversations`: a page of conversations. */
export const ConversationsPage = PagedEnvelope(Schema.Array(ConversationJson))

/** `GET /conversations/{id}`: one conversation with a page of its messages. */
export const ConversationDetailPage = PagedEnvelope(ConversationDetailJson)

/**
 * A success body already in its wire form, sent as JSON without HttpApi's encoding pass. For the read endpoints'
 * bodies, built by the `*Json` functions from schemas of plain strings and numbers: encoding them again would only
 * copy every object, which was a large share of a list request's CPU time. The type is the schema's encoded side,
 * so a body that does not match the documented schema does not compile.
 *
 * The JSON text goes to Node as a string (a raw body, with its length in bytes), which Node writes to the socket
 * encoding it as it copies: `unsafeJson` first encodes it into a new `Uint8Array` (a `TextEncoder` pass and a copy
 * of every byte, 7 % of a list request's CPU).
 */
export const preEncoded =
  <S extends Schema.Schema.Any>(_schema: S) =>
  (body: Schema.Schema.Encoded<S>): HttpServerResponse.HttpServerResponse => {
    const json = JSON.stringify(body)
    return HttpServerResponse.raw(json, { contentType: "application/json", contentLength: Buffer.byteLength(json) })
  }
