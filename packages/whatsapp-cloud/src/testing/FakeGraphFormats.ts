/**
 * Meta's formats as the fake Cloud API speaks them: Graph error envelopes and their HTTP statuses, wamids, the JSON
 * escaping of webhooks, and their signature.
 */
import { createHmac, randomBytes } from "node:crypto"

/** HTTP status and title Meta answers for the codes tests script most (Meta's error-code table). */
const knownErrors: Readonly<Record<number, readonly [number, string]>> = {
  0: [401, "AuthException"],
  1: [400, "API Unknown"],
  2: [503, "API Service"],
  3: [500, "API Method"],
  4: [400, "Application request limit reached"],
  10: [403, "Permission Denied"],
  100: [400, "Invalid parameter"],
  190: [401, "Access token has expired"],
  200: [403, "Permission error"],
  368: [403, "Temporarily blocked for policies violations"],
  80007: [400, "Rate limit issues"],
  130429: [400, "Rate limit hit"],
  130472: [400, "User's number is part of an experiment"],
  131000: [500, "Something went wrong"],
  131005: [403, "Access denied"],
  131008: [400, "Required parameter is missing"],
  131009: [400, "Parameter value is not valid"],
  131016: [500, "Service unavailable"],
  131021: [400, "Recipient cannot be sender"],
  131026: [400, "Message undeliverable"],
  131030: [400, "Recipient phone number not in allowed list"],
  131031: [403, "Account has been locked"],
  131047: [400, "Re-engagement message"],
  131048: [400, "Spam rate limit hit"],
  131049: [400, "Meta chose not to deliver"],
  131051: [400, "Unsupported message type"],
  131056: [400, "(Business Account, Consumer Account) pair rate limit hit"],
  131057: [500, "Account in maintenance mode"],
  132000: [400, "Template Param Count Mismatch"],
  132001: [404, "Template does not exist"],
  132005: [400, "Template Hydrated Text Too Long"],
  132007: [400, "Template Format Character Policy Violated"],
  132012: [400, "Template Parameter Format Mismatch"],
  132015: [400, "Template is Paused"],
  132016: [400, "Template is Disabled"],
  132018: [400, "Template parameter text invalid"],
  133004: [503, "Server Temporarily Unavailable"],
  133010: [400, "Phone number Not Registered"]
}

/** Meta's Graph error envelope for `code`. */
export const graphErrorBody = (
  code: number,
  options: { readonly message?: string; readonly details?: string } = {}
) => {
  const title = options.message ?? knownErrors[code]?.[1] ?? "Fake Graph error"
  return {
    error: {
      message: `(#${code}) ${title}`,
      type: "OAuthException",
      code,
      error_data: { messaging_product: "whatsapp", details: options.details ?? title },
      fbtrace_id: `AFake${randomBytes(9).toString("base64url")}`
    }
  }
}

export const graphErrorStatus = (code: number): number => knownErrors[code]?.[0] ?? 400

/** A wamid shaped like Meta's: `wamid.` then base64 of the recipient and a random id. */
export const makeWamid = (to: string): string => {
  const digits = to.replace(/\D+/g, "")
  const id = randomBytes(10).toString("hex").toUpperCase()
  return `wamid.${Buffer.from(`\x0b${digits}\x15\x02\x00\x11\x18\x14${id}\x00`, "latin1").toString("base64")}`
}

/** JSON as Meta sends it: non-ASCII as lower-case `\uXXXX` and `/` as `\/` (so re-serialising breaks signatures). */
export const metaJson = (value: unknown): string =>
  JSON.stringify(value)
    .replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)
    .replace(/\//g, "\\/")

/** The `X-Hub-Signature-256` of a webhook body. */
export const signatureOf = (rawBody: string, appSecret: string) =>
  `sha256=${createHmac("sha256", appSecret).update(rawBody, "utf8").digest("hex")}`
