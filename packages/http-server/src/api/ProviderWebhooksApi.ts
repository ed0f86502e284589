/** The providers' webhooks: Meta's (verification handshake and signed deliveries) and Twilio's (form-encoded). */
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import { Envelope } from "../Representation.js"
import { answers } from "./common.js"

export const VerifyParams = Schema.Struct({
  "hub.mode": Schema.optional(Schema.String),
  "hub.verify_token": Schema.optional(Schema.String),
  "hub.challenge": Schema.optional(Schema.String)
})

export const WebhookEnvelope = Schema.Struct({
  object: Schema.optional(Schema.String),
  entry: Schema.Array(Schema.Unknown)
}).annotations({
  identifier: "WhatsAppWebhook",
  description: "Meta's webhook payload, signed with `X-Hub-Signature-256` over the raw bytes (up to 3 MB)",
  examples: [
    {
      object: "whatsapp_business_account",
      entry: [{ id: "102290129340398", changes: [{ field: "messages", value: { messaging_product: "whatsapp" } }] }]
    }
  ]
})

export const webhooks = HttpApiGroup.make("webhooks")
  .add(
    HttpApiEndpoint.get("verifyWebhook", "/webhooks/whatsapp")
      .setUrlParams(VerifyParams)
      .addSuccess(HttpApiSchema.Text())
      .pipe(answers(403))
      .annotate(OpenApi.Summary, "Meta's verification handshake")
      .annotate(OpenApi.Description, "Echoes `hub.challenge` when `hub.verify_token` is `WHATSAPP_VERIFY_TOKEN`.")
  )
  .add(
    HttpApiEndpoint.post("receiveWebhook", "/webhooks/whatsapp")
      .setHeaders(Schema.Struct({ "x-hub-signature-256": Schema.optional(Schema.String) }))
      .setPayload(WebhookEnvelope)
      .addSuccess(Envelope(Schema.Struct({ delivery: Schema.Literal("stored", "duplicate") })))
      .pipe(answers(400, 401, 413, 415, 503))
      .annotate(OpenApi.Summary, "Receive Meta's webhooks")
      .annotate(
        OpenApi.Description,
        "Inbound messages and delivery statuses. The signature is checked over the raw body with " +
          "`WHATSAPP_APP_SECRET`; the delivery is stored durably and answered 200 without being processed: the " +
          "webhook worker then applies every item once (items the database refuses are set aside, see the admin " +
          "`webhook-dead-letters` endpoints)."
      )
  )
  .annotate(OpenApi.Title, "Webhooks")
  .annotate(OpenApi.Description, "Meta's WhatsApp webhooks: the verification handshake and signed deliveries.")

// ---------------------------------------------------------------------------------------------------------------
// Webhooks (Twilio)

export const TwilioWebhookForm = Schema.Record({ key: Schema.String, value: Schema.String })
  .pipe(HttpApiSchema.withEncoding({ kind: "UrlParams" }))
  .annotations({
    identifier: "TwilioWebhook",
    description:
      "Twilio's form-encoded webhook: an inbound WhatsApp message (`MessageSid`, `From`, `To`, `Body`, `NumMedia`, " +
      "`MediaUrl0`…) or a status callback (`MessageSid`, `MessageStatus`, `ErrorCode`…). Signed with " +
      "`X-Twilio-Signature` over the public URL Twilio called and the sorted parameters",
    examples: [
      {
        MessageSid: "SM0123456789abcdef0123456789abcdef",
        AccountSid: "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        From: "whatsapp:+15550001111",
        To: "whatsapp:+15550002222",
        Body: "Hi",
        NumMedia: "0",
        ProfileName: "Ana",
        WaId: "15550001111"
      }
    ]
  })

export const twilioWebhooks = HttpApiGroup.make("twilioWebhooks")
  .add(
    HttpApiEndpoint.post("receiveTwilioWebhook", "/webhooks/twilio")
      .setHeaders(Schema.Struct({ "x-twilio-signature": Schema.optional(Schema.String) }))
      .setPayload(TwilioWebhookForm)
      .addSuccess(HttpApiSchema.Text({ contentType: "text/xml" }).annotations({ description: "`<Response/>`" }))
      .pipe(answers(403, 413, 415, 503))
      .annotate(OpenApi.Summary, "Receive Twilio's webhooks")
      .annotate(
        OpenApi.Description,
        "Inbound messages and status callbacks of Twilio numbers (set this URL as the sender's webhook in the " +
          "Twilio console; sends name it as their `StatusCallback`). The signature is checked with the auth token " +
          "of the Twilio number the webhook is for, over `PARLEY_PUBLIC_URL` + `/webhooks/twilio`; then the " +
          "delivery is stored durably and answered with an empty TwiML `<Response/>`, and the webhook worker " +
          "applies it like Meta's. A bad or missing signature, or a number no business registered, is 403 and " +
          "nothing is stored."
      )
  )
  .annotate(OpenApi.Title, "Twilio webhooks")
  .annotate(OpenApi.Description, "Twilio's signed, form-encoded WhatsApp webhooks.")
