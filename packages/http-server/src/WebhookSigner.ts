/**
 * Standard Webhooks 1.0 signatures: `v1,` + base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}` with the
 * secret's bytes (the base64 after `whsec_`). Every attempt is signed afresh with its own timestamp, so a retry
 * days later is not refused by the receiver's tolerance window; during a rotation both secrets sign, space-separated.
 */
import { createHmac } from "node:crypto"
import { Redacted } from "effect"

const prefix = "whsec_"

const keyOf = (secret: Redacted.Redacted<string>): Buffer => {
  const text = Redacted.value(secret)
  return Buffer.from(text.startsWith(prefix) ? text.slice(prefix.length) : text, "base64")
}

/** One signature, `v1,<base64>`. */
export const sign = (secret: Redacted.Redacted<string>, id: string, timestampSeconds: number, body: string): string =>
  `v1,${createHmac("sha256", keyOf(secret)).update(`${id}.${timestampSeconds}.${body}`).digest("base64")}`

/** The three headers of one attempt. */
export const headers = (
  secrets: ReadonlyArray<Redacted.Redacted<string>>,
  id: string,
  timestampSeconds: number,
  body: string
): Record<"webhook-id" | "webhook-timestamp" | "webhook-signature", string> => ({
  "webhook-id": id,
  "webhook-timestamp": String(timestampSeconds),
  "webhook-signature": secrets.map((secret) => sign(secret, id, timestampSeconds, body)).join(" ")
})
