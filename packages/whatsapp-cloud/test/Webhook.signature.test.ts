/**
 * Webhooks: the GET handshake, and the signature over the raw bytes of a delivery.
 */
import { assert, describe, it } from "@effect/vitest"
import { Either, FastCheck, Redacted } from "effect"
import { metaJson } from "../src/testing/FakeCloudApi.js"
import * as Webhook from "../src/Webhook.js"
import * as Fixtures from "./support/fixtures.js"
import { secret } from "./support/webhooks.js"

describe("Webhook.verifyHandshake", () => {
  const fixture = Fixtures.signatureFixture().verification
  const token = Redacted.make(fixture.configuredVerifyToken)

  it("answers the fixture's challenge", () => {
    const result = Webhook.verifyHandshake(fixture.request.query, token)
    assert.deepStrictEqual(result, Either.right(fixture.expectedResponse.body))
    assert.deepStrictEqual(
      Webhook.verifyHandshake(new URLSearchParams(fixture.request.query), token),
      Either.right("1158201444")
    )
  })

  it("refuses a wrong mode, a wrong or missing token and a missing challenge", () => {
    const query = fixture.request.query
    const reason = (q: Record<string, string>) =>
      Either.match(Webhook.verifyHandshake(q, token), { onLeft: (e) => e.reason, onRight: () => "accepted" })
    assert.strictEqual(reason({ ...query, "hub.mode": "unsubscribe" }), "mode")
    assert.strictEqual(reason({ ...query, "hub.verify_token": "wrong" }), "verify_token")
    assert.strictEqual(reason({ "hub.mode": "subscribe", "hub.challenge": "1" }), "verify_token")
    assert.strictEqual(
      reason({ "hub.mode": "subscribe", "hub.verify_token": fixture.configuredVerifyToken }),
      "challenge"
    )
    assert.strictEqual(reason({ ...query, "hub.challenge": "" }), "challenge")
  })
})

describe("Webhook.verifySignature", () => {
  const fixture = Fixtures.signatureFixture().signature
  const fixtureSecret = Redacted.make(fixture.appSecret)
  const header = fixture.header["X-Hub-Signature-256"]
  const reason = (body: string | Uint8Array, value: string | ReadonlyArray<string> | null | undefined) =>
    Either.match(Webhook.verifySignature(body, value, fixtureSecret), {
      onLeft: (e) => e.reason,
      onRight: () => "valid"
    })

  it("accepts the fixture's signature over the raw body, as a string and as bytes", () => {
    assert.strictEqual(reason(fixture.rawBody, header), "valid")
    assert.strictEqual(reason(Buffer.from(fixture.rawBody, "utf8"), header), "valid")
    assert.strictEqual(reason(fixture.rawBody, [header]), "valid")
    assert.strictEqual(Webhook.sign(fixture.rawBody, fixture.appSecret), header)
  })

  it("rejects a tampered body and a re-serialised body", () => {
    assert.strictEqual(reason(fixture.rawBody.replace("A-1001", "A-1002"), header), "mismatch")
    assert.strictEqual(reason(`${fixture.rawBody} `, header), "mismatch")
    // Parsing and re-serialising loses Meta's \uXXXX escapes: the signature no longer matches.
    assert.strictEqual(reason(JSON.stringify(JSON.parse(fixture.rawBody)), header), "mismatch")
  })

  it("rejects a missing header", () => {
    assert.strictEqual(reason(fixture.rawBody, undefined), "missing")
    assert.strictEqual(reason(fixture.rawBody, null), "missing")
    assert.strictEqual(reason(fixture.rawBody, ""), "missing")
    assert.strictEqual(reason(fixture.rawBody, []), "missing")
  })

  it("rejects a wrong prefix, a wrong length, non-hex digits and repeated headers", () => {
    const hex = header.slice("sha256=".length)
    assert.strictEqual(reason(fixture.rawBody, `sha1=${hex}`), "malformed")
    assert.strictEqual(reason(fixture.rawBody, hex), "malformed")
    assert.strictEqual(reason(fixture.rawBody, `sha256:${hex}`), "malformed")
    assert.strictEqual(reason(fixture.rawBody, `sha256=${hex.slice(1)}`), "malformed")
    assert.strictEqual(reason(fixture.rawBody, `sha256=${hex}0`), "malformed")
    assert.strictEqual(reason(fixture.rawBody, `sha256=${hex.slice(0, 32)}`), "malformed")
    assert.strictEqual(reason(fixture.rawBody, `sha256=${hex.slice(0, 63)}g`), "malformed")
    assert.strictEqual(reason(fixture.rawBody, `sha256=${"z".repeat(64)}`), "malformed")
    assert.strictEqual(reason(fixture.rawBody, [header, header]), "malformed")
  })

  it("verifies bodies with emoji, accents and escaped slashes on their raw bytes", () => {
    const payload = { text: "Café crème 📦 — voilà, https://example.com/a/b", name: "Zoë Ñandú" }
    const escaped = metaJson(payload)
    assert.include(escaped, "\\u00e9")
    assert.include(escaped, "\\ud83d\\udce6")
    assert.include(escaped, "https:\\/\\/example.com\\/a\\/b")
    const signature = Webhook.sign(escaped, secret)
    assert.isTrue(Either.isRight(Webhook.verifySignature(escaped, signature, secret)))
    assert.isTrue(Either.isRight(Webhook.verifySignature(Buffer.from(escaped, "utf8"), signature, secret)))
    assert.isTrue(Either.isLeft(Webhook.verifySignature(JSON.stringify(payload), signature, secret)))
    // Unescaped UTF-8 bytes sign and verify as bytes, too.
    const utf8 = Buffer.from(JSON.stringify(payload), "utf8")
    assert.isTrue(Either.isRight(Webhook.verifySignature(utf8, Webhook.sign(utf8, secret), secret)))
  })

  it("accepts any of several secrets during a rotation", () => {
    const secrets = [Redacted.make("old-secret"), fixtureSecret]
    assert.isTrue(Either.isRight(Webhook.verifySignature(fixture.rawBody, header, secrets)))
    assert.isTrue(Either.isLeft(Webhook.verifySignature(fixture.rawBody, header, [Redacted.make("other")])))
  })

  it.prop(
    "a signature verifies its body and no body with one byte changed",
    {
      body: FastCheck.uint8Array({ minLength: 1, maxLength: 300 }),
      index: FastCheck.nat(),
      flip: FastCheck.integer({ min: 1, max: 255 })
    },
    ({ body, index, flip }) => {
      const signature = Webhook.sign(body, secret)
      assert.isTrue(Either.isRight(Webhook.verifySignature(body, signature, secret)))
      const tampered = Uint8Array.from(body)
      const at = index % tampered.length
      tampered[at] = (tampered[at] ?? 0) ^ flip
      assert.isTrue(Either.isLeft(Webhook.verifySignature(tampered, signature, secret)))
    }
  )

  it.prop("never throws on arbitrary headers", [FastCheck.string({ maxLength: 80 })], ([value]) => {
    const result = Webhook.verifySignature(fixture.rawBody, value, fixtureSecret)
    assert.isTrue(Either.isLeft(result) || value.trim() === header)
  })
})
