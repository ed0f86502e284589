/**
 * What an admin's "add a WhatsApp number" body means for each provider: the fields one provider needs and the other
 * must not get, checked together (the schema checks each field's shape alone). A number belongs to exactly one
 * provider, so a Meta number given Twilio credentials (or the reverse) is a 400, not silently half-used.
 */
import type { BusinessId, ProviderName, WhatsAppNumber } from "@parley/core"
import type { Tenancy } from "@parley/postgres"
import { Effect, Redacted } from "effect"
import type { CreateWhatsAppNumberBody } from "./Api.js"
import { invalidRequest } from "./ApiError.js"

const metaId = /^\d{1,32}$/
const e164 = /^\+[1-9]\d{6,14}$/

type Body = typeof CreateWhatsAppNumberBody.Type

/** The issues of a body for its provider; empty when it is whole. */
export const issuesOf = (body: Body): ReadonlyArray<{ readonly path: string; readonly message: string }> => {
  const provider: ProviderName = body.provider ?? "whatsapp_cloud"
  const issues: Array<{ path: string; message: string }> = []
  if (provider === "whatsapp_cloud") {
    if (!metaId.test(body.phoneNumberId)) {
      issues.push({ path: "phoneNumberId", message: "must be Meta's phone_number_id (digits only)" })
    }
    for (const field of ["accountSid", "apiKeySid", "apiKeySecret"] as const) {
      if (body[field] !== undefined) issues.push({ path: field, message: "is for Twilio numbers only" })
    }
    return issues
  }
  if (!e164.test(body.phoneNumberId)) {
    issues.push({
      path: "phoneNumberId",
      message: "must be the Twilio sender's number in E.164 (+ and 7 to 15 digits)"
    })
  }
  if (body.accountSid === undefined) {
    issues.push({ path: "accountSid", message: "is required for a Twilio number (AC and 32 hex digits)" })
  }
  if ((body.apiKeySid === undefined) !== (body.apiKeySecret === undefined)) {
    issues.push({
      path: body.apiKeySid === undefined ? "apiKeySid" : "apiKeySecret",
      message: "an API key needs both apiKeySid and apiKeySecret"
    })
  }
  return issues
}

/** The number to store, or a 400 naming every field that does not fit the provider. */
export const fromBody = (businessId: BusinessId, body: Body) => {
  const issues = issuesOf(body)
  if (issues.length > 0) return Effect.fail(invalidRequest(issues))
  const twilio = body.provider === "twilio"
  return Effect.succeed<Tenancy.NewWhatsAppNumber>({
    businessId,
    provider: body.provider ?? "whatsapp_cloud",
    providerPhoneNumberId: body.phoneNumberId,
    displayPhoneNumber: body.displayPhoneNumber,
    wabaId: body.wabaId ?? null,
    accessToken: Redacted.make(body.accessToken),
    providerAccountId: twilio ? (body.accountSid ?? null) : null,
    providerApiKey:
      twilio && body.apiKeySid !== undefined && body.apiKeySecret !== undefined
        ? { sid: body.apiKeySid, secret: Redacted.make(body.apiKeySecret) }
        : null,
    messagesPerSecond: body.messagesPerSecond
  })
}

/** A number as the admin API shows it: never its access token or API key secret. */
export const numberJson = (number: WhatsAppNumber) => ({
  id: number.id,
  businessId: number.businessId,
  provider: number.provider,
  phoneNumberId: number.providerPhoneNumberId,
  displayPhoneNumber: number.displayPhoneNumber,
  wabaId: number.wabaId,
  messagesPerSecond: number.messagesPerSecond,
  accountSid: number.providerAccountId,
  apiKeySid: number.providerApiKey?.sid ?? null
})
