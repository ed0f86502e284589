/**
 * The webhooks the fake Cloud API emits, as Meta shapes them: the `messages` envelope of a number, statuses (with
 * pricing and errors as Meta adds them), and customers' text and media messages; and their delivery, Meta-escaped
 * and signed.
 */
import type {
  InboundMediaWebhook,
  InboundTextWebhook,
  Options,
  StatusWebhook,
  WebhookDelivery,
  WebhookTarget
} from "./FakeCloudModel.js"
import { makeWamid, metaJson, signatureOf } from "./FakeGraphFormats.js"

/** Whose webhooks they are: the fake's business account and number (Meta's test values when not given). */
export type WebhookIdentity = Pick<Options, "wabaId" | "phoneNumberId" | "displayPhoneNumber">

/** POSTs `payload` to `target.url`, Meta-escaped and signed with `X-Hub-Signature-256`. */
export const emitWebhook = async (target: WebhookTarget, payload: unknown): Promise<WebhookDelivery> => {
  const rawBody = metaJson(payload)
  const signature = signatureOf(rawBody, target.appSecret)
  const response = await fetch(target.url, {
    method: "POST",
    headers: { "content-type": "application/json", "x-hub-signature-256": signature },
    body: rawBody
  })
  return { status: response.status, body: await response.text(), rawBody, signature }
}

/** The `messages` webhook envelope for one change of the number. */
export const envelope = (
  identity: WebhookIdentity,
  value: Readonly<Record<string, unknown>>,
  phoneNumberId?: string
): unknown => ({
  object: "whatsapp_business_account",
  entry: [
    {
      id: identity.wabaId ?? "100000000000001",
      changes: [
        {
          value: {
            messaging_product: "whatsapp",
            metadata: {
              display_phone_number: identity.displayPhoneNumber ?? "15550002222",
              phone_number_id: phoneNumberId ?? identity.phoneNumberId ?? "200000000000002"
            },
            ...value
          },
          field: "messages"
        }
      ]
    }
  ]
})

export const statusPayload = (identity: WebhookIdentity, statuses: ReadonlyArray<StatusWebhook>): unknown => {
  const now = Math.floor(Date.now() / 1000)
  return envelope(
    identity,
    {
      statuses: statuses.map((s) => {
        const error = s.error ?? (s.status === "failed" ? { code: 131047, title: "Re-engagement message" } : undefined)
        return {
          id: s.wamid,
          status: s.status,
          timestamp: String(s.timestamp ?? now),
          recipient_id: s.recipientId.replace(/\D+/g, ""),
          ...(s.bizOpaqueCallbackData ? { biz_opaque_callback_data: s.bizOpaqueCallbackData } : {}),
          ...(s.status === "sent" || s.status === "delivered"
            ? {
                pricing: { billable: false, pricing_model: "PMP", type: "free_customer_service", category: "service" }
              }
            : {}),
          ...(error
            ? {
                errors: [
                  {
                    code: error.code,
                    title: error.title,
                    message: error.title,
                    error_data: { details: error.details ?? error.title },
                    href: "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"
                  }
                ]
              }
            : {})
        }
      })
    },
    statuses[0]?.phoneNumberId
  )
}

/** A customer's message of `type` carrying `content`, with the customer's profile. */
const customerMessage = (
  identity: WebhookIdentity,
  message: {
    readonly from: string
    readonly profileName?: string
    readonly wamid?: string
    readonly phoneNumberId?: string
  },
  timestamp: number,
  type: string,
  content: unknown
): unknown => {
  const from = message.from.replace(/\D+/g, "")
  return envelope(
    identity,
    {
      contacts: [{ profile: { name: message.profileName ?? "Sandbox Customer" }, wa_id: from }],
      messages: [
        {
          from,
          id: message.wamid ?? makeWamid(from),
          timestamp: String(timestamp),
          type,
          [type]: content
        }
      ]
    },
    message.phoneNumberId
  )
}

export const inboundTextPayload = (identity: WebhookIdentity, message: InboundTextWebhook): unknown =>
  customerMessage(identity, message, message.timestamp ?? Math.floor(Date.now() / 1000), "text", {
    body: message.text
  })

export const inboundMediaPayload = (identity: WebhookIdentity, message: InboundMediaWebhook): unknown => {
  const object: Record<string, unknown> = {
    id: message.media.id,
    mime_type: message.media.mimeType,
    sha256: message.media.sha256Base64
  }
  if (message.caption !== undefined) object.caption = message.caption
  if (message.filename !== undefined) object.filename = message.filename
  if (message.voice !== undefined) object.voice = message.voice
  if (message.animated !== undefined) object.animated = message.animated
  return customerMessage(identity, message, Math.floor(Date.now() / 1000), message.kind, object)
}
