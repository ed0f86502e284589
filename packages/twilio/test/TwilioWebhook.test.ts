/**
 * `X-Twilio-Signature` and the decoder of Twilio's form-encoded webhooks.
 */
import { describe, expect, it } from "@effect/vitest"
import { DateTime, Either, FastCheck as fc, Option } from "effect"
import * as TwilioWebhook from "../src/TwilioWebhook.js"

type Params = ReadonlyArray<readonly [string, string]>

const receivedAt = DateTime.unsafeMake("2026-11-27T12:00:00.000Z")

describe("verifySignature", () => {
  // Twilio's published example: auth token 12345, this URL and these POST fields sign to this value.
  const url = "https://mycompany.com/myapp.php?foo=1&bar=2"
  const params: Params = [
    ["CallSid", "CA1234567890ABCDE"],
    ["Caller", "+14158675310"],
    ["Digits", "1234"],
    ["From", "+14158675310"],
    ["To", "+18005551212"]
  ]
  const signature = "GvWf1cFY/Q7PnoempGyD5oXAezc="

  it("accepts Twilio's test vector, whatever the order the fields arrived in", () => {
    expect(TwilioWebhook.sign(url, params, "12345")).toBe(signature)
    expect(TwilioWebhook.verifySignature({ url, params, signature, authToken: "12345" })).toBe(true)
    const shuffled = [params[3], params[0], params[4], params[2], params[1]].filter((p) => p !== undefined)
    expect(TwilioWebhook.verifySignature({ url, params: shuffled, signature, authToken: "12345" })).toBe(true)
  })

  it("refuses another token, URL, field value, missing or malformed signature", () => {
    expect(TwilioWebhook.verifySignature({ url, params, signature, authToken: "54321" })).toBe(false)
    // The URL the server saw behind a TLS-terminating proxy is not the one Twilio signed.
    expect(
      TwilioWebhook.verifySignature({
        url: "http://10.0.0.7:8080/myapp.php?foo=1&bar=2",
        params,
        signature,
        authToken: "12345"
      })
    ).toBe(false)
    expect(
      TwilioWebhook.verifySignature({
        url,
        params: [...params.slice(0, 4), ["To", "+18005551213"]],
        signature,
        authToken: "12345"
      })
    ).toBe(false)
    for (const bad of [undefined, null, "", "not-base64!", `${signature}x`, "AAAA"]) {
      expect(TwilioWebhook.verifySignature({ url, params, signature: bad, authToken: "12345" })).toBe(false)
    }
  })

  it("accepts the URL with or without the scheme's default port (Twilio signs either)", () => {
    const withPort = "https://mycompany.com:443/myapp.php?foo=1&bar=2"
    const signed = TwilioWebhook.sign(withPort, params, "12345")
    expect(TwilioWebhook.verifySignature({ url, params, signature: signed, authToken: "12345" })).toBe(true)
    expect(TwilioWebhook.verifySignature({ url: withPort, params, signature, authToken: "12345" })).toBe(true)
    expect(TwilioWebhook.urlVariants("https://a.example:8443/x")).toEqual(["https://a.example:8443/x"])
  })

  it("rebuilds the signed URL from the configured public base, not from what the server saw", () => {
    expect(TwilioWebhook.publicUrl("https://parley.example.com/", "/webhooks/twilio?n=1")).toBe(
      "https://parley.example.com/webhooks/twilio?n=1"
    )
    expect(TwilioWebhook.publicUrl("https://example.com/parley", "webhooks/twilio")).toBe(
      "https://example.com/parley/webhooks/twilio"
    )
    const signed = TwilioWebhook.sign("https://mycompany.com/myapp.php?foo=1&bar=2", params, "12345")
    expect(signed).toBe(signature)
    expect(
      TwilioWebhook.verifySignature({
        url: TwilioWebhook.publicUrl("https://mycompany.com", "/myapp.php?foo=1&bar=2"),
        params,
        signature,
        authToken: "12345"
      })
    ).toBe(true)
  })

  const field = fc.tuple(fc.string({ minLength: 1, maxLength: 12 }), fc.string({ maxLength: 20 }))

  it("verifies what it signs, and nothing once one field changes (property)", () => {
    fc.assert(
      fc.property(
        fc.array(field, { maxLength: 8 }),
        fc.string({ minLength: 1, maxLength: 16 }),
        fc.nat(),
        (params, token, pick) => {
          const url = "https://parley.example/webhooks/twilio?number=1"
          const signature = TwilioWebhook.sign(url, params, token)
          expect(TwilioWebhook.verifySignature({ url, params, signature, authToken: token })).toBe(true)
          if (params.length > 0) {
            const index = pick % params.length
            const changed = params.map(([k, v], i): readonly [string, string] => (i === index ? [k, `${v}!`] : [k, v]))
            expect(TwilioWebhook.verifySignature({ url, params: changed, signature, authToken: token })).toBe(false)
          }
        }
      )
    )
  })
})

const inbound = (extra: Params = []): Params => [
  ["SmsMessageSid", "SM11111111111111111111111111111111"],
  ["MessageSid", "SM11111111111111111111111111111111"],
  ["AccountSid", "AC00000000000000000000000000000001"],
  ["From", "whatsapp:+15550001111"],
  ["To", "whatsapp:+15550002222"],
  ["NumMedia", "0"],
  ["SmsStatus", "received"],
  ["WaId", "15550001111"],
  ["ProfileName", "Ada"],
  ["ApiVersion", "2010-04-01"],
  ...extra
]

const status = (value: string, extra: Params = []): Params => [
  ["MessageSid", "SM22222222222222222222222222222222"],
  ["SmsSid", "SM22222222222222222222222222222222"],
  ["MessageStatus", value],
  ["SmsStatus", value],
  ["AccountSid", "AC00000000000000000000000000000001"],
  ["From", "whatsapp:+15550002222"],
  ["To", "whatsapp:+15550001111"],
  ["ChannelToAddress", "+15550001111"],
  ["UnannouncedField", "kept out of the way"],
  ...extra
]

const decoded = (params: Params) => {
  const result = TwilioWebhook.decode(params, receivedAt)
  if (Either.isLeft(result)) throw new Error(result.left.message)
  return result.right
}

describe("decode: inbound messages", () => {
  it("routes by To, dates by the receipt time, and keeps sender, name and text", () => {
    const updates = decoded(inbound([["Body", "hello"]]))
    expect(updates.providerPhoneNumberId).toBe("+15550002222")
    expect(updates.wabaId).toBeNull()
    expect(updates.statuses).toEqual([])
    const [message] = updates.inbound
    expect(message?.providerMessageId).toBe("SM11111111111111111111111111111111")
    expect(message?.customer.phone).toEqual(Option.some("+15550001111"))
    expect(message?.customerName).toEqual(Option.some("Ada"))
    expect(message?.timestamp).toEqual(receivedAt)
    expect(message?.messageType).toBe("text")
    expect(message?.text).toBe("hello")
    expect(message?.replyToProviderMessageId).toBeNull()
  })

  it("keeps media as references (URL, type, media sid) with the caption", () => {
    const url =
      "https://api.twilio.com/2010-04-01/Accounts/AC00000000000000000000000000000001/Messages/MM00112233445566778899aabbccddeeff/Media/ME0123456789abcdef0123456789abcdef"
    const updates = decoded(
      inbound([
        ["Body", "look"],
        ["NumMedia", "1"],
        ["MediaUrl0", url],
        ["MediaContentType0", "image/jpeg"]
      ]).filter(([k, v]) => !(k === "NumMedia" && v === "0"))
    )
    const [message] = updates.inbound
    expect(message?.messageType).toBe("image")
    expect(message?.text).toBe("look")
    expect(message?.media?.url).toBe(url)
    expect(message?.media?.mimeType).toBe("image/jpeg")
    expect(message?.media?.providerMediaId).toBe(
      "MM00112233445566778899aabbccddeeff/ME0123456789abcdef0123456789abcdef"
    )
  })

  it("keeps no media id when the MediaUrl does not carry a message sid and a media sid of Twilio's shape", () => {
    for (const url of [
      "https://api.twilio.com/2010-04-01/Accounts/AC00000000000000000000000000000001/Messages/SM1/Media/ME0123456789abcdef0123456789abcdef",
      "https://api.twilio.com/2010-04-01/Accounts/AC00000000000000000000000000000001/Media/ME0123456789abcdef0123456789abcdef",
      "https://example.com/photo.jpg"
    ]) {
      const [message] = decoded(
        inbound([
          ["NumMedia", "1"],
          ["MediaUrl0", url],
          ["MediaContentType0", "image/jpeg"]
        ]).filter(([k, v]) => !(k === "NumMedia" && v === "0"))
      ).inbound
      expect(message?.media?.url).toBe(url)
      expect(message?.media?.providerMediaId).toBeNull()
    }
  })

  it("reads locations, button replies, replies to a message and forwarding flags", () => {
    const location = decoded(
      inbound([
        ["Latitude", "52.52"],
        ["Longitude", "13.405"],
        ["Label", "Office"]
      ])
    ).inbound[0]
    expect(location?.messageType).toBe("location")
    expect(location?.content).toEqual({ location: { latitude: 52.52, longitude: 13.405, name: "Office" } })
    const button = decoded(
      inbound([
        ["Body", "Yes"],
        ["ButtonText", "Yes"],
        ["ButtonPayload", "confirm-1"],
        ["OriginalRepliedMessageSid", "SM33333333333333333333333333333333"],
        ["Forwarded", "true"]
      ])
    ).inbound[0]
    expect(button?.messageType).toBe("button")
    expect(button?.text).toBe("Yes")
    expect(button?.content).toEqual({ button: { payload: "confirm-1", text: "Yes" }, forwarded: true })
    expect(button?.replyToProviderMessageId).toBe("SM33333333333333333333333333333333")
  })

  it("keeps a message with nothing Parley reads as unsupported, and skips one without a sender", () => {
    expect(decoded(inbound()).inbound[0]?.messageType).toBe("unsupported")
    const noSender = decoded(inbound().filter(([k]) => k !== "From" && k !== "WaId"))
    expect(noSender.inbound).toEqual([])
    expect(noSender.skipped.map((s) => s.kind)).toEqual(["message"])
  })

  it("refuses a webhook that names no business number", () => {
    const result = TwilioWebhook.decode(
      inbound().filter(([k]) => k !== "To"),
      receivedAt
    )
    expect(Either.isLeft(result) && result.left._tag).toBe("TwilioWebhookInvalid")
    expect(
      Either.isLeft(
        TwilioWebhook.decode(
          status("sent").filter(([k]) => k !== "From"),
          receivedAt
        )
      )
    ).toBe(true)
  })
})

describe("decode: status callbacks", () => {
  it("maps Twilio's statuses onto Parley's, routed by From and found by MessageSid", () => {
    const expected: ReadonlyArray<readonly [string, string]> = [
      ["sent", "sent"],
      ["delivered", "delivered"],
      ["read", "read"],
      ["failed", "failed"],
      ["undelivered", "failed"]
    ]
    for (const [twilio, parley] of expected) {
      const updates = decoded(status(twilio))
      expect(updates.providerPhoneNumberId).toBe("+15550002222")
      expect(updates.statuses.map((s) => [s.providerMessageId, s.status])).toEqual([
        ["SM22222222222222222222222222222222", parley]
      ])
      expect(updates.statuses[0]?.timestamp).toEqual(receivedAt)
      expect(updates.statuses[0]?.messageId).toEqual(Option.none())
    }
  })

  it("carries ErrorCode and ErrorMessage on failures", () => {
    const [update] = decoded(
      status("undelivered", [
        ["ErrorCode", "63016"],
        ["ErrorMessage", "outside the window"]
      ])
    ).statuses
    expect(update?.failure.pipe(Option.map((f) => [f.code, f.title]))).toEqual(
      Option.some([63016, "outside the window"])
    )
    const delivered = decoded(status("delivered")).statuses[0]
    expect(delivered !== undefined && Option.isNone(delivered.failure)).toBe(true)
  })

  it("skips the statuses that are no change for Parley, and unknown ones, with a reason", () => {
    for (const value of ["queued", "accepted", "sending", "scheduled", "canceled", "partially_delivered"]) {
      const updates = decoded(status(value))
      expect(updates.statuses).toEqual([])
      expect(updates.skipped.map((s) => s.kind)).toEqual(["status"])
    }
    expect(decoded(status("queued")).skipped[0]?.reason).toBe("queued is not a change for Parley")
  })
})

describe("decode is total", () => {
  const names = [
    "MessageSid",
    "SmsSid",
    "MessageStatus",
    "SmsStatus",
    "From",
    "To",
    "Body",
    "NumMedia",
    "MediaUrl0",
    "MediaContentType0",
    "Latitude",
    "Longitude",
    "ButtonPayload",
    "ErrorCode",
    "WaId"
  ]
  const value = fc.oneof(
    fc.constantFrom("whatsapp:+15550001111", "whatsapp:+15550002222", "whatsapp:1555", "+15550001111", ""),
    fc.constantFrom("received", "sent", "delivered", "read", "failed", "undelivered", "queued", "bogus"),
    fc.constantFrom("0", "1", "3", "-1", "NaN", "1e9", "63016"),
    fc.string({ maxLength: 30 })
  )
  const params = fc.array(fc.tuple(fc.constantFrom(...names), value), { maxLength: 14 })

  it("never throws, and every decoded item or skip is routed to the number the request names (property)", () => {
    fc.assert(
      fc.property(params, (fields) => {
        const result = TwilioWebhook.decode(fields, receivedAt)
        if (Either.isLeft(result)) return
        const updates = result.right
        expect(updates.providerPhoneNumberId).toMatch(/^\+[1-9]\d{7,14}$/)
        expect(updates.inbound.length + updates.statuses.length + updates.skipped.length).toBe(1)
        for (const message of updates.inbound) expect(message.timestamp).toEqual(receivedAt)
        for (const status of updates.statuses) expect(["sent", "delivered", "read", "failed"]).toContain(status.status)
      })
    )
  })
})
