/**
 * What the API returns: conversations and messages as JSON (their schemas live in the core, shared with events), the
 * `{ message, data }` envelope and the `page` beside it.
 */
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
