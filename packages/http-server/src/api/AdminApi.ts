/** The admin API: businesses, users, WhatsApp numbers, API keys, templates (the standalone service's operators). */
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "@effect/platform"
import {
  MessagesPerSecond,
  ParameterFormat,
  ProviderName,
  Scope,
  TemplateCategory,
  TemplateComponent,
  TemplateStatus,
  Text
} from "@parley/core"
import { Schema } from "effect"
import { ErrorBody } from "../ApiError.js"
import { Envelope } from "../Representation.js"
import { AdminAuth } from "../Security.js"
import { answers, strict } from "./common.js"

const Name = Text.Storable.pipe(Schema.minLength(1), Schema.maxLength(200))

export const BusinessJson = Schema.Struct({ id: Schema.String, name: Schema.String, createdAt: Schema.String })
export const UserJson = Schema.Struct({
  id: Schema.String,
  businessId: Schema.String,
  name: Schema.String,
  createdAt: Schema.String
})
export const WhatsAppNumberJson = Schema.Struct({
  id: Schema.String,
  businessId: Schema.String,
  provider: ProviderName,
  phoneNumberId: Schema.String.annotations({
    description: "Meta's phone_number_id, or the Twilio sender's E.164"
  }),
  displayPhoneNumber: Schema.String,
  wabaId: Schema.NullOr(Schema.String),
  messagesPerSecond: Schema.Number.annotations({
    description:
      "Messages per second Parley sends from the number at most: Meta's throughput tier (80 standard, 1000 upgraded)"
  }),
  accountSid: Schema.NullOr(Schema.String).annotations({ description: "Twilio's Account SID; null for Meta" }),
  apiKeySid: Schema.NullOr(Schema.String).annotations({
    description: "The Twilio API key requests are made with (its secret is never returned); null: the auth token"
  })
})
export const ApiKeyJson = Schema.Struct({
  id: Schema.String,
  businessId: Schema.String,
  userId: Schema.NullOr(Schema.String),
  name: Schema.String,
  shortId: Schema.String,
  scopes: Schema.Array(Scope),
  createdAt: Schema.String,
  key: Schema.String.annotations({ description: "The key itself: shown only in this response, store it now" })
})
export const TemplateJson = Schema.Struct({
  id: Schema.String,
  businessId: Schema.String,
  key: Schema.String,
  name: Schema.String,
  language: Schema.String,
  category: TemplateCategory,
  status: TemplateStatus,
  parameterFormat: ParameterFormat,
  components: Schema.Array(TemplateComponent)
})
export const SyncJson = Schema.Struct({
  upserted: Schema.Array(TemplateJson),
  skipped: Schema.Array(Schema.Struct({ name: Schema.String, language: Schema.String, reason: Schema.String })),
  messagesPerSecond: Schema.Number.annotations({
    description: "The number's throughput after the sync: Meta's tier when it reports one, else unchanged"
  })
})

export const BusinessPath = Schema.Struct({ businessId: Schema.String })

export const CreateBusinessBody = Schema.Struct({ name: Name }).annotations({
  ...strict,
  identifier: "CreateBusiness",
  examples: [{ name: "Acme Deliveries" }]
})
export const CreateUserBody = Schema.Struct({ name: Name }).annotations({
  ...strict,
  identifier: "CreateUser",
  examples: [{ name: "Grace" }]
})
export const CreateWhatsAppNumberBody = Schema.Struct({
  provider: Schema.optional(
    ProviderName.annotations({ description: "Who carries the number's messages (default `whatsapp_cloud`)" })
  ),
  phoneNumberId: Schema.String.pipe(
    Schema.pattern(/^(?:\d{1,32}|\+[1-9]\d{6,14})$/, {
      message: () => "must be Meta's phone_number_id (digits) or, for Twilio, the sender's E.164 (+ and digits)"
    })
  ).annotations({
    description: "Meta's phone_number_id; for `twilio`, the WhatsApp sender's number in E.164 (`+15550002222`)"
  }),
  displayPhoneNumber: Text.Storable.pipe(Schema.minLength(1), Schema.maxLength(32)),
  wabaId: Schema.optional(
    Schema.String.pipe(Schema.pattern(/^\d{1,32}$/)).annotations({ description: "WhatsApp Business Account id" })
  ),
  accessToken: Text.Storable.pipe(Schema.minLength(1), Schema.maxLength(4096)).annotations({
    description:
      "Meta access token; for `twilio`, the account's auth token (it also signs Twilio's webhooks). Stored " +
      "encrypted, never returned"
  }),
  accountSid: Schema.optional(
    Schema.String.pipe(
      Schema.pattern(/^AC[0-9a-fA-F]{32}$/, { message: () => "must be a Twilio Account SID: AC and 32 hex digits" })
    ).annotations({ description: "`twilio` only, required: the Account SID (`AC…`)" })
  ),
  apiKeySid: Schema.optional(
    Schema.String.pipe(
      Schema.pattern(/^SK[0-9a-fA-F]{32}$/, { message: () => "must be a Twilio API key SID: SK and 32 hex digits" })
    ).annotations({ description: "`twilio` only: an API key (`SK…`) to send with instead of the auth token" })
  ),
  apiKeySecret: Schema.optional(
    Text.Storable.pipe(Schema.minLength(1), Schema.maxLength(4096)).annotations({
      description: "`twilio` only, with `apiKeySid`: the API key's secret. Stored encrypted, never returned"
    })
  ),
  messagesPerSecond: Schema.optional(
    MessagesPerSecond.annotations({
      description:
        "The number's throughput, 1 to 1000 messages per second. Absent: read from Meta (`fields=throughput`: " +
        "STANDARD 80, HIGH 1000), or 80 when Meta does not say (Twilio numbers: 80)"
    })
  )
}).annotations({
  ...strict,
  identifier: "CreateWhatsAppNumber",
  examples: [
    {
      phoneNumberId: "106540352242922",
      displayPhoneNumber: "+1 555-0100",
      wabaId: "102290129340398",
      accessToken: "EAAG…"
    },
    {
      provider: "twilio",
      phoneNumberId: "+15550002222",
      displayPhoneNumber: "+1 555-000-2222",
      accessToken: "your-twilio-auth-token",
      accountSid: "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
      apiKeySid: "SKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
      apiKeySecret: "your-api-key-secret"
    }
  ]
})
export const CreateApiKeyBody = Schema.Struct({
  name: Schema.optional(Name),
  userId: Schema.optional(Schema.UUID.annotations({ description: "The user the key acts for (`assigned=me`)" })),
  scopes: Schema.NonEmptyArray(Scope)
}).annotations({
  ...strict,
  identifier: "CreateApiKey",
  examples: [{ name: "support desk", scopes: ["messaging:conversations:read", "messaging:messages:send"] }]
})
export const CreateTemplateBody = Schema.Struct({
  key: Text.Storable.pipe(Schema.minLength(1), Schema.maxLength(512)),
  name: Text.Storable.pipe(Schema.minLength(1), Schema.maxLength(512)),
  language: Text.Storable.pipe(Schema.minLength(2), Schema.maxLength(16)),
  category: TemplateCategory,
  status: TemplateStatus,
  parameterFormat: ParameterFormat,
  components: Schema.Array(TemplateComponent).annotations({
    description: 'Meta\'s template format, e.g. `[{ "type": "BODY", "text": "Order {{order_id}} arrives {{eta}}" }]`'
  })
}).annotations({
  ...strict,
  identifier: "CreateTemplate",
  examples: [
    {
      key: "order_shipped",
      name: "order_shipped",
      language: "en",
      category: "UTILITY",
      status: "APPROVED",
      parameterFormat: "NAMED",
      components: [{ type: "BODY", text: "Order {{order_id}} arrives {{eta}}" }]
    }
  ]
})
export const UpdateWhatsAppNumberBody = Schema.Struct({
  messagesPerSecond: MessagesPerSecond.annotations({
    description: "The number's throughput, 1 to 1000 messages per second (Meta: 80 standard, 1000 upgraded)"
  })
}).annotations({ ...strict, identifier: "UpdateWhatsAppNumber", examples: [{ messagesPerSecond: 1000 }] })
export const SyncTemplatesBody = Schema.Struct({ whatsappNumberId: Schema.UUID }).annotations({
  ...strict,
  identifier: "SyncTemplates",
  examples: [{ whatsappNumberId: "0190a4b2-7c1d-7e3f-8a5b-6c7d8e9f0a1d" }]
})

export const admin = HttpApiGroup.make("admin")
  .add(
    HttpApiEndpoint.post("createBusiness", "/businesses")
      .setPayload(CreateBusinessBody)
      .addSuccess(Envelope(BusinessJson), { status: 201 })
      .annotate(OpenApi.Summary, "Create a business")
  )
  .add(
    HttpApiEndpoint.post("createUser", "/businesses/:businessId/users")
      .setPath(BusinessPath)
      .setPayload(CreateUserBody)
      .addSuccess(Envelope(UserJson), { status: 201 })
      .annotate(OpenApi.Summary, "Create a user")
  )
  .add(
    HttpApiEndpoint.post("createWhatsAppNumber", "/businesses/:businessId/whatsapp-numbers")
      .setPath(BusinessPath)
      .setPayload(CreateWhatsAppNumberBody)
      .addSuccess(Envelope(WhatsAppNumberJson), { status: 201 })
      .pipe(answers(409))
      .annotate(OpenApi.Summary, "Add a WhatsApp number")
  )
  .add(
    HttpApiEndpoint.patch("updateWhatsAppNumber", "/businesses/:businessId/whatsapp-numbers/:whatsappNumberId")
      .setPath(Schema.Struct({ businessId: Schema.String, whatsappNumberId: Schema.String }))
      .setPayload(UpdateWhatsAppNumberBody)
      .addSuccess(Envelope(WhatsAppNumberJson))
      .annotate(OpenApi.Summary, "Set a number's throughput")
      .annotate(
        OpenApi.Description,
        "Sets the messages per second Parley sends from the number at most, e.g. after Meta upgraded it. Template " +
          "sync reads Meta's tier again."
      )
  )
  .add(
    HttpApiEndpoint.post("createApiKey", "/businesses/:businessId/api-keys")
      .setPath(BusinessPath)
      .setPayload(CreateApiKeyBody)
      .addSuccess(Envelope(ApiKeyJson), { status: 201 })
      .annotate(OpenApi.Summary, "Create an API key")
  )
  .add(
    HttpApiEndpoint.del("revokeApiKey", "/businesses/:businessId/api-keys/:apiKeyId")
      .setPath(Schema.Struct({ businessId: Schema.String, apiKeyId: Schema.String }))
      .addSuccess(HttpApiSchema.NoContent)
      .annotate(OpenApi.Summary, "Revoke an API key")
  )
  .add(
    HttpApiEndpoint.post("createTemplate", "/businesses/:businessId/templates")
      .setPath(BusinessPath)
      .setPayload(CreateTemplateBody)
      .addSuccess(Envelope(TemplateJson), { status: 201 })
      .annotate(OpenApi.Summary, "Create or replace a template")
  )
  .add(
    HttpApiEndpoint.post("syncTemplates", "/businesses/:businessId/templates/sync")
      .setPath(BusinessPath)
      .setPayload(SyncTemplatesBody)
      .addSuccess(Envelope(SyncJson))
      .pipe(answers(422, 502))
      .annotate(OpenApi.Summary, "Sync templates from the number's provider (Meta, or Twilio's Content API)")
  )
  .addError(ErrorBody, { status: 400 })
  .addError(ErrorBody, { status: 401 })
  .addError(ErrorBody, { status: 404 })
  .addError(ErrorBody, { status: 413 })
  .addError(ErrorBody, { status: 415 })
  .addError(ErrorBody, { status: 429 })
  .addError(ErrorBody, { status: 503 })
  .middleware(AdminAuth)
  .prefix("/v1/admin")
  .annotate(OpenApi.Title, "Admin")
  .annotate(OpenApi.Description, "Businesses, users, numbers, API keys and templates. Bearer `PARLEY_ADMIN_TOKEN`.")
