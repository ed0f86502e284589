/**
 * What the fake Twilio API says and posts: Twilio's error bodies, sids, and the signed form posts of status callbacks
 * and inbound messages.
 */
import { randomBytes } from "node:crypto"
import * as TwilioWebhook from "../TwilioWebhook.js"

/** HTTP status and message Twilio answers for the codes tests script most. */
const knownErrors: Readonly<Record<number, readonly [number, string]>> = {
  20003: [401, "Authenticate"],
  20404: [404, "The requested resource was not found"],
  20429: [429, "Too Many Requests"],
  20503: [503, "Service unavailable"],
  21211: [400, "The 'To' number is not a valid phone number."],
  21606: [400, "The 'From' phone number provided is not a valid message-capable phone number for this destination."],
  21614: [400, "'To' number is not a valid mobile number"],
  21619: [400, "A text message body or media urls must be specified."],
  21654: [400, "ContentVariables given without ContentSid"],
  21656: [400, "The ContentVariables Parameter is invalid."],
  63016: [400, "Failed to send freeform message because you are outside the allowed window."],
  63018: [429, "Rate limit exceeded for Channel"],
  63027: [400, "Template does not exist for a language and locale"]
}

export const errorStatus = (code: number): number => knownErrors[code]?.[0] ?? 400

/** Twilio's error body. */
export const errorBody = (code: number, status: number = errorStatus(code), message?: string) => ({
  code,
  message: message ?? knownErrors[code]?.[1] ?? "Fake Twilio error",
  more_info: `https://www.twilio.com/docs/errors/${code}`,
  status
})

/** `prefix` + 32 hex digits, like Twilio's sids. */
export const makeSid = (prefix: string): string => `${prefix}${randomBytes(16).toString("hex")}`

export interface Delivery {
  readonly status: number
  readonly body: string
  readonly signature: string
}

/** Posts `params` form-encoded to `url`, signed with `authToken` like Twilio signs its webhooks. */
export const deliver = async (
  url: string,
  params: ReadonlyArray<readonly [string, string]>,
  authToken: string
): Promise<Delivery> => {
  const signature = TwilioWebhook.sign(url, params, authToken)
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", "x-twilio-signature": signature },
    body: new URLSearchParams(params.map(([k, v]): [string, string] => [k, v])).toString()
  })
  return { status: response.status, body: await response.text(), signature }
}

/** A status callback's fields, as Twilio posts them for a WhatsApp message. */
export const statusCallbackParams = (input: {
  readonly sid: string
  readonly accountSid: string
  readonly from: string
  readonly to: string
  readonly status: string
  readonly errorCode?: number
  readonly errorMessage?: string
}): ReadonlyArray<readonly [string, string]> => {
  const params: Array<readonly [string, string]> = [
    ["MessageSid", input.sid],
    ["SmsSid", input.sid],
    ["MessageStatus", input.status],
    ["SmsStatus", input.status],
    ["AccountSid", input.accountSid],
    ["From", input.from],
    ["To", input.to],
    ["ApiVersion", "2010-04-01"],
    ["ChannelPrefix", "whatsapp"],
    ["ChannelToAddress", input.to.replace(/^whatsapp:/, "")]
  ]
  if (input.errorCode !== undefined) params.push(["ErrorCode", String(input.errorCode)])
  if (input.errorMessage !== undefined) params.push(["ErrorMessage", input.errorMessage])
  return params
}

/** What an inbound WhatsApp message's post says (`sid` default: a new one; `mediaUrl`: one file, `MediaUrl0`). */
export interface InboundFields {
  readonly accountSid: string
  readonly from: string
  readonly to: string
  readonly body?: string
  readonly sid?: string
  readonly profileName?: string
  readonly mediaUrl?: string
  readonly mediaContentType?: string
  readonly replyTo?: string
}

/** An inbound WhatsApp message's fields, as Twilio posts them. */
export const inboundParams = (input: InboundFields): ReadonlyArray<readonly [string, string]> => {
  const sid = input.sid ?? makeSid("SM")
  const params: Array<readonly [string, string]> = [
    ["SmsMessageSid", sid],
    ["MessageSid", sid],
    ["SmsSid", sid],
    ["AccountSid", input.accountSid],
    ["From", input.from],
    ["To", input.to],
    ["Body", input.body ?? ""],
    ["NumMedia", input.mediaUrl === undefined ? "0" : "1"],
    ["NumSegments", "1"],
    ["SmsStatus", "received"],
    ["ApiVersion", "2010-04-01"],
    ["WaId", input.from.replace(/^whatsapp:\+/, "")],
    ["ProfileName", input.profileName ?? "Ada"],
    ["MessageType", input.mediaUrl === undefined ? "text" : "image"]
  ]
  if (input.mediaUrl !== undefined) {
    params.push(["MediaUrl0", input.mediaUrl], ["MediaContentType0", input.mediaContentType ?? "image/jpeg"])
  }
  if (input.replyTo !== undefined) params.push(["OriginalRepliedMessageSid", input.replyTo])
  return params
}
