/**
 * The fake Twilio API's Messages resource (`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`): the error code
 * Twilio refuses a send with, and the Message resource it answers for one it takes.
 */
import type { AcceptedSend } from "./FakeTwilioModel.js"

const e164Address = /^whatsapp:\+[1-9]\d{7,14}$/

/** `ContentVariables` as the fake checks it: a JSON object of strings (Twilio answers 21656 otherwise). */
const parseVariables = (raw: string | undefined): Record<string, string> | null | "invalid" => {
  if (raw === undefined) return null
  try {
    const parsed: unknown = JSON.parse(raw)
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return "invalid"
    const variables: Record<string, string> = {}
    for (const [k, v] of Object.entries(parsed)) {
      if (typeof v !== "string") return "invalid"
      variables[k] = v
    }
    return variables
  } catch {
    return "invalid"
  }
}

/** What a send Twilio takes carries, from its form fields. */
export type CheckedSend = Omit<AcceptedSend, "sid" | "accountSid">

/** The send in `form`, or the code of the error Twilio refuses it with. */
export const checkSend = (form: ReadonlyArray<readonly [string, string]>): CheckedSend | number => {
  const field = (name: string) => form.find(([k]) => k === name)?.[1]
  const to = field("To")
  const from = field("From")
  const body = field("Body") ?? null
  const contentSid = field("ContentSid") ?? null
  const rawVariables = field("ContentVariables")
  const parsed = parseVariables(rawVariables)
  const refusal =
    to === undefined || !e164Address.test(to)
      ? 21211
      : from === undefined || !e164Address.test(from)
        ? 21606
        : rawVariables !== undefined && contentSid === null
          ? 21654
          : body === null && contentSid === null && field("MediaUrl") === undefined
            ? 21619
            : parsed === "invalid"
              ? 21656
              : null
  if (refusal !== null || to === undefined || from === undefined || parsed === "invalid") return refusal ?? 21211
  return { from, to, body, contentSid, contentVariables: parsed, statusCallback: field("StatusCallback") ?? null }
}

/** The Message resource Twilio answers to an accepted send: `queued`. */
export const messageResource = (send: AcceptedSend) => ({
  sid: send.sid,
  account_sid: send.accountSid,
  messaging_service_sid: null,
  from: send.from,
  to: send.to,
  body: send.body ?? "",
  status: "queued",
  num_media: "0",
  num_segments: "1",
  direction: "outbound-api",
  error_code: null,
  error_message: null,
  price: null,
  api_version: "2010-04-01",
  date_created: new Date().toUTCString().replace("GMT", "+0000"),
  uri: `/2010-04-01/Accounts/${send.accountSid}/Messages/${send.sid}.json`
})
