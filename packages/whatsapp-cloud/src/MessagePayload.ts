/**
 * The JSON bodies of `POST /{version}/{phone-number-id}/messages`, built from the core's send requests, and the
 * schema of Meta's answer. Pure: no I/O.
 */
import type { BoundComponent, BoundParameter, BoundTemplate, CustomerIdentity, MessageId, SendText } from "@parley/core"
import { Option, Schema } from "effect"

/** Meta's limit for `text.body`. */
export const maxTextLength = 4096

/**
 * Who a send goes to: the E.164 phone (with `+`, as Meta recommends), else the business-scoped user id (Meta's
 * Nov 2025 preview addresses BSUIDs through `to` as well).
 */
export const recipientOf = (to: CustomerIdentity): string =>
  Option.match(to.phone, {
    onSome: (phone) => phone,
    onNone: () => Option.getOrElse(to.userId, () => "")
  })

const envelope = (to: CustomerIdentity, messageId: MessageId) => ({
  messaging_product: "whatsapp" as const,
  recipient_type: "individual" as const,
  to: recipientOf(to),
  biz_opaque_callback_data: messageId
})

/** A free-form text; `previewUrl` asks WhatsApp to render a preview of the first link. */
export const textMessage = (request: Pick<SendText, "to" | "messageId" | "text">, previewUrl = false) => ({
  ...envelope(request.to, request.messageId),
  type: "text" as const,
  text: { preview_url: previewUrl, body: request.text }
})

export const parameterJson = (parameter: BoundParameter): Record<string, unknown> => {
  switch (parameter.type) {
    case "text":
      return parameter.parameterName === undefined
        ? { type: "text", text: parameter.text }
        : { type: "text", parameter_name: parameter.parameterName, text: parameter.text }
    case "image":
    case "video":
    case "document": {
      const media = parameter.id !== undefined ? { id: parameter.id } : { link: parameter.link ?? "" }
      return { type: parameter.type, [parameter.type]: media }
    }
    case "coupon_code":
      return { type: "coupon_code", coupon_code: parameter.couponCode }
  }
}

export const componentJson = (component: BoundComponent): Record<string, unknown> =>
  component.type === "button"
    ? {
        type: "button",
        sub_type: component.subType,
        index: String(component.index),
        parameters: component.parameters.map(parameterJson)
      }
    : { type: component.type, parameters: component.parameters.map(parameterJson) }

/** Meta's `template` object: name + language, and components only for the variable parts. */
export const templateJson = (template: BoundTemplate): Record<string, unknown> => {
  const components = template.components.filter((c) => c.parameters.length > 0).map(componentJson)
  return components.length > 0
    ? { name: template.name, language: { code: template.language }, components }
    : { name: template.name, language: { code: template.language } }
}

export const templateMessage = (request: {
  readonly to: CustomerIdentity
  readonly messageId: MessageId
  readonly template: BoundTemplate
}) => ({
  ...envelope(request.to, request.messageId),
  type: "template" as const,
  template: templateJson(request.template)
})

/** Marks an inbound message (and the ones before it) read. */
export const readReceipt = (providerMessageId: string) => ({
  messaging_product: "whatsapp" as const,
  status: "read" as const,
  message_id: providerMessageId
})

/** Meta's 200 answer to a send; `message_status` is the template pacing state when present. */
export const SendResponse = Schema.Struct({
  messaging_product: Schema.optional(Schema.String),
  contacts: Schema.optional(
    Schema.Array(
      Schema.Struct({
        input: Schema.optional(Schema.String),
        wa_id: Schema.optional(Schema.String),
        user_id: Schema.optional(Schema.String)
      })
    )
  ),
  messages: Schema.NonEmptyArray(
    Schema.Struct({
      id: Schema.String.pipe(Schema.minLength(1)),
      message_status: Schema.optional(Schema.String)
    })
  )
})
export type SendResponse = typeof SendResponse.Type

/** Meta's 200 answer to a read receipt. */
export const SuccessResponse = Schema.Struct({ success: Schema.Boolean })
